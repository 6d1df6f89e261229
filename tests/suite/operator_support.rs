//! Operator support: manual activation, enforced password, unlock, and the audit log.

use learners_tests::{email, on_both_backends, unique, Backend, TestApp, ADMIN_TOKEN, PASSWORD};
use reqwest::Method;
use serde_json::{json, Value};

async fn admin_post(app: &TestApp, path: &str, body: &Value, token: Option<&str>) -> reqwest::Response {
    let mut request = app.client.post(app.url(path)).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn audit(app: &TestApp, query: &str) -> Vec<Value> {
    let response = app.admin_get(&format!("/admin/v1/audit?{query}")).await;
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["entries"].as_array().unwrap().clone()
}

on_both_backends!(operator_actions_work_and_are_on_record);

async fn operator_actions_work_and_are_on_record(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let address = email("helped-");
    assert_eq!(app.register(&address, &unique("helped")).await.status(), 202);
    let user_id = app.user(&address).await.unwrap()["user_id"].as_str().unwrap().to_owned();

    // Without the credential: 401 and nothing changes.
    for (path, body) in [
        ("/admin/v1/users/activate", json!({"email": address})),
        ("/admin/v1/users/password", json!({"email": address, "password": "operator chosen phrase"})),
        ("/admin/v1/users/unlock", json!({"email": address})),
    ] {
        assert_eq!(admin_post(&app, path, &body, None).await.status(), 401, "{path}");
        assert_eq!(admin_post(&app, path, &body, Some("wrong")).await.status(), 401, "{path}");
    }
    assert_eq!(app.get(&format!("/admin/v1/audit?user_id={user_id}")).await.status(), 401);
    assert_eq!(app.user(&address).await.unwrap()["status"], "pending_activation");
    assert!(audit(&app, &format!("user_id={user_id}")).await.is_empty());
    assert_eq!(app.sign_in(&address, "operator chosen phrase").await.status(), 401);

    // Activate, twice: idempotent.
    for _ in 0..2 {
        let response =
            admin_post(&app, "/admin/v1/users/activate", &json!({"email": address}), Some(ADMIN_TOKEN)).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.json::<Value>().await.unwrap(), json!({"status": "active"}));
    }
    assert_eq!(app.user(&address).await.unwrap()["status"], "active");
    let session = app.session_cookie(&address, PASSWORD).await;

    // A weak password is refused with the reason, and recorded as refused.
    let weak = admin_post(
        &app,
        "/admin/v1/users/password",
        &json!({"email": address, "password": "12345678"}),
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(weak.status(), 422);
    assert!(weak.json::<Value>().await.unwrap()["error"]["fields"]["password"].is_string());

    // Lock the account, then enforce a password without notice: sessions end, lock cleared.
    for _ in 0..6 {
        app.sign_in(&address, "not the password").await;
    }
    let mails_before = app.mail_to(&address).await.len();
    let set = json!({"email": address, "password": "operator chosen phrase", "notify": false});
    assert_eq!(admin_post(&app, "/admin/v1/users/password", &set, Some(ADMIN_TOKEN)).await.status(), 204);
    assert_eq!(app.mail_to(&address).await.len(), mails_before, "notify: false sends nothing");
    assert_eq!(app.with_cookie(Method::GET, "/api/v1/account", &session).send().await.unwrap().status(), 401);
    assert_eq!(app.sign_in(&address, PASSWORD).await.status(), 401);
    assert_eq!(app.sign_in(&address, "operator chosen phrase").await.status(), 200);

    // With notice (the default): a mail, and never the password in it.
    let set = json!({"email": address, "password": "second operator phrase"});
    assert_eq!(admin_post(&app, "/admin/v1/users/password", &set, Some(ADMIN_TOKEN)).await.status(), 204);
    let mails = app.mail_to(&address).await;
    let notice = mails.iter().find(|m| m.subject.contains("password was changed")).expect("a notice");
    assert!(notice.body.contains("administrator"));
    assert!(!mails.iter().any(|m| m.body.contains("second operator phrase")));

    for _ in 0..2 {
        app.sign_in(&address, "not the password").await;
    }
    assert_eq!(
        admin_post(&app, "/admin/v1/users/unlock", &json!({"email": address}), Some(ADMIN_TOKEN)).await.status(),
        204
    );

    // Every action is on record, newest first, with the operator; by email or by user id.
    let entries = audit(&app, &format!("email={}", learners_tests::urlencode(&address))).await;
    let actions: Vec<(&str, &str)> =
        entries.iter().map(|e| (e["action"].as_str().unwrap(), e["outcome"].as_str().unwrap())).collect();
    assert_eq!(
        actions,
        [
            ("unlock", "done"),
            ("set_password", "done, learner notified"),
            ("set_password", "done, not notified"),
            ("set_password", "refused: password policy"),
            ("activate", "no_change"),
            ("activate", "done"),
        ]
    );
    for entry in &entries {
        assert_eq!(entry["operator"], learners_gateway::LOCAL_OPERATOR);
        assert_eq!(entry["user_id"], user_id.as_str());
        assert!(entry["at"].is_string());
    }
    assert_eq!(audit(&app, &format!("user_id={user_id}")).await, entries);
    let log = serde_json::to_string(&entries).unwrap();
    for secret in ["operator chosen phrase", "second operator phrase", "12345678"] {
        assert!(!log.contains(secret));
    }

    // Unknown accounts: 404, for every action.
    let ghost = email("ghost-");
    for path in ["/admin/v1/users/activate", "/admin/v1/users/unlock"] {
        assert_eq!(admin_post(&app, path, &json!({"email": ghost}), Some(ADMIN_TOKEN)).await.status(), 404);
    }
    let set = json!({"email": ghost, "password": "operator chosen phrase"});
    assert_eq!(admin_post(&app, "/admin/v1/users/password", &set, Some(ADMIN_TOKEN)).await.status(), 404);
    assert_eq!(app.admin_get(&format!("/admin/v1/audit?email={ghost}")).await.status(), 404);
    assert_eq!(app.admin_get("/admin/v1/audit").await.status(), 422);
}

#[tokio::test]
async fn an_operator_password_ends_outstanding_reset_links() {
    let app = TestApp::spawn(Backend::Memory).await;
    let address = email("outdated-");
    app.active_account(&address, &unique("outdated")).await;
    app.post_json("/api/v1/password-resets", &json!({"email": address})).await;
    app.settle().await;
    let link = app.mail_to(&address).await.into_iter().find_map(|m| m.link("/password-reset/")).unwrap();
    let set = json!({"email": address, "password": "operator chosen phrase", "notify": false});
    assert_eq!(admin_post(&app, "/admin/v1/users/password", &set, Some(ADMIN_TOKEN)).await.status(), 204);
    let token = link.rsplit('/').next().unwrap();
    let confirm =
        app.post_json(&format!("/api/v1/password-resets/{token}"), &json!({"password": "learner chosen phrase"})).await;
    assert_eq!(confirm.status(), 400);
    assert_eq!(app.sign_in(&address, "operator chosen phrase").await.status(), 200);
}
