//! The learner's own account page through the local gateway, on both backends: "Download my
//! data", "Change my name", "Change my password", "Where you're signed in" (ending one session,
//! "Sign out everywhere else"), and the abuse each must refuse (cross-site posts, a wrong
//! current password, another account's session).

use learners_tests::{cookie_pair, email, on_both_backends, unique, Backend, TestApp, PASSWORD};
use reqwest::Method;
use serde_json::{json, Value};

const NEW_PASSWORD: &str = "violet kettle drums 42 at dawn";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

on_both_backends!(
    the_data_file_holds_the_account_its_audit_and_its_sessions,
    a_wrong_current_password_is_refused_and_counted,
    a_password_change_ends_every_other_session_and_mails_a_notice,
    cross_site_posts_change_nothing,
    a_session_of_another_account_cannot_be_ended,
    signing_out_everywhere_else_keeps_this_browser,
    the_list_leaves_out_sessions_idle_past_their_limit,
);

/// A registered, activated account, signed in from a browser calling itself Firefox on Linux.
async fn learner(app: &TestApp, prefix: &str) -> (String, String) {
    let address = email(prefix);
    app.active_account(&address, &unique(prefix)).await;
    (address.clone(), sign_in(app, &address, PASSWORD).await)
}

/// Another sign-in of the account: its own session cookie.
async fn sign_in(app: &TestApp, address: &str, password: &str) -> String {
    let response = app
        .client
        .post(app.url("/api/v1/sessions"))
        .header("user-agent", FIREFOX)
        .json(&json!({"email": address, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "sign-in of {address}");
    cookie_pair(&response).expect("a session cookie")
}

async fn post(app: &TestApp, path: &str, cookie: &str, body: Value) -> reqwest::Response {
    app.with_cookie(Method::POST, path, cookie).json(&body).send().await.unwrap()
}

/// Is the cookie's session live? (The account answers it.)
async fn live(app: &TestApp, cookie: &str) -> bool {
    let status = app.with_cookie(Method::GET, "/api/v1/account", cookie).send().await.unwrap().status();
    assert!(status == 200 || status == 401, "{status}");
    status == 200
}

async fn data(app: &TestApp, cookie: &str) -> Value {
    let response = app.with_cookie(Method::GET, "/api/v1/account/data", cookie).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// The ids of the "End this session" forms on the sessions page.
async fn session_ids(app: &TestApp, cookie: &str) -> Vec<String> {
    let page = app
        .with_cookie(Method::GET, "/account/sessions", cookie)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    page.split(r#"name="session" value=""#)
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

async fn the_data_file_holds_the_account_its_audit_and_its_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (address, cookie) = learner(&app, "data-").await;
    let _other = sign_in(&app, &address, PASSWORD).await;
    let renamed = post(&app, "/account/name", &cookie, json!({"name": "Ada King, Countess of Lovelace"})).await;
    assert_eq!(renamed.status(), 200);

    // The page's download: a file to save.
    let file = app.with_cookie(Method::GET, "/account/data", &cookie).send().await.unwrap();
    assert_eq!(file.status(), 200);
    assert_eq!(file.headers()["content-type"], "application/json");
    assert_eq!(file.headers()["content-disposition"], r#"attachment; filename="my-data.json""#);
    let text = file.text().await.unwrap();
    for secret in ["$argon2", "password_hash", &cookie[cookie.find('=').unwrap() + 1..]] {
        assert!(!text.contains(secret), "the file holds no secret ({secret})");
    }
    let mut file: Value = serde_json::from_str(&text).unwrap();
    let mut api = data(&app, &cookie).await;
    for document in [&mut file, &mut api] {
        document.as_object_mut().unwrap().remove("exported_at");
    }
    assert_eq!(file, api, "the API gives the same document");
    assert_eq!(file["account"]["email"], address);
    assert_eq!(file["account"]["name"], "Ada King, Countess of Lovelace");
    assert_eq!(file["account"]["status"], "active");
    assert!(file["account"]["terms_accepted_at"].is_string(), "when the terms were accepted");
    let account = file["account"].as_object().unwrap();
    assert_eq!(account.get("terms_version"), Some(&Value::Null), "the version accepted (none configured here)");
    let audit = file["audit"].as_array().unwrap();
    assert!(
        audit.iter().any(|e| e["action"] == "change_name" && e["by"] == "you" && e["outcome"] == "done"),
        "{audit:?}"
    );
    let sessions = file["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert_eq!(sessions.iter().filter(|s| s["this_browser"] == true).count(), 1);
    assert!(sessions.iter().all(|s| s["browser"] == "Firefox on Linux"), "{sessions:?}");
    assert!(!file["known_devices"].as_array().unwrap().is_empty());
    assert_eq!(file["second_factors"]["authenticator_app"], false);

    // Signed out: a page goes to sign-in, a program gets 401.
    let page = app.client.get(app.url("/account/data")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(page.status(), 303);
    assert_eq!(page.headers()["location"], "/login");
    assert_eq!(app.get("/api/v1/account/data").await.status(), 401);
}

async fn a_wrong_current_password_is_refused_and_counted(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("LEARNERS_MAX_FAILED_LOGINS", "3")]).await;
    let (address, cookie) = learner(&app, "wrong-").await;
    let change = |current: &str| json!({"current_password": current, "new_password": NEW_PASSWORD});
    for _ in 0..3 {
        let wrong = post(&app, "/account/password", &cookie, change("not my password at all")).await;
        assert_eq!(wrong.status(), 403);
        assert_eq!(wrong.json::<Value>().await.unwrap()["error"]["code"], "invalid_password");
    }
    // Counted: the lock is on, and now the right password is refused too (one answer), and the
    // owner is told of the lock.
    let locked = post(&app, "/account/password", &cookie, change(PASSWORD)).await;
    assert_eq!(locked.status(), 403);
    assert!(live(&app, &cookie).await, "a refusal ends nothing");
    assert!(
        app.mail_to(&address).await.iter().any(|m| m.subject.contains("is paused")),
        "the owner is told of the lock"
    );
    // The password did not change.
    sign_in(&app, &address, PASSWORD).await;

    // The page: the form again, the answer at the field, at the page's own address.
    let page = app
        .with_cookie(Method::POST, "/account/password", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "text/html")
        .body("current_password=nope&new_password=x")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 403);
    let html = page.text().await.unwrap();
    assert!(html.contains("Change my password") && html.contains("current_password-error"), "{html}");
}

async fn a_password_change_ends_every_other_session_and_mails_a_notice(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (address, this) = learner(&app, "change-").await;
    let other = sign_in(&app, &address, PASSWORD).await;
    // A weak new password is refused, and nothing ends.
    let weak =
        post(&app, "/account/password", &this, json!({"current_password": PASSWORD, "new_password": "short"})).await;
    assert_eq!(weak.status(), 422);
    assert!(live(&app, &other).await);

    let changed =
        post(&app, "/account/password", &this, json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}))
            .await;
    assert_eq!(changed.status(), 200);
    let renewed = cookie_pair(&changed).expect("a fresh session for this browser");
    assert_ne!(renewed, this);
    assert!(live(&app, &renewed).await, "this browser stays signed in");
    assert!(!live(&app, &other).await, "the other browser is signed out");
    assert!(!live(&app, &this).await, "the old cookie of this browser is worth nothing");
    assert_eq!(app.sign_in(&address, PASSWORD).await.status(), 401, "the old password");
    sign_in(&app, &address, NEW_PASSWORD).await;

    let mails = app.mail_to(&address).await;
    let notice = mails.iter().find(|m| m.subject.contains("password was changed")).expect("a notice");
    assert!(notice.body.contains("If this was not you") && notice.body.contains("/password-reset"), "{}", notice.body);
    let audit = data(&app, &renewed).await["audit"].clone();
    assert!(audit.as_array().unwrap().iter().any(|e| e["action"] == "change_password" && e["by"] == "you"));
}

async fn cross_site_posts_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (address, cookie) = learner(&app, "csrf-").await;
    let other = sign_in(&app, &address, PASSWORD).await;
    let ids = session_ids(&app, &cookie).await;
    assert_eq!(ids.len(), 1);
    let posts = [
        ("/account/name", json!({"name": "Mallory"})),
        ("/account/password", json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})),
        ("/account/sessions/end", json!({"session": ids[0]})),
        ("/account/sessions/end-others", json!({})),
    ];
    for (path, body) in posts {
        for origin in ["https://evil.example", "null"] {
            let response = app
                .client
                .post(app.url(path))
                .header("cookie", &cookie)
                .header("origin", origin)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 403, "{path} from {origin}");
            assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "cross_origin");
        }
    }
    assert!(live(&app, &other).await && live(&app, &cookie).await);
    assert_ne!(app.user(&address).await.unwrap()["name"], "Mallory");
    sign_in(&app, &address, PASSWORD).await;
}

