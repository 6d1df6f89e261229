//! "Forgot my password", end to end through the gateway (and its queue worker) on both backends.

use learners_tests::{cookie_pair, email, on_both_backends, unique, Backend, TestApp, PASSWORD, SITE_URL};
use reqwest::Method;
use serde_json::json;
use std::sync::Arc;

const NEW_PASSWORD: &str = "a brand new passphrase 42";

/// Asks for a reset and waits for the worker to have handled it.
async fn ask_reset(app: &TestApp, typed: &str) -> reqwest::Response {
    let response = app.post_json("/api/v1/password-resets", &json!({ "email": typed })).await;
    app.settle().await;
    response
}

/// The reset links mailed to `stored`, oldest first.
async fn reset_links(app: &TestApp, stored: &str) -> Vec<String> {
    app.mail_to(stored)
        .await
        .into_iter()
        .filter(|m| m.subject.starts_with("Reset"))
        .filter_map(|m| m.link("/password-reset/"))
        .collect()
}

fn token_of(link: &str) -> String {
    link.rsplit('/').next().unwrap().to_owned()
}

on_both_backends!(
    forgot_password_then_sign_in_with_the_new_one,
    the_link_works_through_its_last_second_and_once,
    ten_concurrent_confirmations_succeed_once,
    mail_goes_only_to_the_stored_address,
    reset_works_on_a_locked_account_and_clears_the_lock,
    answers_are_byte_identical_whatever_the_account,
);

async fn forgot_password_then_sign_in_with_the_new_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let address = email("forgot-");
    app.active_account(&address, &unique("forgot")).await;
    let old_session = app.session_cookie(&address, PASSWORD).await;

    let response = ask_reset(&app, &address).await;
    assert_eq!(response.status(), 202);
    assert_eq!(response.json::<serde_json::Value>().await.unwrap(), json!({"status": "sent_if_registered"}));
    let links = reset_links(&app, &address).await;
    assert_eq!(links.len(), 1);
    assert!(links[0].starts_with(&format!("{SITE_URL}/password-reset/")));

    // Opening the link only shows the form; it spends nothing.
    for _ in 0..2 {
        let page = app.client.get(app.local(&links[0])).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert_eq!(page.headers()["referrer-policy"], "no-referrer");
        assert_eq!(page.headers()["cache-control"], "no-store");
        assert!(page.text().await.unwrap().contains(r#"name="password""#));
    }
    let confirm = app
        .post_json(&format!("/api/v1/password-resets/{}", token_of(&links[0])), &json!({"password": NEW_PASSWORD}))
        .await;
    assert_eq!(confirm.status(), 204);
    assert!(confirm.headers().get("set-cookie").is_none(), "a reset does not sign in");

    assert_eq!(app.sign_in(&address, PASSWORD).await.status(), 401);
    assert_eq!(app.sign_in(&address, NEW_PASSWORD).await.status(), 200);
    assert_eq!(app.with_cookie(Method::GET, "/api/v1/account", &old_session).send().await.unwrap().status(), 401);
    let notices: Vec<_> =
        app.mail_to(&address).await.into_iter().filter(|m| m.subject.contains("password was changed")).collect();
    assert_eq!(notices.len(), 1);
}

async fn the_link_works_through_its_last_second_and_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let address = email("ttl-");
    app.active_account(&address, &unique("ttl")).await;
    ask_reset(&app, &address).await;
    let token = token_of(&reset_links(&app, &address).await[0]);
    let confirm = |token: String, password: &'static str| {
        let app = &app;
        async move { app.post_json(&format!("/api/v1/password-resets/{token}"), &json!({ "password": password })).await }
    };

    // Tampered and truncated links are refused.
    let mut changed = token.clone().into_bytes();
    changed[10] = if changed[10] == b'A' { b'B' } else { b'A' };
    for bad in [String::from_utf8(changed).unwrap(), token[..42].to_owned(), "x".into()] {
        let response = confirm(bad, NEW_PASSWORD).await;
        assert_eq!(response.status(), 400);
        assert_eq!(response.json::<serde_json::Value>().await.unwrap()["error"]["code"], "invalid_token");
    }
    // A weak password is refused with the reason, and the link stays usable.
    let weak = confirm(token.clone(), "password12345678").await;
    assert_eq!(weak.status(), 422);
    assert!(weak.json::<serde_json::Value>().await.unwrap()["error"]["fields"]["password"]
        .as_str()
        .unwrap()
        .contains("common"));
    // The link lives 3600 s: it works at exactly that age, and once.
    app.clock.advance(3600);
    assert_eq!(confirm(token.clone(), NEW_PASSWORD).await.status(), 204);
    assert_eq!(confirm(token.clone(), "another new passphrase").await.status(), 400);

    // A second link, one second past its lifetime: refused.
    app.clock.advance(3600);
    ask_reset(&app, &address).await;
    let links = reset_links(&app, &address).await;
    assert_eq!(links.len(), 2);
    app.clock.advance(3601);
    assert_eq!(confirm(token_of(&links[1]), "another new passphrase").await.status(), 400);
    assert_eq!(app.sign_in(&address, NEW_PASSWORD).await.status(), 200);
}

