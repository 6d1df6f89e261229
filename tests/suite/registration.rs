//! Registration as a learner meets it, through the local gateway, on both backends.

use learners_tests::{email, on_both_backends, registration, unique, Backend, TestApp, SITE_URL};
use serde_json::json;

on_both_backends!(
    register_then_follow_the_emailed_link_activates,
    an_existing_email_gets_the_same_answer_and_the_owner_a_notice,
    twenty_concurrent_registrations_of_one_email_make_one_account,
    links_use_the_site_url_whatever_the_host_header,
    a_taken_username_is_409,
);

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

async fn an_existing_email_gets_the_same_answer_and_the_owner_a_notice(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let address = email("owner-");
    let first = app.register(&address, &unique("owner")).await;
    let (first_status, first_body) = (first.status(), first.bytes().await.unwrap());
    // Someone else, with the address in another case and another username.
    let second = app.register(&address.to_uppercase().replace("@EXAMPLE.COM", "@example.com"), &unique("other")).await;
    let (second_status, second_body) = (second.status(), second.bytes().await.unwrap());
    assert_eq!(first_status, second_status);
    assert_eq!(first_body, second_body);

    let mails = app.mail_to(&address).await;
    assert_eq!(mails.len(), 2, "{mails:?}");
    let notice = mails.iter().find(|m| m.subject.contains("tried to register")).expect("a notice to the owner");
    assert!(notice.link("/activate/").is_none(), "the notice carries no token");
    // The account is still pending: signing in would be refused, so the notice points at a new
    // activation link, not at sign-in.
    assert!(notice.body.contains("waiting for activation"), "{}", notice.body);
    assert!(notice.body.contains("/activation-email"));
    assert!(!notice.body.contains("/login"));

    // Once active, the owner is pointed at signing in or resetting instead.
    let link = app.mailed_link(&address, "Activate", "/activate/").await;
    assert_eq!(app.activate_link(&link).await.status(), 200);
    app.clock.advance(app.app.config.resend_interval_seconds + 1);
    assert_eq!(app.register(&address, &unique("third")).await.status(), 202);
    let mails = app.mail_to(&address).await;
    let notice = mails.iter().rev().find(|m| m.subject.contains("tried to register")).expect("a second notice");
    assert!(notice.body.contains("/login") && notice.body.contains("/password-reset"), "{}", notice.body);
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
    assert_eq!(activation_mails.len(), 1);
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
    assert!(html.contains(r#"<form method="post" action="/api/v1/registrations">"#));
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
