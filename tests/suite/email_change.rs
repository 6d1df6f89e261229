//! "Change my email" through the local gateway, on both backends: the request with the password
//! (or a code), the link at the new address, "Confirm my new email", the notice at the old
//! address and "This was not me"; and its abuse: a taken address (same answer, a notice to its
//! owner), wrong passwords (refused and counted), cross-site posts, used, expired and void
//! links, opening a link (spends nothing), and the daily limit.

use learners_tests::{email, on_both_backends, unique, urlencode, Backend, TestApp, PASSWORD, SITE_URL};
use reqwest::Method;
use serde_json::Value;

const FORM: &str = "application/x-www-form-urlencoded";

/// An active account, signed in: its address and the session's `Cookie` value.
async fn learner(app: &TestApp, prefix: &str) -> (String, String) {
    let address = email(prefix);
    app.active_account(&address, &unique(prefix)).await;
    let cookie = app.session_cookie(&address, PASSWORD).await;
    (address, cookie)
}

/// Presses "Change my email" on `/account/email` with these fields, from the site's own page.
async fn ask(app: &TestApp, cookie: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={}", urlencode(v))).collect();
    app.with_cookie(Method::POST, "/account/email", cookie)
        .header("content-type", FORM)
        .body(body.join("&"))
        .send()
        .await
        .unwrap()
}

/// Presses a link's button (a form post from the link's page, as the browser sends it).
async fn press(app: &TestApp, link: &str) -> reqwest::Response {
    app.client.post(app.local(link)).header("origin", SITE_URL).header("content-type", FORM).send().await.unwrap()
}

/// Opens a link as a mail program (or its scanner) does.
async fn open(app: &TestApp, link: &str) -> reqwest::Response {
    app.client.get(app.local(link)).header("accept", "text/html").send().await.unwrap()
}

async fn audit(app: &TestApp, address: &str) -> Vec<Value> {
    let response = app.admin_get(&format!("/admin/v1/audit?email={}", urlencode(address))).await;
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["entries"].as_array().unwrap().clone()
}

/// The visible text of a page, its tags dropped (what the learner reads).
fn words(html: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text
}

on_both_backends!(
    a_learner_moves_to_a_new_address_and_the_old_one_takes_it_back,
    a_taken_address_gets_the_same_answer_and_its_owner_a_notice,
    used_expired_and_void_links_answer_a_page_and_change_nothing,
);

