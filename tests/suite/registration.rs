//! Registration as a learner meets it, through the local gateway, on both backends.

use learners_tests::{email, on_both_backends, registration, unique, Backend, TestApp, SITE_URL};
use serde_json::json;

on_both_backends!(
    register_then_follow_the_emailed_link_activates,
    an_existing_email_gets_the_same_answer_and_the_owner_a_notice,
    twenty_concurrent_registrations_of_one_email_make_one_account,
    links_use_the_site_url_whatever_the_host_header,
    a_taken_username_is_409,
    a_later_registration_replaces_a_pending_one_and_only_its_password_activates,
    a_re_registration_after_the_owner_leaves_the_attacker_nothing,
    a_replacing_registration_moves_the_username_claim,
);

/// The attacker's and the victim's passwords (the shared `PASSWORD` is neither).
const ATTACKER: &str = "attacker owns this one 31";
const VICTIM: &str = "violet kettle drums 42";

fn registration_with(address: &str, username: &str, password: &str) -> serde_json::Value {
    let mut body = registration(address, username);
    body["password"] = json!(password);
    body
}

async fn register_with(app: &TestApp, address: &str, username: &str, password: &str) -> (u16, bytes::Bytes) {
    let response = app.post_json("/api/v1/registrations", &registration_with(address, username, password)).await;
    let answer = (response.status().as_u16(), response.bytes().await.unwrap());
    app.settle().await;
    answer
}

/// Issue 21: the attacker registers V's address with password A; V registers it with B and
/// activates from V's mail. A signs in to nothing; B does.
async fn a_later_registration_replaces_a_pending_one_and_only_its_password_activates(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let victim = email("victim-");
    let attacker_answer = register_with(&app, &victim, &unique("mallory"), ATTACKER).await;
    let attackers_link = app.mailed_link(&victim, "Activate", "/activate/").await;
    let victim_answer = register_with(&app, &victim, &unique("victim"), VICTIM).await;
    assert_eq!(attacker_answer, victim_answer, "one answer whether the address was new or pending");
    let victims_link = app.mailed_link(&victim, "Activate", "/activate/").await;
    assert_ne!(victims_link, attackers_link);

    // The first link (the attacker's registration) ended with it.
    assert_eq!(app.activate_link_with(&attackers_link, ATTACKER).await.status(), 404);
    assert_eq!(app.activate_link_with(&attackers_link, VICTIM).await.status(), 404);
    // The newest asks for the newest registration's password.
    assert_eq!(app.activate_link_with(&victims_link, ATTACKER).await.status(), 401);
    assert_eq!(app.user(&victim).await.unwrap()["status"], "pending_activation");
    let page = app.activate_link_with(&victims_link, VICTIM).await;
    assert!(page.text().await.unwrap().contains("Your account is active"));

    assert_eq!(app.sign_in(&victim, ATTACKER).await.status(), 401);
    assert_eq!(app.sign_in(&victim, VICTIM).await.status(), 200);
}

/// The other order: V registers first, the attacker registers the address again; V opens the
/// newest mail. A never signs in; V gets the account by "forgot my password" (or registering
/// again).
async fn a_re_registration_after_the_owner_leaves_the_attacker_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let victim = email("first-");
    register_with(&app, &victim, &unique("victim"), VICTIM).await;
    let victims_link = app.mailed_link(&victim, "Activate", "/activate/").await;
    register_with(&app, &victim, &unique("mallory"), ATTACKER).await;
    let newest = app.mailed_link(&victim, "Activate", "/activate/").await;
    assert_ne!(newest, victims_link);

    assert_eq!(app.activate_link_with(&victims_link, VICTIM).await.status(), 404, "V's link ended");
    let refused = app.activate_link_with(&newest, VICTIM).await;
    assert_eq!(refused.status(), 401);
    assert!(refused.text().await.unwrap().contains("latest registration"));
    assert_eq!(app.user(&victim).await.unwrap()["status"], "pending_activation");
    // The attacker has no link: a pending account signs in to nothing.
    assert_ne!(app.sign_in(&victim, ATTACKER).await.status(), 200);

    // V resets the password: that activates the account, with V's new password only.
    assert_eq!(app.post_json("/api/v1/password-resets", &json!({"email": victim})).await.status(), 202);
    let reset = app.mailed_link(&victim, "Reset", "/password-reset/").await;
    let token = reset.rsplit('/').next().unwrap();
    let done = app.post_json(&format!("/api/v1/password-resets/{token}"), &json!({"password": VICTIM})).await;
    assert_eq!(done.status(), 204);
    assert_eq!(app.user(&victim).await.unwrap()["status"], "active");
    assert_eq!(app.sign_in(&victim, ATTACKER).await.status(), 401);
    assert_eq!(app.sign_in(&victim, VICTIM).await.status(), 200);
}

