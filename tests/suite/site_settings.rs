//! Site settings through the admin API (issue 25): `GET|PUT /admin/v1/settings` with `If-Match`
//! (428 without, 412 on another version, 422 with the reason per field, nothing saved on any
//! refusal), the support role granted to active operators only, and the abuse cases: an
//! operator without the role, a stolen console session without a fresh second factor, a
//! cross-site post, a minimum password length lowered without accepting the risk.

use learners_tests::console::post;
use learners_tests::{on_both_backends, Backend, TestApp, ADMIN_TOKEN, PASSWORD};
use serde_json::{json, Value};

on_both_backends!(the_settings_api_saves_every_field_on_the_version_read, a_saved_setting_drives_sign_in_and_mail);

async fn put(app: &TestApp, if_match: Option<&str>, body: &Value) -> reqwest::Response {
    let mut request = app.client.put(app.url("/admin/v1/settings")).bearer_auth(ADMIN_TOKEN).json(body);
    if let Some(version) = if_match {
        request = request.header("if-match", version);
    }
    request.send().await.unwrap()
}

async fn read(app: &TestApp) -> Value {
    let answer = app.admin_get("/admin/v1/settings").await;
    assert_eq!(answer.status(), 200);
    answer.json().await.unwrap()
}

async fn the_settings_api_saves_every_field_on_the_version_read(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let answer = app.admin_get("/admin/v1/settings").await;
    assert_eq!(answer.headers()["etag"], "\"0\"");
    let current: Value = answer.json().await.unwrap();
    assert_eq!(current["version"], 0);
    assert_eq!(current["settings"], current["defaults"], "the stack's parameters first");
    assert_eq!(current["settings"]["max_failed_logins"], 6);
    let mut next = current["settings"].clone();
    next["max_failed_logins"] = json!(3);

    assert_eq!(put(&app, None, &next).await.status(), 428, "no If-Match");
    let mut bad = next.clone();
    bad["max_failed_logins"] = json!(0);
    bad["brand_color"] = json!("#ffff00");
    bad["logo_url"] = json!("http://cdn.example.org/logo.png");
    let refused = put(&app, Some("\"0\""), &bad).await;
    assert_eq!(refused.status(), 422);
    let body: Value = refused.json().await.unwrap();
    let fields = &body["error"]["fields"];
    for name in ["max_failed_logins", "brand_color", "logo_url"] {
        assert!(fields[name].is_string(), "{name}: {body}");
    }
    let mut unknown = next.clone();
    unknown["colour"] = json!("#000");
    assert_eq!(put(&app, Some("\"0\""), &unknown).await.status(), 422, "an unknown field");
    let mut missing = next.clone();
    missing.as_object_mut().unwrap().remove("site_name");
    assert_eq!(put(&app, Some("\"0\""), &missing).await.status(), 422, "every field is required");
    assert_eq!(read(&app).await["version"], 0, "nothing saved");

    let saved = put(&app, Some("\"0\""), &next).await;
    assert_eq!(saved.status(), 200);
    assert_eq!(saved.headers()["etag"], "\"1\"");
    // A second save from version 0: refused, nothing changes.
    let mut other = next.clone();
    other["max_failed_logins"] = json!(9);
    let conflict = put(&app, Some("\"0\""), &other).await;
    assert_eq!(conflict.status(), 412);
    let now = read(&app).await;
    assert_eq!((now["version"].clone(), now["settings"]["max_failed_logins"].clone()), (json!(1), json!(3)));
    assert_eq!(now["saved_by"], learners_gateway::LOCAL_OPERATOR);
    // The audit records who changed what, old and new.
    let entries = app.app.audit.entries_for(&learners::domain::settings::audit_subject()).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].outcome, "max_failed_logins: 6 → 3");
}