async fn a_learner_moves_to_a_new_address_and_the_old_one_takes_it_back(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (old, cookie) = learner(&app, "mover-").await;
    let user_id = app.user(&old).await.unwrap()["user_id"].as_str().unwrap().to_owned();
    let new = email("moved-");

    // Signed out, the page sends you to sign in; signed in, it shows the form.
    let anonymous = app.get("/account/email").await;
    assert_eq!(anonymous.status(), 303);
    assert_eq!(anonymous.headers()["location"], "/login");
    let form = app.with_cookie(Method::GET, "/account/email", &cookie).send().await.unwrap().text().await.unwrap();
    for label in ["New email", "Current password", "Change my email"] {
        assert!(form.contains(label), "{label}: {form}");
    }

    let asked = ask(&app, &cookie, &[("new_email", &new), ("password", PASSWORD)]).await;
    assert_eq!(asked.status(), 202);
    let page = words(&asked.text().await.unwrap());
    assert!(page.contains(&format!("We sent a link to {new}. Your email stays {old} until you open it.")), "{page}");

    // The link goes to the new address; until it is used, the old address signs in.
    let link = app.mailed_link(&new, "Confirm your new email", "/account/email/confirm/").await;
    assert!(app.mail_to(&old).await.iter().all(|m| m.link("/account/email/").is_none()), "no link at the old address");
    assert_eq!(app.sign_in(&old, PASSWORD).await.status(), 200);
    assert_eq!(app.sign_in(&new, PASSWORD).await.status(), 401);

    // Opening it (a mail scanner) spends nothing, however often.
    for _ in 0..2 {
        let opened = open(&app, &link).await;
        assert_eq!(opened.status(), 200);
        let page = words(&opened.text().await.unwrap());
        assert!(page.contains(&new) && page.contains("Confirm my new email"), "{page}");
        assert_eq!(app.user(&old).await.unwrap()["email"], old.as_str());
    }
    let confirmed = press(&app, &link).await;
    assert_eq!(confirmed.status(), 200);
    assert!(words(&confirmed.text().await.unwrap()).contains(&format!("The email of your account is now {new}.")));
    assert_eq!(app.sign_in(&new, PASSWORD).await.status(), 200, "the new address signs in");
    assert_eq!(app.sign_in(&old, PASSWORD).await.status(), 401, "the old one no longer does");
    assert!(app.user(&old).await.is_none());
    assert_eq!(app.user(&new).await.unwrap()["user_id"], user_id.as_str());
    // The learner's session goes on (nothing says it was not them).
    assert_eq!(app.with_cookie(Method::GET, "/api/v1/account", &cookie).send().await.unwrap().status(), 200);
    // The link worked once.
    assert_eq!(press(&app, &link).await.status(), 400);

    // The old mailbox is told, with "This was not me"; opening it spends nothing.
    let not_me = app.mailed_link(&old, "The email of your", "/account/email/not-me/").await;
    let notice = app.mail_to(&old).await.into_iter().last().unwrap();
    assert!(notice.body.contains(&new) && notice.body.contains("This was not me"), "{}", notice.body);
    let opened = open(&app, &not_me).await;
    assert_eq!(opened.status(), 200);
    assert!(words(&opened.text().await.unwrap()).contains(&old));
    assert_eq!(app.user(&new).await.unwrap()["user_id"], user_id.as_str(), "opening changed nothing");

    // Pressing it brings the old address back and signs the account out everywhere.
    let reverted = press(&app, &not_me).await;
    assert_eq!(reverted.status(), 200);
    assert!(words(&reverted.text().await.unwrap()).contains(&format!("The email of your account is {old} again")));
    assert_eq!(app.with_cookie(Method::GET, "/api/v1/account", &cookie).send().await.unwrap().status(), 401);
    assert_eq!(app.user(&old).await.unwrap()["user_id"], user_id.as_str());
    assert_eq!(app.sign_in(&new, PASSWORD).await.status(), 401);
    let reset = app.mailed_link(&old, "Reset", "/password-reset/").await;
    assert_eq!(app.get(&reset.replace(SITE_URL, "")).await.status(), 200, "a working reset link");
    assert_eq!(press(&app, &not_me).await.status(), 400, "it worked once");

    // Each step is on record, by the learner.
    let entries = audit(&app, &old).await;
    let learner = format!("learner:{user_id}");
    for (action, outcome) in [
        ("request_email_change", "requested"),
        ("change_email", "done"),
        ("revert_email_change", "done, every session ended"),
    ] {
        assert!(
            entries
                .iter()
                .any(|e| e["action"] == action && e["outcome"] == outcome && e["operator"] == learner.as_str()),
            "{action}: {entries:#?}"
        );
    }
}

async fn a_taken_address_gets_the_same_answer_and_its_owner_a_notice(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (asker, cookie) = learner(&app, "asker-").await;
    let (owner, _) = learner(&app, "owner-").await;
    let free = email("free-");

    let to_free = ask(&app, &cookie, &[("new_email", &free), ("password", PASSWORD)]).await;
    let to_taken = ask(&app, &cookie, &[("new_email", &owner), ("password", PASSWORD)]).await;
    assert_eq!((to_free.status().as_u16(), to_taken.status().as_u16()), (202, 202));
    let (free_page, taken_page) = (to_free.text().await.unwrap(), to_taken.text().await.unwrap());
    assert_eq!(free_page.replace(&free, "X"), taken_page.replace(&owner, "X"), "one answer for both");

    // The owner gets a notice and no link; nothing changed.
    let mails = app.mail_to(&owner).await;
    let notice = mails.last().expect("a notice to the owner");
    assert!(notice.subject.starts_with("Someone asked to move a"), "{}", notice.subject);
    assert!(notice.body.contains("Nothing has changed"), "{}", notice.body);
    assert!(mails.iter().all(|m| m.link("/account/email/").is_none()), "no link to a taken address");
    assert_eq!(app.user(&asker).await.unwrap()["email"], asker.as_str());
    assert_eq!(app.sign_in(&owner, PASSWORD).await.status(), 200);
    // The free address got its link.
    app.mailed_link(&free, "Confirm your new email", "/account/email/confirm/").await;
}

