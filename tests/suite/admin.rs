//! Operator routes: IAM identity required (the local gateway maps the admin token to one).

use learners_tests::{email, unique, Backend, TestApp, ADMIN_TOKEN, PASSWORD};

#[tokio::test]
async fn the_user_lookup_needs_the_operator_credential() {
    let app = TestApp::spawn(Backend::Memory).await;
    let address = email("op-");
    let username = unique("op");
    assert_eq!(app.register(&address, &username).await.status(), 202);
    let path = format!("/admin/v1/users?email={}", learners_tests::urlencode(&address));

    let anonymous = app.get(&path).await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.json::<serde_json::Value>().await.unwrap()["error"]["code"], "unauthorized");
    for wrong in ["Bearer nope", &format!("Bearer {ADMIN_TOKEN}x"), &format!("Basic {ADMIN_TOKEN}"), ADMIN_TOKEN] {
        let response = app.client.get(app.url(&path)).header("authorization", wrong).send().await.unwrap();
        assert_eq!(response.status(), 401, "{wrong}");
    }

    let response = app.admin_get(&path).await;
    assert_eq!(response.status(), 200);
    let user: serde_json::Value = response.json().await.unwrap();
    assert_eq!(user["email"], address.as_str());
    assert_eq!(user["username"], username.as_str());
    assert_eq!(user["name"], "Ada Lovelace");
    assert_eq!(user["status"], "pending_activation");
    assert_eq!(user["source"], "self");
    assert!(user["user_id"].is_string() && user["created_at"].is_string());
    assert!(user.get("password_hash").is_none());
    let keys: Vec<&String> = user.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 15, "{keys:?}");
    assert_eq!(user["mail_refused"], serde_json::Value::Null);
    assert_eq!(user["disabled_at"], serde_json::Value::Null);
    assert_eq!((user["known_devices"].as_u64(), user["known_device_failed_logins"].as_u64()), (Some(0), Some(0)));
    assert_eq!(user["operator"], false);

    // Case does not matter; unknown is 404; a malformed address is 422.
    assert_eq!(
        app.admin_get(&path.to_uppercase().replace("/ADMIN/V1/USERS?EMAIL=", "/admin/v1/users?email=")).await.status(),
        200
    );
    assert_eq!(app.admin_get(&format!("/admin/v1/users?email={}", email("ghost-"))).await.status(), 404);
    assert_eq!(app.admin_get("/admin/v1/users?email=not-an-email").await.status(), 422);
    assert_eq!(app.admin_get("/admin/v1/users").await.status(), 422);
}

#[tokio::test]
async fn a_lambda_request_without_iam_identity_is_refused() {
    let (app, _parts, _clock) = learners_tests::memory_app();
    let request = learners_tests::fake_request("GET /admin/v1/users", None, Vec::new());
    let response = learners::handlers::admin_users::handle(&app, request).await;
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn dev_mail_is_readable_and_clearable() {
    let app = TestApp::spawn(Backend::Memory).await;
    let address = email("dev-");
    app.register(&address, &unique("dev")).await;
    let mail: serde_json::Value = app.get("/_dev/mail").await.json().await.unwrap();
    let entry = &mail.as_array().unwrap()[0];
    for key in ["to", "subject", "text", "html", "sent_at"] {
        assert!(entry[key].is_string(), "{key}");
    }
    assert_eq!(app.client.delete(app.url("/_dev/mail")).send().await.unwrap().status(), 204);
    let mail: serde_json::Value = app.get("/_dev/mail").await.json().await.unwrap();
    assert_eq!(mail, serde_json::json!([]));
}

/// An operator's session is the short one (8 hours by default); a learner's stays 14 days.
#[tokio::test]
async fn an_operator_session_lasts_the_operator_lifetime() {
    let app = TestApp::spawn(Backend::Memory).await;
    let (operator, learner) = (email("op-"), email("learner-"));
    app.active_account(&operator, &unique("op")).await;
    app.active_account(&learner, &unique("learner")).await;
    learners::flows::admin::set_operator_role(&app.app, "arn:aws:iam::000000000000:user/test", &operator, true)
        .await
        .unwrap();
    let max_age = |response: &reqwest::Response| {
        let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
        cookie.split("Max-Age=").nth(1).unwrap().split(';').next().unwrap().to_owned()
    };
    assert_eq!(max_age(&app.sign_in(&operator, PASSWORD).await), "28800");
    assert_eq!(max_age(&app.sign_in(&learner, PASSWORD).await), "1209600");
}

/// Being allowed to invoke the API does not make an IAM principal an operator: only those
/// `LEARNERS_OPERATOR_PRINCIPALS` names are.
#[tokio::test]
async fn only_the_listed_iam_principals_are_operators() {
    let elsewhere = TestApp::spawn_with(
        Backend::Memory,
        &[("LEARNERS_OPERATOR_PRINCIPALS", "arn:aws:iam::123456789012:role/ops-*")],
    )
    .await;
    // The local token stands for arn:aws:iam::000000000000:user/local-operator, not listed here.
    let refused = elsewhere.admin_get(&format!("/admin/v1/users?email={}", email("x-"))).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(refused.json::<serde_json::Value>().await.unwrap()["error"]["code"], "not_an_operator");
    let listed = TestApp::spawn(Backend::Memory).await;
    assert_eq!(listed.admin_get(&format!("/admin/v1/users?email={}", email("x-"))).await.status(), 404);

    // A handler called as API Gateway would call it, with an IAM caller of its own.
    use lambda_http::aws_lambda_events::apigw::{
        ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerIamDescription,
    };
    use lambda_http::request::RequestContext;
    use lambda_http::RequestExt;
    for (arn, status) in
        [("arn:aws:iam::123456789012:role/ops-admin", 404), ("arn:aws:iam::123456789012:role/dev", 403)]
    {
        let mut request = learners_tests::fake_request("GET /admin/v1/users", None, Vec::new());
        let Some(RequestContext::ApiGatewayV2(mut context)) = request.request_context_ref().cloned() else {
            unreachable!()
        };
        let mut iam = ApiGatewayRequestAuthorizerIamDescription::default();
        iam.user_arn = Some(arn.to_owned());
        let mut authorizer = ApiGatewayRequestAuthorizer::default();
        authorizer.iam = Some(iam);
        context.authorizer = Some(authorizer);
        request = request.with_request_context(RequestContext::ApiGatewayV2(context)).with_query_string_parameters(
            std::collections::HashMap::from([("email".to_owned(), "nobody@example.com".to_owned())]),
        );
        let response = learners::handlers::admin_users::handle(&elsewhere.app, request).await;
        assert_eq!(response.status(), status, "{arn}");
    }
}
