//! The password policy as a learner meets it through the API and the pages: 15 characters
//! where the password is the only factor, common passwords and their variants refused, and the
//! breach corpus (a fake range API on 127.0.0.1) asked, with the local list as the fallback.

use learners_tests::range::{answers, FakeRange, Outage, BREACHED, PADDED};
use learners_tests::{email, registration, unique, Backend, TestApp};
use serde_json::Value;

/// Registers with `password`; the status and the password field's message, if any.
async fn register_with(app: &TestApp, password: &str) -> (u16, Option<String>) {
    let mut body = registration(&email("pw-"), &unique("pw"));
    body["password"] = password.into();
    let response = app.post_json("/api/v1/registrations", &body).await;
    let status = response.status().as_u16();
    let json: Value = response.json().await.unwrap_or_default();
    (status, json["error"]["fields"]["password"].as_str().map(str::to_owned))
}

#[tokio::test]
async fn a_14_character_password_is_refused_for_a_single_factor_account_by_default() {
    let app = TestApp::spawn(Backend::Memory).await;
    let (status, message) = register_with(&app, "violet kettle!").await;
    assert_eq!(status, 422);
    assert_eq!(message.as_deref(), Some("A password needs at least 15 characters."));
    let (status, message) = register_with(&app, "violet kettles!").await;
    assert_eq!((status, message), (202, None), "15 characters are enough");
    // The form says so before it is sent.
    let page = app.get("/register").await.text().await.unwrap();
    assert!(page.contains(r#"autocomplete="new-password" required minlength="15" maxlength="128""#), "{page}");
}

#[tokio::test]
async fn the_minimum_is_configurable() {
    let app = TestApp::spawn_with(Backend::Memory, &[("LEARNERS_PASSWORD_MIN_LENGTH", "20")]).await;
    let (status, message) = register_with(&app, "violet kettles drum").await;
    assert_eq!((status, message.as_deref()), (422, Some("A password needs at least 20 characters.")));
    let page = app.get("/register").await.text().await.unwrap();
    assert!(page.contains(r#"minlength="20""#));
}

#[tokio::test]
async fn pa55word_variants_of_listed_passwords_are_refused() {
    let app = TestApp::spawn(Backend::Memory).await;
    for variant in ["Pa$$word1234567", "P@ssw0rd!!!!!!!!", "Iloveyou12345678", "!!Sunshine2024!!"] {
        let (status, message) = register_with(&app, variant).await;
        assert_eq!(status, 422, "{variant}");
        assert!(message.unwrap_or_default().contains("most common or breached"), "{variant}");
    }
    let (status, _) = register_with(&app, learners_tests::PASSWORD).await;
    assert_eq!(status, 202, "the shared passphrase is not listed");
}

#[tokio::test]
async fn the_range_apis_hit_is_refused_and_its_padding_is_not() {
    let fake = FakeRange::start(answers(), Outage::None).await;
    let app = TestApp::spawn_with(Backend::Memory, &[("LEARNERS_BREACHED_PASSWORD_API", &fake.base)]).await;
    let (status, message) = register_with(&app, BREACHED.0).await;
    assert_eq!(status, 422);
    assert!(message.unwrap_or_default().contains("appeared in a data breach"));
    let (status, message) = register_with(&app, PADDED.0).await;
    assert_eq!((status, message), (202, None), "a padded entry (count 0) is not a breach");
    assert_eq!(fake.requests().len(), 2, "the local list refused nothing first; each asked once");
}

#[tokio::test]
async fn an_outage_of_the_range_api_falls_back_to_the_local_list() {
    for outage in [Outage::Unavailable, Outage::Hangs] {
        let fake = FakeRange::start(answers(), outage).await;
        let app = TestApp::spawn_with(Backend::Memory, &[("LEARNERS_BREACHED_PASSWORD_API", &fake.base)]).await;
        // The local list still refuses its own.
        let (status, message) = register_with(&app, "P@ssw0rd!!!!!!!!").await;
        assert_eq!(status, 422, "{outage:?}");
        assert!(message.unwrap_or_default().contains("most common"), "{outage:?}");
        // What only the range API knows goes through: registration never waits on an outage.
        let started = std::time::Instant::now();
        let (status, message) = register_with(&app, BREACHED.0).await;
        assert_eq!((status, message), (202, None), "{outage:?}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{outage:?}: {:?}", started.elapsed());
        assert!(!fake.requests().is_empty(), "{outage:?}: the range API was asked");
    }
}

#[tokio::test]
async fn a_reset_and_an_operators_new_password_ask_the_range_api_too() {
    let fake = FakeRange::start(answers(), Outage::None).await;
    let app = TestApp::spawn_with(Backend::Memory, &[("LEARNERS_BREACHED_PASSWORD_API", &fake.base)]).await;
    let address = email("reset-");
    app.active_account(&address, &unique("reset")).await;

    // A reset link refuses the breached password with the reason, and stays usable.
    app.post_json("/api/v1/password-resets", &serde_json::json!({ "email": address })).await;
    app.settle().await;
    let mails = app.mail_to(&address).await;
    let link = mails.iter().rev().find(|m| m.subject.starts_with("Reset")).and_then(|m| m.link("/password-reset/"));
    let token = link.expect("a reset link").rsplit('/').next().unwrap().to_owned();
    let path = format!("/api/v1/password-resets/{token}");
    let confirm = |password: &'static str| {
        let (app, path) = (&app, &path);
        async move { app.post_json(path, &serde_json::json!({ "password": password })).await }
    };
    let refused = confirm(BREACHED.0).await;
    assert_eq!(refused.status(), 422);
    let body: Value = refused.json().await.unwrap();
    assert!(body["error"]["fields"]["password"].as_str().unwrap().contains("appeared in a data breach"), "{body}");
    assert_eq!(app.sign_in(&address, BREACHED.0).await.status(), 401);
    assert_eq!(confirm(PADDED.0).await.status(), 204, "the same link, a password the corpus only pads");
    assert_eq!(app.sign_in(&address, PADDED.0).await.status(), 200);

    // An operator's new password is held to the same corpus.
    let set = |password: &str| {
        app.client
            .post(app.url("/admin/v1/users/password"))
            .bearer_auth(learners_tests::ADMIN_TOKEN)
            .json(&serde_json::json!({ "email": address, "password": password }))
            .send()
    };
    let refused = set(BREACHED.0).await.unwrap();
    assert_eq!(refused.status(), 422);
    assert!(refused.text().await.unwrap().contains("appeared in a data breach"));
    assert_eq!(app.sign_in(&address, PADDED.0).await.status(), 200, "the password is unchanged");
}

#[tokio::test]
async fn a_bulk_rows_password_is_held_to_the_range_api_in_the_worker() {
    let fake = FakeRange::start(answers(), Outage::None).await;
    let app = TestApp::spawn_with(Backend::Memory, &[("LEARNERS_BREACHED_PASSWORD_API", &fake.base)]).await;
    let tag = unique("b");
    let csv = format!(
        "email,username,name,password\r\n\
         breached-{tag}@example.com,breached-{tag},Ada Breached,{}\r\n\
         padded-{tag}@example.com,padded-{tag},Ada Padded,{}\r\n",
        BREACHED.0, PADDED.0
    );
    let response = app
        .client
        .post(app.url("/admin/v1/bulk-registrations"))
        .header("content-type", "text/csv")
        .bearer_auth(learners_tests::ADMIN_TOKEN)
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let id = response.json::<Value>().await.unwrap()["job_id"].as_str().unwrap().to_owned();
    app.settle().await;
    let status: Value = app.admin_get(&format!("/admin/v1/bulk-registrations/{id}")).await.json().await.unwrap();
    assert_eq!((status["created"].as_u64(), status["failed"].as_u64()), (Some(1), Some(1)), "{status}");
    assert_eq!(status["errors"][0]["row"], 2, "{status}");
    assert_eq!(status["errors"][0]["code"], "invalid_password", "{status}");
    assert!(app.user(&format!("breached-{tag}@example.com")).await.is_none());
    assert_eq!(app.sign_in(&format!("padded-{tag}@example.com"), PADDED.0).await.status(), 200);
}