async fn used_expired_and_void_links_answer_a_page_and_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (old, cookie) = learner(&app, "links-").await;
    let invalid = |response: reqwest::Response| async move {
        let status = response.status();
        let page = words(&response.text().await.unwrap());
        assert_eq!(status, 400, "{page}");
        assert!(page.contains("This link was used or has expired."), "{page}");
    };

    // Unknown and malformed tokens.
    for token in ["not-a-token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "%00"] {
        for route in ["confirm", "not-me"] {
            let link = format!("{SITE_URL}/account/email/{route}/{token}");
            invalid(open(&app, &link).await).await;
            invalid(press(&app, &link).await).await;
        }
    }

    // Expired: a day and a second later.
    let first = email("first-");
    assert_eq!(ask(&app, &cookie, &[("new_email", &first), ("password", PASSWORD)]).await.status(), 202);
    let expired = app.mailed_link(&first, "Confirm your new email", "/account/email/confirm/").await;
    app.clock.advance(86_401);
    invalid(open(&app, &expired).await).await;
    invalid(press(&app, &expired).await).await;

    // Void: a password reset since (the account's epoch moved).
    let cookie = app.session_cookie(&old, PASSWORD).await;
    let second = email("second-");
    assert_eq!(ask(&app, &cookie, &[("new_email", &second), ("password", PASSWORD)]).await.status(), 202);
    let voided = app.mailed_link(&second, "Confirm your new email", "/account/email/confirm/").await;
    assert_eq!(open(&app, &voided).await.status(), 200);
    app.post_json("/api/v1/password-resets", &serde_json::json!({"email": old})).await;
    let reset = app.mailed_link(&old, "Reset", "/password-reset/").await;
    let token = reset.rsplit('/').next().unwrap();
    let new_password = "violet kettle drums 42";
    let done = app
        .post_json(&format!("/api/v1/password-resets/{token}"), &serde_json::json!({"password": new_password}))
        .await;
    assert_eq!(done.status(), 204);
    invalid(open(&app, &voided).await).await;
    invalid(press(&app, &voided).await).await;
    assert_eq!(app.user(&old).await.unwrap()["email"], old.as_str(), "nothing changed");
    assert!(app.user(&second).await.is_none());
}

on_both_backends!(an_address_taken_meanwhile_changes_nothing);

/// Between the request and the button, someone registers the new address (or, before "This
/// was not me", the old one): a page says so, nothing changes, and the link still works once
/// the address is free again.
async fn an_address_taken_meanwhile_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (old, cookie) = learner(&app, "slow-").await;
    let new = email("contested-");
    assert_eq!(ask(&app, &cookie, &[("new_email", &new), ("password", PASSWORD)]).await.status(), 202);
    let link = app.mailed_link(&new, "Confirm your new email", "/account/email/confirm/").await;
    assert_eq!(app.register(&new, &unique("quick")).await.status(), 202);
    let taken = press(&app, &link).await;
    assert_eq!(taken.status(), 409);
    let page = words(&taken.text().await.unwrap());
    assert!(
        page.contains(&format!("Another account now uses {new}")) && page.contains("Nothing has changed"),
        "{page}"
    );
    assert_eq!(app.user(&old).await.unwrap()["email"], old.as_str());
    assert_ne!(app.user(&new).await.unwrap()["user_id"], app.user(&old).await.unwrap()["user_id"]);

    // The old address, taken once the account moved away: "This was not me" cannot bring it back.
    let free = email("free-again-");
    assert_eq!(ask(&app, &cookie, &[("new_email", &free), ("password", PASSWORD)]).await.status(), 202);
    let link = app.mailed_link(&free, "Confirm your new email", "/account/email/confirm/").await;
    assert_eq!(press(&app, &link).await.status(), 200);
    let not_me = app.mailed_link(&old, "The email of your", "/account/email/not-me/").await;
    assert_eq!(app.register(&old, &unique("squatter")).await.status(), 202);
    let refused = press(&app, &not_me).await;
    assert_eq!(refused.status(), 409);
    assert!(words(&refused.text().await.unwrap()).contains("Nothing has changed. Please contact the site"));
    assert_eq!(app.sign_in(&free, PASSWORD).await.status(), 200, "nothing changed");
    assert_eq!(app.with_cookie(Method::GET, "/api/v1/account", &cookie).send().await.unwrap().status(), 200);
}

on_both_backends!(wrong_passwords_are_refused_and_counted);