/// The replacing registration's username is claimed and the replaced one's is free again; a
/// username held by another account is refused as ever, the pending account's own included
/// (the answer links no username to an address).
async fn a_replacing_registration_moves_the_username_claim(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let address = email("moves-");
    let (old, new) = (unique("old"), unique("new"));
    register_with(&app, &address, &old, ATTACKER).await;
    assert_eq!(register_with(&app, &address, &old, VICTIM).await.0, 409, "its own username: the usual answer");
    let someone = unique("someone");
    assert_eq!(app.register(&email("someone-"), &someone).await.status(), 202);
    assert_eq!(register_with(&app, &address, &someone, VICTIM).await.0, 409);
    assert_eq!(register_with(&app, &address, &new, VICTIM).await.0, 202);
    let user = app.user(&address).await.unwrap();
    assert_eq!(user["username"], new.as_str());
    assert_eq!(user["status"], "pending_activation");
    // The old username is free again; the new one is taken.
    assert_eq!(app.register(&email("reuse-"), &old).await.status(), 202);
    assert_eq!(app.register(&email("clash-"), &new).await.status(), 409);
}

async fn register_then_follow_the_emailed_link_activates(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let address = email("ada-");
    let response = app.register(&address, &unique("ada")).await;
    assert_eq!(response.status(), 202);
    assert_eq!(response.json::<serde_json::Value>().await.unwrap(), json!({"status": "pending_activation"}));
    assert_eq!(app.user(&address).await.unwrap()["status"], "pending_activation");

    let mails = app.mail_to(&address).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    let link = mails[0].link("/activate/").expect("an activation link");
    // Opening the link (as a mail scanner does) spends nothing; its button activates.
    let opened = app.client.get(app.local(&link)).send().await.unwrap();
    assert_eq!(opened.status(), 200);
    assert!(opened.text().await.unwrap().contains("Activate my account"));
    assert_eq!(app.user(&address).await.unwrap()["status"], "pending_activation");
    let page = app.activate_link(&link).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Your account is active"));
    let user = app.user(&address).await.unwrap();
    assert_eq!(user["status"], "active");
    assert!(user["activated_at"].is_string());

    // The same link again: nothing new happens, and it says so.
    let again = app.client.get(app.local(&link)).send().await.unwrap();
    assert_eq!(again.status(), 200);
    assert!(again.text().await.unwrap().contains("already active"));
}

/// Registering an address again answers as the first time did: a pending address gets the new
/// registration in place of the old (and a link for it), an active one a notice to its owner.
async fn an_existing_email_gets_the_same_answer_and_the_owner_a_notice(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let address = email("owner-");
    let first = app.register(&address, &unique("owner")).await;
    let (first_status, first_body) = (first.status(), first.bytes().await.unwrap());
    app.settle().await;
    // Someone else, with the address in another case and another username.
    let second = app.register(&address.to_uppercase().replace("@EXAMPLE.COM", "@example.com"), &unique("other")).await;
    let (second_status, second_body) = (second.status(), second.bytes().await.unwrap());
    assert_eq!(first_status, second_status);
    assert_eq!(first_body, second_body);

    let mails = app.mail_to(&address).await;
    assert_eq!(mails.len(), 2, "{mails:?}");
    assert!(mails.iter().all(|m| m.subject.starts_with("Activate")), "a pending address: a link for each");
    assert!(!mails.iter().any(|m| m.subject.contains("tried to register")));

    // Once active, the owner gets a notice pointing at signing in or resetting, and nothing else
    // changes.
    let link = app.mailed_link(&address, "Activate", "/activate/").await;
    assert_eq!(app.activate_link(&link).await.status(), 200);
    let third = app.register(&address, &unique("third")).await;
    assert_eq!((third.status(), third.bytes().await.unwrap()), (first_status, first_body));
    let mails = app.mail_to(&address).await;
    let notice = mails.iter().rev().find(|m| m.subject.contains("tried to register")).expect("a notice");
    assert!(notice.link("/activate/").is_none(), "the notice carries no token");
    assert!(notice.body.contains("/login") && notice.body.contains("/password-reset"), "{}", notice.body);
    assert_eq!(app.sign_in(&address, learners_tests::PASSWORD).await.status(), 200);
    // Nothing was sent to the typed form of the address.
    assert!(app.mail_to(&address.to_uppercase().replace("@EXAMPLE.COM", "@example.com")).await.is_empty());
}

