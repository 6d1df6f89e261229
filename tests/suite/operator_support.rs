//! Operator support: manual activation, enforced password, unlock, and the audit log.

use learners_tests::console;
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

    // Lock the account. A silent password is no longer on offer: `notify: false` is refused
    // with the reason, and nothing changes.
    for _ in 0..6 {
        app.sign_in(&address, "not the password").await;
    }
    let notices = |mails: Vec<learners_tests::Mail>| {
        mails.into_iter().filter(|m| m.subject.contains("password was changed")).collect::<Vec<_>>()
    };
    let silent = json!({"email": address, "password": "operator chosen phrase", "notify": false});
    let refused = admin_post(&app, "/admin/v1/users/password", &silent, Some(ADMIN_TOKEN)).await;
    assert_eq!(refused.status(), 422);
    let reason = refused.json::<Value>().await.unwrap()["error"]["fields"]["notify"].as_str().unwrap().to_owned();
    assert!(reason.contains("always told"), "{reason}");
    assert_eq!(app.sign_in(&address, "operator chosen phrase").await.status(), 401, "nothing changed");
    assert!(notices(app.mail_to(&address).await).is_empty());

    // Set (`notify: true` is still accepted, and changes nothing): sessions end, lock cleared,
    // and the learner is told, never with the password in the mail.
    let set = json!({"email": address, "password": "operator chosen phrase", "notify": true});
    assert_eq!(admin_post(&app, "/admin/v1/users/password", &set, Some(ADMIN_TOKEN)).await.status(), 204);
    assert_eq!(app.with_cookie(Method::GET, "/api/v1/account", &session).send().await.unwrap().status(), 401);
    assert_eq!(app.sign_in(&address, PASSWORD).await.status(), 401);
    assert_eq!(app.sign_in(&address, "operator chosen phrase").await.status(), 200);
    assert_eq!(notices(app.mail_to(&address).await).len(), 1, "the learner is told");

    let set = json!({"email": address, "password": "second operator phrase"});
    assert_eq!(admin_post(&app, "/admin/v1/users/password", &set, Some(ADMIN_TOKEN)).await.status(), 204);
    let mails = app.mail_to(&address).await;
    let told = notices(mails.clone());
    assert_eq!(told.len(), 2, "told every time");
    assert!(told[1].body.contains("administrator"));
    assert!(!mails.iter().any(|m| m.body.contains("second operator phrase") || m.body.contains("operator chosen")));

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
            ("set_password", "done, learner notified"),
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
    assert_eq!(app.admin_get("/admin/v1/audit?learner=not-an-address").await.status(), 422);
}

#[tokio::test]
async fn an_operator_password_ends_outstanding_reset_links() {
    let app = TestApp::spawn(Backend::Memory).await;
    let address = email("outdated-");
    app.active_account(&address, &unique("outdated")).await;
    app.post_json("/api/v1/password-resets", &json!({"email": address})).await;
    app.settle().await;
    let link = app.mail_to(&address).await.into_iter().find_map(|m| m.link("/password-reset/")).unwrap();
    let set = json!({"email": address, "password": "operator chosen phrase"});
    assert_eq!(admin_post(&app, "/admin/v1/users/password", &set, Some(ADMIN_TOKEN)).await.status(), 204);
    let token = link.rsplit('/').next().unwrap();
    let confirm =
        app.post_json(&format!("/api/v1/password-resets/{token}"), &json!({"password": "learner chosen phrase"})).await;
    assert_eq!(confirm.status(), 400);
    assert_eq!(app.sign_in(&address, "operator chosen phrase").await.status(), 200);
}

/// The IAM principal that grants roles here (as `learnerctl` would).
const IAM: &str = "arn:aws:iam::000000000000:user/test-admin";

/// An active account with the operator role, granted through the admin flow.
async fn operator(app: &TestApp, prefix: &str) -> String {
    let address = email(prefix);
    app.active_account(&address, &unique(prefix)).await;
    learners::flows::admin::set_operator_role(&app.app, IAM, &address, true).await.unwrap();
    address
}