async fn wrong_passwords_are_refused_and_counted(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("LEARNERS_MAX_FAILED_LOGINS", "3")]).await;
    let (old, cookie) = learner(&app, "guessed-").await;
    let new = email("thief-");
    for _ in 0..3 {
        let refused = ask(&app, &cookie, &[("new_email", &new), ("password", "a guess of the thief")]).await;
        assert_eq!(refused.status(), 403);
        let page = refused.text().await.unwrap();
        assert!(page.contains(r#"<p class="error" id="password-error">The password is not right.</p>"#), "{page}");
        assert!(page.contains(&format!(r#"value="{new}""#)), "the address typed comes back");
    }
    // Counted on the learner's own confirmation counter: now locked, the right one is refused
    // too; sign-in's counter (which strangers fill) is not touched.
    let locked = ask(&app, &cookie, &[("new_email", &new), ("password", PASSWORD)]).await;
    assert_eq!(locked.status(), 403);
    assert_eq!(app.user(&old).await.unwrap()["failed_logins"], 0);
    assert!(app.mail_to(&new).await.is_empty(), "nothing was mailed");

    // No password at all, the same address, a bad address: the form says which field.
    let (_, other) = learner(&app, "fields-").await;
    for (fields, field) in [
        (vec![("new_email", new.as_str()), ("password", "")], "password"),
        (vec![("new_email", "not an address"), ("password", PASSWORD)], "new_email"),
    ] {
        let refused = ask(&app, &other, &fields).await;
        assert_eq!(refused.status(), 422);
        assert!(refused.text().await.unwrap().contains(&format!(r#"id="{field}-error""#)), "{field}");
    }
}

on_both_backends!(cross_site_posts_change_nothing);

async fn cross_site_posts_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (old, cookie) = learner(&app, "csrf-").await;
    let new = email("csrf-new-");
    let forged = |path: &str| {
        app.client
            .post(app.url(path))
            .header("cookie", &cookie)
            .header("origin", "https://evil.example")
            .header("content-type", FORM)
    };
    let request = forged("/account/email")
        .body(format!("new_email={}&password={}", urlencode(&new), urlencode(PASSWORD)))
        .send()
        .await
        .unwrap();
    assert_eq!(request.status(), 403);
    assert!(app.mail_to(&new).await.is_empty());

    assert_eq!(ask(&app, &cookie, &[("new_email", &new), ("password", PASSWORD)]).await.status(), 202);
    let link = app.mailed_link(&new, "Confirm your new email", "/account/email/confirm/").await;
    let path = app.local(&link).replace(&app.base_url, "");
    assert_eq!(forged(&path).send().await.unwrap().status(), 403);
    assert_eq!(app.user(&old).await.unwrap()["email"], old.as_str(), "nothing changed");
    assert_eq!(press(&app, &link).await.status(), 200, "the link still works from its page");
}

#[tokio::test]
async fn a_second_factor_code_proves_it_too() {
    let app = TestApp::spawn(Backend::Memory).await;
    let (old, cookie) = learner(&app, "coder-").await;
    app.enrol_totp(&old).await;
    let form = app.with_cookie(Method::GET, "/account/email", &cookie).send().await.unwrap().text().await.unwrap();
    assert!(form.contains("Or a code from your app (or a recovery code)"), "{form}");
    let new = email("coded-");
    let wrong = ask(&app, &cookie, &[("new_email", &new), ("password", ""), ("code", "000000")]).await;
    assert_eq!(wrong.status(), 403);
    assert!(wrong.text().await.unwrap().contains(r#"id="code-error""#));
    // Every proof given must be right: a right code does not excuse a wrong password.
    app.clock.advance(30);
    let code = app.totp_code(&old).await;
    let mixed = ask(&app, &cookie, &[("new_email", &new), ("password", "not it at all"), ("code", &code)]).await;
    assert_eq!(mixed.status(), 403);
    app.clock.advance(30);
    let code = app.totp_code(&old).await;
    let right = ask(&app, &cookie, &[("new_email", &new), ("password", ""), ("code", &code)]).await;
    assert_eq!(right.status(), 202);
    app.mailed_link(&new, "Confirm your new email", "/account/email/confirm/").await;
}

#[tokio::test]
async fn at_most_five_requests_a_day() {
    let app = TestApp::spawn(Backend::Memory).await;
    let (address, cookie) = learner(&app, "bomber-").await;
    let victim = email("victim-");
    for _ in 0..5 {
        assert_eq!(ask(&app, &cookie, &[("new_email", &victim), ("password", PASSWORD)]).await.status(), 202);
    }
    let over = ask(&app, &cookie, &[("new_email", &victim), ("password", PASSWORD)]).await;
    assert_eq!(over.status(), 429);
    let page = words(&over.text().await.unwrap());
    assert!(page.contains("You have asked to change your email 5 times today. Please try again tomorrow."), "{page}");
    // And one address gets at most 3 links a day (LEARNERS_MAILS_PER_ADDRESS_PER_DAY), however
    // many accounts ask.
    assert_eq!(app.mail_to(&victim).await.len(), 3, "at most 3 links a day to one address");
    let (_, another) = learner(&app, "bomber-two-").await;
    assert_eq!(ask(&app, &another, &[("new_email", &victim), ("password", PASSWORD)]).await.status(), 202);
    assert_eq!(app.mail_to(&victim).await.len(), 3, "the same answer, no more mail");
    // A day later, the account may ask again.
    app.clock.advance(86_401);
    let cookie = app.session_cookie(&address, PASSWORD).await;
    assert_eq!(ask(&app, &cookie, &[("new_email", &victim), ("password", PASSWORD)]).await.status(), 202);
    assert_eq!(app.mail_to(&victim).await.len(), 4);
}