async fn a_saved_setting_drives_sign_in_and_mail(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let learner = app.activated_learner("ada", "Ada Lovelace").await;
    let mut next = read(&app).await["settings"].clone();
    next["max_failed_logins"] = json!(2);
    next["mail_from_name"] = json!("Campus Accounts");
    next["activation_ttl_seconds"] = json!(7200);
    assert_eq!(put(&app, Some("\"0\""), &next).await.status(), 200);
    // Within the cache time the functions go on with their copy; after it, the new values.
    app.clock.advance(learners::app::SETTINGS_CACHE_SECONDS);
    for _ in 0..2 {
        assert_eq!(app.sign_in(&learner, "not the password at all").await.status(), 401);
    }
    let user = app.user(&learner).await.unwrap();
    assert!(!user["locked_until"].is_null(), "locked after 2: {user}");
    // A new registration's mail: the sender's name and the link's lifetime are the settings'.
    let pat = learners_tests::email("pat");
    assert_eq!(app.register(&pat, &learners_tests::unique("pat")).await.status(), 202);
    app.settle().await;
    if let Some((_, mailer)) = &app.memory {
        let mail = mailer.sent().into_iter().rev().find(|m| m.to == pat).expect("the activation mail");
        assert_eq!(mail.from_name, "Campus Accounts");
        assert!(mail.text.contains("2 hours"), "{}", mail.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_support_role_goes_to_active_operators_only() {
    let app = TestApp::spawn(Backend::Memory).await;
    let ada = app.activated_learner("ada", "Ada Lovelace").await;
    let grant = |email: &str| {
        app.client
            .post(app.url("/admin/v1/supporters"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({ "email": email }))
            .send()
    };
    let refused = grant(&ada).await.unwrap();
    assert_eq!(refused.status(), 409, "not an operator");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_an_active_operator");
    let operator = |email: &str| {
        app.client.post(app.url("/admin/v1/operators")).bearer_auth(ADMIN_TOKEN).json(&json!({ "email": email })).send()
    };
    assert_eq!(operator(&ada).await.unwrap().status(), 204);
    assert_eq!(grant(&ada).await.unwrap().status(), 204);
    let list: Value = app.admin_get("/admin/v1/supporters").await.json().await.unwrap();
    assert_eq!(list["supporters"][0]["email"], ada.as_str());
    let path = format!("/admin/v1/supporters/{}", learners_tests::urlencode(&ada));
    let revoked = app.client.delete(app.url(&path)).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(revoked.status(), 204);
    let list: Value = app.admin_get("/admin/v1/supporters").await.json().await.unwrap();
    assert_eq!(list["supporters"], json!([]));
}

/// The console's save, misused: without the role (403), from another site (403), from a
/// session whose second factor is older than 5 minutes without a code (asked, nothing saved),
/// and a minimum password length under 15 without the risk accepted (422).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_saves_are_refused_to_whoever_should_not_make_them() {
    let app = TestApp::spawn(Backend::Memory).await;
    let operator = app.activated_learner("op", "Op Erator").await;
    let admin = "arn:aws:iam::000000000000:user/test-admin";
    learners::flows::admin::set_operator_role(&app.app, admin, &operator, true).await.unwrap();
    let cookie = app.operator_session(&operator).await;
    let current = learners::flows::settings::current(&app.app).await.unwrap();
    let form = |changes: &[(&str, &str)]| {
        let mut values = current.settings.values();
        for (k, v) in changes {
            values.insert((*k).to_owned(), (*v).to_owned());
        }
        values.insert("version".into(), "0".into());
        values.retain(|k, v| !(v == "false" && k != "version"));
        values
    };
    let send = |fields: std::collections::BTreeMap<String, String>| {
        let cookie = cookie.clone();
        let app = &app;
        async move {
            let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            post(app, &cookie, "/operator/settings", &pairs).await
        }
    };
    let version = || async { learners::flows::settings::current(&app.app).await.unwrap().version };

    // An operator without the support role: refused.
    let answer = send(form(&[("max_failed_logins", "3")])).await;
    assert_eq!(answer.status(), 403);
    assert!(answer.text().await.unwrap().contains("nothing was saved"));
    assert_eq!(version().await, 0);
    learners::flows::settings::set_support_role(&app.app, admin, &operator, true).await.unwrap();

    // A post from another site, with the support person's cookie: refused.
    let body = "version=0&max_failed_logins=3";
    let cross = app
        .client
        .post(app.url("/operator/settings"))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);
    assert_eq!(version().await, 0);

    // A minimum password length under 15 without accepting the risk: refused beside the field.
    let answer = send(form(&[("password_min_length", "10")])).await;
    assert_eq!(answer.status(), 422);
    assert!(answer.text().await.unwrap().contains("I accept the risk"));
    assert_eq!(version().await, 0);

    // A session whose second factor is older than 5 minutes (a stolen cookie): the save asks
    // for a code and saves nothing; a wrong code is refused; the right one saves.
    app.clock.advance(301);
    let answer = send(form(&[("max_failed_logins", "3")])).await;
    assert_eq!(answer.status(), 200);
    assert!(answer.text().await.unwrap().contains("Code from your app"));
    assert_eq!(version().await, 0, "asked, not saved");
    let answer = send(form(&[("max_failed_logins", "3"), ("your_code", "000000")])).await;
    assert_eq!(answer.status(), 403);
    assert_eq!(version().await, 0);
    let code = app.totp_code(&operator).await;
    let answer = send(form(&[("max_failed_logins", "3"), ("your_code", &code)])).await;
    assert_eq!(answer.status(), 303, "{}", answer.text().await.unwrap());
    assert_eq!(version().await, 1);
    let _ = PASSWORD;
}