fn location(response: &reqwest::Response) -> String {
    response.headers().get("location").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

/// The page's text as a person reads it (the apostrophe is entity-encoded in the HTML).
async fn page_text(response: reqwest::Response) -> String {
    response.text().await.unwrap().replace("&#39;", "'").replace("&#x27;", "'")
}

on_both_backends!(console_operators_cannot_act_on_operators);

/// In the console, an operator's set-password, unlock, activate and delete (alone, or as a row
/// of a deletion list) on another operator are refused on the page and audited; nothing changes
/// on the target. The IAM-authenticated admin API keeps these actions.
async fn console_operators_cannot_act_on_operators(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alice, bob) = (operator(&app, "alice-").await, operator(&app, "bob-").await);
    let learner = email("learner-");
    app.active_account(&learner, &unique("learner")).await;
    for _ in 0..2 {
        assert_eq!(app.sign_in(&bob, "not bob's password").await.status(), 401);
    }
    let cookie = app.operator_session(&alice).await;
    let failures = |user: Value| user["failed_logins"].as_u64();
    assert_eq!(failures(app.user(&bob).await.unwrap()), Some(2));

    let chosen = "violet kettle drums 42";
    for (path, fields) in [
        ("/operator/password", vec![("email", bob.as_str()), ("password", chosen)]),
        ("/operator/unlock", vec![("email", bob.as_str())]),
        ("/operator/activate", vec![("email", bob.as_str())]),
        ("/operator/delete", vec![("email", bob.as_str())]),
        ("/operator/delete", vec![("email", bob.as_str()), ("confirm", "yes")]),
    ] {
        let response = console::post(&app, &cookie, path, &fields).await;
        assert_eq!(response.status(), 403, "{path} {fields:?}");
        let page = page_text(response).await;
        assert!(page.contains("This account has the operator role: the console does not"), "{path}:\n{page}");
    }

    // A deletion list naming bob and a learner: the learner goes, bob's row is refused.
    let list = format!("{bob}\n{learner}\n");
    let posted =
        console::multipart(&app, &cookie, "/operator/deletions", &[("source", "lines"), ("list", &list)]).await;
    assert_eq!(posted.status(), 303);
    let job = location(&posted);
    assert!(job.starts_with("/operator/jobs/"), "{job}");
    app.settle().await;
    let page = page_text(app.with_cookie(Method::GET, &job, &cookie).send().await.unwrap()).await;
    assert!(page.contains("not deleted from the console"), "bob's row, with why:\n{page}");
    assert!(app.user(&learner).await.is_none(), "the learner's row is deleted");

    // Nothing changed on bob: still there, not activated twice, the same lock, the same password.
    let now = app.user(&bob).await.expect("bob's account is still there");
    assert_eq!((failures(now.clone()), now["operator"].as_bool()), (Some(2), Some(true)));
    let refused: Vec<String> = audit(&app, &format!("email={}", learners_tests::urlencode(&bob)))
        .await
        .iter()
        .filter(|e| e["outcome"] == "refused: operator account")
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    for action in ["set_password", "unlock", "activate", "delete"] {
        assert!(refused.iter().any(|a| a == action), "{action} audited as refused: {refused:?}");
    }
    assert_eq!(refused.iter().filter(|a| *a == "delete").count(), 3, "two console steps and the list's row");
    assert_eq!(app.sign_in(&bob, chosen).await.status(), 401);
    assert_eq!(app.sign_in(&bob, PASSWORD).await.status(), 200);

    // The admin API (the people who hold the AWS keys) keeps them.
    for _ in 0..2 {
        app.sign_in(&bob, "not bob's password").await;
    }
    let unlocked = admin_post(&app, "/admin/v1/users/unlock", &json!({"email": bob}), Some(ADMIN_TOKEN)).await;
    assert_eq!(unlocked.status(), 204);
    assert_eq!(failures(app.user(&bob).await.unwrap()), Some(0));
    let set = json!({"email": bob, "password": chosen});
    assert_eq!(admin_post(&app, "/admin/v1/users/password", &set, Some(ADMIN_TOKEN)).await.status(), 204);
    assert_eq!(app.sign_in(&bob, chosen).await.status(), 200);
}

on_both_backends!(only_an_active_account_gets_the_operator_role);

/// A pending account (proven by nobody's mailbox) is refused the role, by the admin API and so
/// by `learnerctl operators grant`; once active, it gets it.
async fn only_an_active_account_gets_the_operator_role(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let pending = email("pending-");
    let link = app.register_and_get_link(&pending, &unique("pending")).await;
    let grant = json!({"email": pending});
    let refused = admin_post(&app, "/admin/v1/operators", &grant, Some(ADMIN_TOKEN)).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(refused.json::<Value>().await.unwrap()["error"]["code"], "not_activated");
    assert_eq!(app.user(&pending).await.unwrap()["operator"], false);
    let entries = audit(&app, &format!("email={}", learners_tests::urlencode(&pending))).await;
    assert_eq!(
        (entries[0]["action"].as_str(), entries[0]["outcome"].as_str()),
        (Some("grant_operator"), Some("refused: account not active"))
    );

    assert_eq!(app.activate_link(&link).await.status(), 200);
    assert_eq!(admin_post(&app, "/admin/v1/operators", &grant, Some(ADMIN_TOKEN)).await.status(), 204);
    assert_eq!(app.user(&pending).await.unwrap()["operator"], true);
}