async fn ten_concurrent_confirmations_succeed_once(backend: Backend) {
    let app = Arc::new(TestApp::spawn(backend).await);
    let address = email("race-");
    app.active_account(&address, &unique("race")).await;
    ask_reset(&app, &address).await;
    let token = token_of(&reset_links(&app, &address).await[0]);
    let attempts: Vec<_> = (0..10)
        .map(|i| {
            let app = app.clone();
            let token = token.clone();
            tokio::spawn(async move {
                let body = json!({ "password": format!("{NEW_PASSWORD} variant {i}") });
                app.post_json(&format!("/api/v1/password-resets/{token}"), &body).await.status().as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses.iter().filter(|s| **s == 204).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 204 || *s == 400), "{statuses:?}");
}

async fn mail_goes_only_to_the_stored_address(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let local = unique("mike");
    let stored = format!("{local}@example.com");
    app.active_account(&stored, &unique("mike")).await;
    let shouted = format!("{}@example.com", local.to_uppercase());
    let dotless = format!("{}@example.com", local.replacen('i', "ı", 1));
    let fullwidth: String = local
        .chars()
        .map(|c| if c.is_ascii_lowercase() { char::from_u32(c as u32 - 0x61 + 0xFF41).unwrap() } else { c })
        .collect();
    let fullwidth = format!("{fullwidth}@example.com");
    for typed in [&shouted, &dotless, &fullwidth] {
        assert_eq!(ask_reset(&app, typed).await.status(), 202);
    }
    // One link, for the uppercase request, to the stored address; nothing to the typed forms.
    assert_eq!(reset_links(&app, &stored).await.len(), 1);
    for typed in [&shouted, &dotless, &fullwidth] {
        assert!(app.mail_to(typed).await.is_empty(), "{typed}");
    }
    // At most two per hour per account.
    ask_reset(&app, &stored).await;
    ask_reset(&app, &stored).await;
    assert_eq!(reset_links(&app, &stored).await.len(), 2);
    app.clock.advance(3600);
    ask_reset(&app, &stored).await;
    assert_eq!(reset_links(&app, &stored).await.len(), 3);
    // None to an unknown address.
    let unknown = email("nobody-");
    ask_reset(&app, &unknown).await;
    assert!(app.mail_to(&unknown).await.is_empty());
}

async fn reset_works_on_a_locked_account_and_clears_the_lock(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let address = email("locked-");
    app.active_account(&address, &unique("locked")).await;
    for _ in 0..6 {
        app.sign_in(&address, "not the password").await;
    }
    assert!(app.user(&address).await.unwrap()["locked_until"].is_string());
    ask_reset(&app, &address).await;
    let token = token_of(&reset_links(&app, &address).await[0]);
    let confirm = app.post_json(&format!("/api/v1/password-resets/{token}"), &json!({"password": NEW_PASSWORD})).await;
    assert_eq!(confirm.status(), 204);
    let user = app.user(&address).await.unwrap();
    assert!(user["locked_until"].is_null());
    assert_eq!(user["failed_logins"], 0);
    assert_eq!(app.sign_in(&address, NEW_PASSWORD).await.status(), 200);
}

async fn answers_are_byte_identical_whatever_the_account(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (pending, active, locked) = (email("pending-"), email("active-"), email("locked-"));
    assert_eq!(app.register(&pending, &unique("p")).await.status(), 202);
    app.active_account(&active, &unique("a")).await;
    app.active_account(&locked, &unique("l")).await;
    for _ in 0..6 {
        app.sign_in(&locked, "not the password").await;
    }
    let mut answers = Vec::new();
    for address in [email("unknown-"), pending.clone(), active, locked] {
        let response = app.post_json("/api/v1/password-resets", &json!({ "email": address })).await;
        let mut headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .filter(|(name, _)| *name != "date")
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        headers.sort();
        answers.push((response.status(), headers, response.bytes().await.unwrap()));
    }
    for other in &answers[1..] {
        assert_eq!(other, &answers[0]);
    }
    // A pending account's reset also activates it: the learner proved the mailbox.
    app.settle().await;
    let token = token_of(&reset_links(&app, &pending).await[0]);
    let confirm = app.post_json(&format!("/api/v1/password-resets/{token}"), &json!({"password": NEW_PASSWORD})).await;
    assert_eq!(confirm.status(), 204);
    assert_eq!(app.user(&pending).await.unwrap()["status"], "active");
    assert!(cookie_pair(&app.sign_in(&pending, NEW_PASSWORD).await).is_some());
}

#[tokio::test]
async fn links_use_the_site_url_whatever_the_host_headers() {
    let app = TestApp::spawn(Backend::Memory).await;
    let address = email("host-");
    app.active_account(&address, &unique("host")).await;
    let response = app
        .client
        .post(app.url("/api/v1/password-resets"))
        .header("host", "evil.example")
        .header("x-forwarded-host", "evil.example")
        .json(&json!({ "email": address }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    app.settle().await;
    let mails: Vec<_> = app.mail_to(&address).await.into_iter().filter(|m| m.subject.starts_with("Reset")).collect();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].link("/password-reset/").is_some());
    assert!(!mails[0].body.contains("evil.example"));
}

#[tokio::test]
async fn the_html_forms_work_without_javascript() {
    let app = TestApp::spawn(Backend::Memory).await;
    let page = app.get("/password-reset").await.text().await.unwrap();
    assert!(page.contains(r#"action="/password-reset""#), "the form posts to its own page");
    let address = email("html-");
    app.active_account(&address, &unique("html")).await;
    let response = app
        .post_raw(
            "/password-reset",
            "application/x-www-form-urlencoded",
            format!("email={}", learners_tests::urlencode(&address)),
        )
        .await;
    assert_eq!(response.status(), 202);
    assert!(response.text().await.unwrap().contains("Check your inbox"));
    app.settle().await;
    let token = token_of(&reset_links(&app, &address).await[0]);
    let new_password_form = app.get(&format!("/password-reset/{token}")).await.text().await.unwrap();
    assert!(new_password_form.contains(&format!(r#"action="/password-reset/{token}""#)), "{new_password_form}");
    let weak =
        app.post_raw(&format!("/password-reset/{token}"), "application/x-www-form-urlencoded", "password=short").await;
    assert_eq!(weak.status(), 422);
    assert!(weak.text().await.unwrap().contains("at least 15 characters"));
    let done = app
        .post_raw(
            &format!("/password-reset/{token}"),
            "application/x-www-form-urlencoded",
            format!("password={}", learners_tests::urlencode(NEW_PASSWORD)),
        )
        .await;
    assert_eq!(done.status(), 200);
    assert!(done.text().await.unwrap().contains("Your password is changed"));
    let used = app.get(&format!("/password-reset/{token}")).await;
    assert_eq!(used.status(), 400);
}