async fn a_session_of_another_account_cannot_be_ended(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, mallory) = learner(&app, "mallory-").await;
    let (victim, victims) = learner(&app, "victim-").await;
    let victims_other = sign_in(&app, &victim, PASSWORD).await;
    let ids = session_ids(&app, &victims).await;
    assert_eq!(ids.len(), 1, "the victim's page offers to end their other session");

    let refused = post(&app, "/account/sessions/end", &mallory, json!({"session": ids[0]})).await;
    assert_eq!(refused.status(), 404);
    assert!(live(&app, &victims_other).await, "another account's session is not ended");
    for made_up in ["", "0", &"a".repeat(32)] {
        let refused = post(&app, "/account/sessions/end", &victims, json!({"session": made_up})).await;
        assert_eq!(refused.status(), 404, "{made_up:?}");
    }

    // Its owner ends it.
    let ended = post(&app, "/account/sessions/end", &victims, json!({"session": ids[0]})).await;
    assert_eq!(ended.status(), 200);
    assert!(!live(&app, &victims_other).await);
    assert!(live(&app, &victims).await);
    assert!(session_ids(&app, &victims).await.is_empty());
}

async fn signing_out_everywhere_else_keeps_this_browser(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (address, this) = learner(&app, "elsewhere-").await;
    let others = [sign_in(&app, &address, PASSWORD).await, sign_in(&app, &address, PASSWORD).await];
    assert_eq!(session_ids(&app, &this).await.len(), 2);
    let done = app.with_cookie(Method::POST, "/account/sessions/end-others", &this).send().await.unwrap();
    assert_eq!(done.status(), 200);
    let renewed = cookie_pair(&done).expect("a fresh session");
    assert!(live(&app, &renewed).await);
    for other in &others {
        assert!(!live(&app, other).await);
    }
    assert!(session_ids(&app, &renewed).await.is_empty());
    assert_eq!(data(&app, &renewed).await["sessions"].as_array().unwrap().len(), 1);
    // The password still works.
    sign_in(&app, &address, PASSWORD).await;
}

/// A learner's session ends after `LEARNERS_SESSION_IDLE_SECONDS` without a request: the list
/// leaves it out, while the session used meanwhile stays.
async fn the_list_leaves_out_sessions_idle_past_their_limit(backend: Backend) {
    let idle = 3_600;
    let app = TestApp::spawn_with(backend, &[("LEARNERS_SESSION_IDLE_SECONDS", "3600")]).await;
    let (address, used) = learner(&app, "idle-").await;
    let _idle = sign_in(&app, &address, PASSWORD).await;
    assert_eq!(data(&app, &used).await["sessions"].as_array().unwrap().len(), 2);
    app.clock.advance(idle - 600);
    assert!(live(&app, &used).await, "a request records the session's use");
    app.clock.advance(600);
    let sessions = data(&app, &used).await["sessions"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 1, "the idle one is left out: {sessions:?}");
    assert_eq!(sessions[0]["this_browser"], true);
    assert!(session_ids(&app, &used).await.is_empty(), "nothing to end on the page either");
}