async fn twenty_concurrent_registrations_of_one_email_make_one_account(backend: Backend) {
    let app = std::sync::Arc::new(TestApp::spawn(backend).await);
    let local = unique("race-");
    let attempts: Vec<_> = (0..20)
        .map(|i| {
            let app = app.clone();
            let local = local.clone();
            let address = if i % 2 == 0 {
                format!("{local}@example.com")
            } else {
                format!("{}@Example.COM", local.to_uppercase())
            };
            tokio::spawn(async move {
                app.register(&address, &format!("racer{i}-{}", &local[5..12])).await.status().as_u16()
            })
        })
        .collect();
    for attempt in attempts {
        assert_eq!(attempt.await.unwrap(), 202);
    }
    let user = app.user(&format!("{local}@example.com")).await.expect("one account");
    let stored = user["email"].as_str().unwrap().to_owned();
    let activation_mails: Vec<_> =
        app.mail_to(&stored).await.into_iter().filter(|m| m.subject.starts_with("Activate")).collect();
    // Each later registration replaces the pending one and gets a link, up to the daily cap.
    let cap = app.app.config.mails_per_address_per_day as usize;
    assert!((1..=cap).contains(&activation_mails.len()), "{}", activation_mails.len());
    let other_form = if stored.starts_with(&local) {
        format!("{}@example.com", local.to_uppercase())
    } else {
        format!("{local}@example.com")
    };
    assert!(app.mail_to(&other_form).await.is_empty(), "mail only goes to the stored address");
}

async fn links_use_the_site_url_whatever_the_host_header(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let address = email("host-");
    let response = app
        .client
        .post(app.url("/api/v1/registrations"))
        .header("host", "evil.example")
        .header("x-forwarded-host", "evil.example")
        .header("forwarded", "host=evil.example")
        .json(&registration(&address, &unique("host")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let mails = app.mail_to(&address).await;
    assert_eq!(mails.len(), 1);
    assert!(mails[0].link("/activate/").unwrap().starts_with(&format!("{SITE_URL}/activate/")));
    assert!(!mails[0].body.contains("evil.example"));
}

async fn a_taken_username_is_409(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let username = unique("taken");
    assert_eq!(app.register(&email("first-"), &username).await.status(), 202);
    let response = app.register(&email("second-"), &username.to_uppercase()).await;
    assert_eq!(response.status(), 409);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "username_taken");
}

#[tokio::test]
async fn the_html_form_works_without_javascript() {
    let app = TestApp::spawn(Backend::Memory).await;
    let page = app.get("/register").await;
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<form method="post" action="/register">"#), "the form posts to its own page");
    for field in ["email", "username", "name", "password", "terms_accepted"] {
        assert!(html.contains(&format!(r#"name="{field}""#)), "{field}");
    }

    // A form post with a bad name comes back as the form, escaped, with the problem named.
    let form = "email=x%40example.com&username=formuser&name=%3Cscript%3E&password=correct+horse+battery+staple&terms_accepted=on";
    let response = app.post_raw("/api/v1/registrations", "application/x-www-form-urlencoded", form).await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("cannot contain &#60;, &#62; or a link"));
    assert!(!html.contains("<script>"));
    assert!(html.contains(r#"value="formuser""#));

    let good =
        "email=form%40example.com&username=formuser&name=Ada&password=correct+horse+battery+staple&terms_accepted=on";
    let response = app.post_raw("/api/v1/registrations", "application/x-www-form-urlencoded", good).await;
    assert_eq!(response.status(), 202);
    assert!(response.text().await.unwrap().contains("Check your inbox"));
    assert_eq!(app.mail_to("form@example.com").await.len(), 1);
}
