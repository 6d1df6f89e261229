//! Activation links: expiry, the resend form, the API route, and concurrent use.

use learners_tests::{email, on_both_backends, unique, Backend, TestApp, PASSWORD};
use serde_json::json;

on_both_backends!(
    opening_a_link_spends_nothing_and_a_new_link_ends_the_older_ones,
    an_expired_link_is_refused_with_a_resend_form,
    ten_concurrent_uses_of_one_link_activate_once,
    a_new_link_goes_only_to_pending_accounts_once_per_interval,
);

/// Mail scanners open links: an attacker who registered the victim's address must not get a
/// verified account when the victim's scanner opens the mail. And a link sent later ends the
/// links sent before it.
async fn opening_a_link_spends_nothing_and_a_new_link_ends_the_older_ones(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let address = email("scanned-");
    let first = app.register_and_get_link(&address, &unique("scanned")).await;
    for _ in 0..3 {
        let opened = app.client.get(app.local(&first)).send().await.unwrap();
        assert_eq!(opened.status(), 200);
        let html = opened.text().await.unwrap();
        assert!(html.contains(r#"<form method="post" action="/activate/"#), "{html}");
        assert_eq!(opened_referrer(&app, &first).await, "no-referrer");
    }
    assert_eq!(app.user(&address).await.unwrap()["status"], "pending_activation", "opening spent nothing");

    app.clock.advance(app.app.config.resend_interval_seconds + 1);
    let again = app.post_json("/api/v1/activation-emails", &json!({"email": address})).await;
    assert_eq!(again.status(), 202);
    let second = app.mailed_link(&address, "Activate", "/activate/").await;
    assert_ne!(second, first);
    // The older link is refused, whether opened or posted, and activates nothing.
    let old = app.client.get(app.local(&first)).send().await.unwrap();
    assert_eq!(old.status(), 404);
    assert!(old.text().await.unwrap().contains("not valid"));
    let posted = app
        .client
        .post(app.local(&first))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 404);
    let token = first.rsplit('/').next().unwrap();
    let api = app.post_json("/api/v1/activations", &json!({"token": token, "password": PASSWORD})).await;
    assert_eq!(api.status(), 400);
    assert_eq!(app.user(&address).await.unwrap()["status"], "pending_activation");
    // The newest works.
    assert!(app.activate_link(&second).await.text().await.unwrap().contains("Your account is active"));
    assert_eq!(app.user(&address).await.unwrap()["status"], "active");
}

async fn opened_referrer(app: &TestApp, link: &str) -> String {
    let page = app.client.get(app.local(link)).send().await.unwrap();
    page.headers()["referrer-policy"].to_str().unwrap().to_owned()
}

async fn an_expired_link_is_refused_with_a_resend_form(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let address = email("late-");
    let link = app.register_and_get_link(&address, &unique("late")).await;
    app.clock.advance(259_200 + 1);
    let page = app.client.get(app.local(&link)).send().await.unwrap();
    assert_eq!(page.status(), 410);
    let html = page.text().await.unwrap();
    assert!(html.contains("expired"));
    assert!(html.contains(r#"action="/activation-email""#), "the form posts to its own page");
    assert_eq!(app.user(&address).await.unwrap()["status"], "pending_activation");

    // The resend form mails a fresh link, which works.
    let response = app
        .post_raw(
            "/api/v1/activation-emails",
            "application/x-www-form-urlencoded",
            format!("email={}", learners_tests::urlencode(&address)),
        )
        .await;
    assert_eq!(response.status(), 202);
    let mails = app.mail_to(&address).await;
    assert_eq!(mails.len(), 2);
    let fresh = mails[1].link("/activate/").unwrap();
    assert_ne!(fresh, link);
    // The new link ended the old one (it was expired anyway; see below for a live one).
    assert_eq!(app.activate_link(&fresh).await.status(), 200);
    assert_eq!(app.user(&address).await.unwrap()["status"], "active");
}

async fn ten_concurrent_uses_of_one_link_activate_once(backend: Backend) {
    let app = std::sync::Arc::new(TestApp::spawn(backend).await);
    let address = email("ten-");
    let link = app.register_and_get_link(&address, &unique("ten")).await;
    let token = link.rsplit('/').next().unwrap().to_owned();
    let uses: Vec<_> = (0..10)
        .map(|_| {
            let app = app.clone();
            let token = token.clone();
            tokio::spawn(async move {
                let response =
                    app.post_json("/api/v1/activations", &json!({"token": token, "password": PASSWORD})).await;
                response.status().as_u16()
            })
        })
        .collect();
    let mut answers = Vec::new();
    for used in uses {
        answers.push(used.await.unwrap());
    }
    // One use activates; the others find it already used by an active account, or (the
    // password's verifications being counted like sign-ins) were not let verify at once.
    assert!(answers.iter().all(|a| *a == 200 || *a == 401), "{answers:?}");
    assert!(answers.contains(&200), "{answers:?}");
    let user = app.user(&address).await.unwrap();
    assert_eq!(user["status"], "active");
    // A made-up token is refused by the API route.
    let response = app.post_json("/api/v1/activations", &json!({"token": "A".repeat(43), "password": PASSWORD})).await;
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<serde_json::Value>().await.unwrap()["error"]["code"], "invalid_token");
}

async fn a_new_link_goes_only_to_pending_accounts_once_per_interval(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let address = email("again-");
    app.register_and_get_link(&address, &unique("again")).await;
    let request = json!({"email": address.to_uppercase().replace("@EXAMPLE.COM", "@example.com")});
    let ask = || app.post_json("/api/v1/activation-emails", &request);
    // Within the interval (15 minutes by default) of the registration mail: answered the same,
    // nothing sent.
    assert_eq!(app.app.config.resend_interval_seconds, 900);
    let first = ask().await;
    assert_eq!(first.status(), 202);
    let first_body = first.bytes().await.unwrap();
    assert_eq!(app.mail_to(&address).await.len(), 1);
    app.clock.advance(899);
    assert_eq!(ask().await.status(), 202);
    assert_eq!(app.mail_to(&address).await.len(), 1);
    app.clock.advance(2);
    let second = ask().await;
    assert_eq!(second.status(), 202);
    assert_eq!(second.bytes().await.unwrap(), first_body);
    assert_eq!(app.mail_to(&address).await.len(), 2);
    // Unknown addresses get the same answer and no mail.
    let unknown = email("nobody-");
    let response = app.post_json("/api/v1/activation-emails", &json!({"email": unknown})).await;
    assert_eq!(response.status(), 202);
    assert_eq!(response.bytes().await.unwrap(), first_body);
    assert!(app.mail_to(&unknown).await.is_empty());
    // Once active, no more links.
    let link = app.mail_to(&address).await[1].link("/activate/").unwrap();
    app.activate_link(&link).await;
    app.clock.advance(901);
    assert_eq!(ask().await.status(), 202);
    assert_eq!(app.mail_to(&address).await.len(), 2);
}

on_both_backends!(a_wrong_password_activates_nothing_and_counts_like_a_failed_sign_in);

/// The activation page asks for the registration's password: a wrong one activates nothing,
/// counts in the account's lockout counter, and once locked even the right one waits.
async fn a_wrong_password_activates_nothing_and_counts_like_a_failed_sign_in(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("LEARNERS_MAX_FAILED_LOGINS", "3")]).await;
    let address = email("typo-");
    let link = app.register_and_get_link(&address, &unique("typo")).await;
    let opened = app.client.get(app.local(&link)).send().await.unwrap().text().await.unwrap();
    assert!(opened.contains(r#"type="password" name="password" autocomplete="current-password""#), "{opened}");

    let refused = app.activate_link_with(&link, "violet kettle drums 42").await;
    assert_eq!(refused.status(), 401);
    let html = refused.text().await.unwrap();
    assert!(html.contains("not the password of the registration"), "{html}");
    assert!(html.contains("Activate my account"), "the form again");
    assert_eq!(app.user(&address).await.unwrap()["status"], "pending_activation");
    // An empty password is no answer either.
    let empty = app.activate_link_with(&link, "").await;
    assert_eq!(empty.status(), 401);
    // The API route asks for it too.
    let token = link.rsplit('/').next().unwrap();
    let api =
        app.post_json("/api/v1/activations", &json!({"token": token, "password": "violet kettle drums 42"})).await;
    assert_eq!(api.status(), 401);
    assert_eq!(api.json::<serde_json::Value>().await.unwrap()["error"]["code"], "invalid_credentials");
    let missing = app.post_json("/api/v1/activations", &json!({"token": token})).await;
    assert_eq!(missing.status(), 422);
    // Three failures locked sign-in: the right password waits for the lock to end, at sign-in
    // and on the activation page alike.
    assert_eq!(app.activate_link(&link).await.status(), 401);
    assert_eq!(app.user(&address).await.unwrap()["status"], "pending_activation");
    app.clock.advance(app.app.config.lockout.lockout_seconds + 1);
    let page = app.activate_link(&link).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Your account is active"));
    assert_eq!(app.sign_in(&address, PASSWORD).await.status(), 200);
}