on_both_backends!(confirming_ends_the_presented_session_token);

/// The operator's confirmation (the second factor asked again after 5 minutes) ends the
/// presented session token and issues a new cookie, which carries the confirmation.
async fn confirming_ends_the_presented_session_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = operator(&app, "alice-").await;
    let learner = email("learner-");
    app.active_account(&learner, &unique("learner")).await;
    let old = app.operator_session(&alice).await;
    app.clock.advance(301);

    let set = [("email", learner.as_str()), ("password", "violet kettle drums 42")];
    let asked = console::post(&app, &old, "/operator/password", &set).await;
    assert_eq!(asked.status(), 403, "not confirmed: asked");
    assert!(asked.headers().get("set-cookie").is_none());
    let with_code = [set[0], set[1], ("your_code", &app.totp_code(&alice).await)];
    let done = console::post(&app, &old, "/operator/password", &with_code).await;
    assert_eq!(done.status(), 303);
    let new = learners_tests::cookie_pair(&done).expect("a new session cookie");
    assert_ne!(new, old);
    assert!(done.headers()["set-cookie"].to_str().unwrap().contains("HttpOnly"));
    assert_eq!(app.sign_in(&learner, "violet kettle drums 42").await.status(), 200);

    // The old token is ended; the new one opens the console, and carries the confirmation.
    let console = |cookie: &str| app.with_cookie(Method::GET, "/operator", cookie).send();
    let with_old = console(&old).await.unwrap();
    assert_eq!((with_old.status().as_u16(), location(&with_old)), (303, "/login?next=/operator".to_owned()));
    assert_eq!(console(&new).await.unwrap().status(), 200);
    let again = [("email", learner.as_str()), ("password", "amber lantern field 77")];
    let response = console::post(&app, &new, "/operator/password", &again).await;
    assert_eq!(response.status(), 303, "confirmed a moment ago: not asked again");
    assert!(response.headers().get("set-cookie").is_none(), "no confirmation, no new token");
}

on_both_backends!(bulk_registration_and_activate_ask_for_confirmation);

/// With `LEARNERS_OPERATOR_SECOND_FACTOR=optional`, an operator without a second factor uses the
/// console as before: registering a checked file and activating an account ask for the
/// operator's own password when it was not typed in the last 5 minutes; nothing happens until
/// it is.
async fn bulk_registration_and_activate_ask_for_confirmation(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("LEARNERS_OPERATOR_SECOND_FACTOR", "optional")]).await;
    let alice = operator(&app, "alice-").await;
    let pending = email("pending-");
    assert_eq!(app.register(&pending, &unique("pending")).await.status(), 202);
    let mut cookie = app.session_cookie(&alice, PASSWORD).await;
    app.clock.advance(301);

    let activate = [("email", pending.as_str())];
    let asked = console::post(&app, &cookie, "/operator/activate", &activate).await;
    assert_eq!(asked.status(), 200);
    let page = page_text(asked).await;
    assert!(page.contains("Activate the account of") && page.contains("Your password"), "{page}");
    let wrong = [("email", pending.as_str()), ("confirm", "yes"), ("your_password", "not my own password")];
    assert_eq!(console::post(&app, &cookie, "/operator/activate", &wrong).await.status(), 403);
    assert_eq!(app.user(&pending).await.unwrap()["status"], "pending_activation", "not without the password");
    let right = [("email", pending.as_str()), ("confirm", "yes"), ("your_password", PASSWORD)];
    let done = console::post(&app, &cookie, "/operator/activate", &right).await;
    assert_eq!(done.status(), 303);
    cookie = learners_tests::cookie_pair(&done).expect("a renewed session");
    assert_eq!(app.user(&pending).await.unwrap()["status"], "active");

    app.clock.advance(301);
    let newcomer = email("cohort-");
    let csv = format!("email,username,name\n{newcomer},{},Cohort Member\n", unique("member"));
    let asked = console::multipart(&app, &cookie, "/operator/bulk", &[("csv", &csv)]).await;
    assert_eq!(asked.status(), 403);
    let page = page_text(asked).await;
    assert!(page.contains("Your password") && page.contains("Register 1 learners"), "{page}");
    app.settle().await;
    assert!(app.user(&newcomer).await.is_none(), "nothing registered without the password");
    let done = console::multipart(&app, &cookie, "/operator/bulk", &[("csv", &csv), ("your_password", PASSWORD)]).await;
    assert_eq!(done.status(), 303);
    assert!(location(&done).starts_with("/operator/jobs/"));
    app.settle().await;
    assert_eq!(app.user(&newcomer).await.unwrap()["status"], "active");
}
