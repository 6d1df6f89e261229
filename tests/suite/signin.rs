//! Sign-in, sessions and brute-force lockout, through the gateway on both backends.

use learners_tests::{cookie_pair, email, on_both_backends, unique, Backend, TestApp, PASSWORD, SITE_URL};
use reqwest::Method;
use std::sync::Arc;

on_both_backends!(
    sign_in_read_the_account_sign_out_and_the_old_cookie_is_refused,
    six_wrong_passwords_lock_until_the_lock_runs_out,
    fifty_parallel_wrong_passwords_verify_at_most_six_times_and_lock_once,
    the_counter_is_per_canonical_email,
    unknown_wrong_locked_and_removing_answers_are_byte_identical,
    an_operator_unlocks_and_sees_the_counter,
    a_known_browser_signs_in_from_a_network_over_its_limit,
    after_a_reset_an_old_device_gets_no_attempts_of_its_own,
    a_presented_device_is_replaced_and_an_account_keeps_five,
    all_devices_together_stop_at_the_account_ceiling,
    sign_in_ends_the_presented_session_and_issues_a_new_one,
    a_learner_session_ends_after_its_idle_limit,
    strangers_failures_do_not_block_a_signed_in_users_confirmation,
    parallel_failures_from_one_network_verify_at_most_its_limit,
);

const DEVICE: &str = "__Host-learners_device";
const SESSION: &str = "__Host-learners_session";

/// `name=value` of the response's cookie `name`.
fn cookie_named(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok()?.split(';').next())
        .map(str::trim)
        .find(|pair| pair.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie"))
        .to_owned()
}

/// A JSON sign-in from a browser that sends `cookie`.
async fn sign_in_with(app: &TestApp, address: &str, password: &str, cookie: &str) -> reqwest::Response {
    let body = serde_json::json!({"email": address, "password": password});
    app.with_cookie(Method::POST, "/api/v1/sessions", cookie).json(&body).send().await.unwrap()
}

/// A browser's device cookie, got by signing in once (from a browser without cookies).
async fn device_of(app: &TestApp, address: &str) -> String {
    let response = app.sign_in(address, PASSWORD).await;
    assert_eq!(response.status(), 200);
    cookie_named(&response, DEVICE)
}

async fn user_id(app: &TestApp, address: &str) -> learners::domain::UserId {
    let key = learners::domain::Email::parse(address).unwrap().key();
    app.app.store.user_by_email_key(&key).await.unwrap().expect("an account").id
}

async fn a_known_browser_signs_in_from_a_network_over_its_limit(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("LEARNERS_MAX_FAILED_LOGINS_PER_IP", "3")]).await;
    let owner = email("campus-");
    app.active_account(&owner, &unique("campus")).await;
    let device = device_of(&app, &owner).await;
    for _ in 0..3 {
        assert_eq!(app.sign_in(&email("sprayed-"), "Summer2026!").await.status(), 401);
    }
    // Another browser on the same network, without the account's device cookie: told when to
    // come back, as JSON and as a page.
    let refused = app.sign_in(&owner, PASSWORD).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "3600");
    let form = format!("email={}&password={}", learners_tests::urlencode(&owner), learners_tests::urlencode(PASSWORD));
    let page = app.post_raw("/api/v1/sessions", "application/x-www-form-urlencoded", form).await;
    assert_eq!(page.status(), 429);
    assert_eq!(page.headers()["retry-after"], "3600");
    assert!(page.text().await.unwrap().contains("Try again in 1 hour"));
    // The browser holding the account's device cookie signs in.
    let known = sign_in_with(&app, &owner, PASSWORD, &device).await;
    assert_eq!(known.status(), 200);
    // Its new device cookie goes on working; a wrong password from it is an ordinary failure.
    let device = cookie_named(&known, DEVICE);
    assert_eq!(sign_in_with(&app, &owner, "not the password at all", &device).await.status(), 401);
    assert_eq!(sign_in_with(&app, &owner, PASSWORD, &device).await.status(), 200);
    // Another account's device cookie proves nothing about this account.
    let other = email("other-");
    app.active_account(&other, &unique("other")).await;
    assert_eq!(sign_in_with(&app, &other, PASSWORD, &device).await.status(), 429);
}

async fn after_a_reset_an_old_device_gets_no_attempts_of_its_own(backend: Backend) {
    use learners::ports::Clock;
    let app = TestApp::spawn_with(backend, &[("LEARNERS_MAX_FAILED_LOGINS", "3")]).await;
    let owner = email("reset-dev-");
    app.active_account(&owner, &unique("resetdev")).await;
    let device = device_of(&app, &owner).await;
    // Before the reset, the device's failures are its own: the account stays open to others.
    for _ in 0..3 {
        assert_eq!(sign_in_with(&app, &owner, "not the password at all", &device).await.status(), 401);
    }
    let device = device_of(&app, &owner).await;
    // The password is reset (the epoch goes up).
    app.post_json("/api/v1/password-resets", &serde_json::json!({ "email": owner })).await;
    app.settle().await;
    let link = app.mailed_link(&owner, "Reset", "/password-reset/").await;
    let token = link.rsplit('/').next().unwrap();
    let new_password = "violet kettle drums 42";
    let path = format!("/api/v1/password-resets/{token}");
    let reset = app.post_json(&path, &serde_json::json!({"password": new_password})).await;
    assert_eq!(reset.status(), 204);
    // The old device is an unknown browser now: its failures lock the account for every
    // unknown browser, and it has no attempts of its own.
    for _ in 0..3 {
        assert_eq!(sign_in_with(&app, &owner, "not the password at all", &device).await.status(), 401);
    }
    assert_eq!(app.sign_in(&owner, new_password).await.status(), 401, "locked for unknown browsers");
    assert_eq!(sign_in_with(&app, &owner, new_password, &device).await.status(), 401, "and for the old device");
    let user = app.user(&owner).await.unwrap();
    assert!(user["locked_until"].is_string(), "{user}");
    // Once the lock runs out, a sign-in from the old device replaces it with a current one.
    app.clock.advance(1801);
    let id = user_id(&app, &owner).await;
    let before = app.app.sessions.known_devices(&id, app.clock.now()).await.unwrap().len();
    let again = sign_in_with(&app, &owner, new_password, &device).await;
    assert_eq!(again.status(), 200);
    let known = app.app.sessions.known_devices(&id, app.clock.now()).await.unwrap();
    assert_eq!(known.len(), before, "replaced, not added");
    let current = cookie_named(&again, DEVICE);
    for _ in 0..3 {
        assert_eq!(sign_in_with(&app, &owner, "not the password at all", &current).await.status(), 401);
    }
    assert_eq!(app.sign_in(&owner, new_password).await.status(), 200, "the current device's failures are its own");
}

async fn a_presented_device_is_replaced_and_an_account_keeps_five(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = email("devices-");
    app.active_account(&owner, &unique("devices")).await;
    let id = user_id(&app, &owner).await;
    use learners::ports::Clock;
    let now = || app.clock.now();
    let first = device_of(&app, &owner).await;
    assert_eq!(app.app.sessions.known_devices(&id, now()).await.unwrap().len(), 1);
    let again = sign_in_with(&app, &owner, PASSWORD, &first).await;
    assert_eq!(again.status(), 200);
    let second = cookie_named(&again, DEVICE);
    assert_ne!(first, second);
    // Replaced, not added: the old token is no device any more.
    let known = app.app.sessions.known_devices(&id, now()).await.unwrap();
    let hash_of = |pair: &str| learners::domain::Token::parse(pair.split_once('=').unwrap().1).unwrap().hash();
    assert_eq!(known, vec![hash_of(&second)]);
    // Seven new browsers: the account keeps the five newest.
    let mut newest = Vec::new();
    for _ in 0..7 {
        app.clock.advance(1);
        newest.push(device_of(&app, &owner).await);
    }
    let known = app.app.sessions.known_devices(&id, now()).await.unwrap();
    assert_eq!(known, newest[2..].iter().map(|pair| hash_of(pair)).collect::<Vec<_>>());
}

async fn all_devices_together_stop_at_the_account_ceiling(backend: Backend) {
    // Two failures lock one device; all devices together get four (twice as many).
    let app = TestApp::spawn_with(backend, &[("LEARNERS_MAX_FAILED_LOGINS", "2")]).await;
    let owner = email("ceiling-");
    app.active_account(&owner, &unique("ceiling")).await;
    let mut devices = Vec::new();
    for _ in 0..3 {
        devices.push(device_of(&app, &owner).await);
    }
    for device in &devices[..2] {
        for _ in 0..2 {
            assert_eq!(sign_in_with(&app, &owner, "not the password at all", device).await.status(), 401);
        }
    }
    // The third device has had no failure of its own, but the account's devices are spent.
    assert_eq!(sign_in_with(&app, &owner, PASSWORD, &devices[2]).await.status(), 401);
    // Browsers the account does not know count apart.
    assert_eq!(app.sign_in(&owner, PASSWORD).await.status(), 200);
    // Once the lock runs out, the device signs in again.
    app.clock.advance(1801);
    assert_eq!(sign_in_with(&app, &owner, PASSWORD, &devices[2]).await.status(), 200);
}

async fn sign_in_ends_the_presented_session_and_issues_a_new_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = email("fixation-");
    app.active_account(&owner, &unique("fixation")).await;
    let first = app.sign_in(&owner, PASSWORD).await;
    let old = cookie_named(&first, SESSION);
    let again = sign_in_with(&app, &owner, PASSWORD, &old).await;
    assert_eq!(again.status(), 200);
    let new = cookie_named(&again, SESSION);
    assert_ne!(old, new);
    assert_eq!(app.with_cookie(Method::GET, "/api/v1/account", &old).send().await.unwrap().status(), 401);
    assert_eq!(app.with_cookie(Method::GET, "/api/v1/account", &new).send().await.unwrap().status(), 200);
    // A failed sign-in ends nothing.
    let wrong = sign_in_with(&app, &owner, "not the password at all", &new).await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(app.with_cookie(Method::GET, "/api/v1/account", &new).send().await.unwrap().status(), 200);
}

async fn a_learner_session_ends_after_its_idle_limit(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("LEARNERS_SESSION_IDLE_SECONDS", "600")]).await;
    let owner = email("idle-");
    app.active_account(&owner, &unique("idle")).await;
    let cookie = app.session_cookie(&owner, PASSWORD).await;
    let account = |cookie: String| {
        let request = app.with_cookie(Method::GET, "/api/v1/account", &cookie);
        async move { request.send().await.unwrap().status() }
    };
    // Requests keep it alive, each counting from the last (recorded at most once a minute).
    for _ in 0..3 {
        app.clock.advance(500);
        assert_eq!(account(cookie.clone()).await, 200);
    }
    app.clock.advance(30);
    assert_eq!(account(cookie.clone()).await, 200, "within the minute: not written again");
    // The idle limit counts from the last recorded request (30 seconds before the last one):
    // 600 seconds after it, the session is over.
    app.clock.advance(570);
    assert_eq!(account(cookie.clone()).await, 401, "idle too long");
    // The session's lifetime is still the longer limit: a fresh session is fine.
    assert_eq!(account(app.session_cookie(&owner, PASSWORD).await).await, 200);
}

async fn strangers_failures_do_not_block_a_signed_in_users_confirmation(backend: Backend) {
    use learners::flows::signin::verify_own_password;
    let app = TestApp::spawn_with(backend, &[("LEARNERS_MAX_FAILED_LOGINS", "3")]).await;
    let owner = email("confirm-");
    app.active_account(&owner, &unique("confirm")).await;
    let key = learners::domain::Email::parse(&owner).unwrap().key();
    let user = app.app.store.user_by_email_key(&key).await.unwrap().unwrap();
    for _ in 0..3 {
        assert_eq!(app.sign_in(&owner, "a stranger's guess here").await.status(), 401);
    }
    assert_eq!(app.sign_in(&owner, PASSWORD).await.status(), 401, "sign-in is locked for strangers");
    // The signed-in owner's confirmation is counted apart: the lock does not block it.
    assert!(verify_own_password(&app.app, &user, PASSWORD).await.unwrap());
    // Its own failures lock its own path (and only it).
    app.clock.advance(1801);
    for _ in 0..3 {
        assert!(!verify_own_password(&app.app, &user, "not the password at all").await.unwrap());
    }
    assert!(!verify_own_password(&app.app, &user, PASSWORD).await.unwrap(), "locked");
    assert_eq!(app.sign_in(&owner, PASSWORD).await.status(), 200, "sign-in is not");
    // An operator's unlock clears the confirmations' counter too.
    learners::flows::admin::unlock(&app.app, "arn:aws:iam::000000000000:user/test-admin", &owner).await.unwrap();
    assert!(verify_own_password(&app.app, &user, PASSWORD).await.unwrap(), "unlocked by support");
}

async fn sign_in_read_the_account_sign_out_and_the_old_cookie_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let address = email("sign-");
    let username = unique("sign");
    app.active_account(&address, &username).await;

    let response = app.sign_in(&address.to_uppercase().replace("@EXAMPLE.COM", "@example.com"), PASSWORD).await;
    assert_eq!(response.status(), 200);
    let set_cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    let cookie = cookie_pair(&response).unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["user"]["email"], address.as_str());
    assert_eq!(body["user"]["username"], username.as_str());
    assert_eq!(body["user"]["status"], "active");

    let account = app.with_cookie(Method::GET, "/api/v1/account", &cookie).send().await.unwrap();
    assert_eq!(account.status(), 200);
    assert_eq!(account.json::<serde_json::Value>().await.unwrap()["email"], address.as_str());
    let settings = app.with_cookie(Method::GET, "/account/settings", &cookie).send().await.unwrap();
    assert_eq!(settings.status(), 200);
    assert!(settings.text().await.unwrap().contains(&username));

    let out = app.with_cookie(Method::DELETE, "/api/v1/sessions/current", &cookie).send().await.unwrap();
    assert_eq!(out.status(), 204);
    assert!(out.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(app.with_cookie(Method::GET, "/api/v1/account", &cookie).send().await.unwrap().status(), 401);
    let settings = app.with_cookie(Method::GET, "/account/settings", &cookie).send().await.unwrap();
    assert_eq!(settings.status(), 303);
    assert_eq!(settings.headers()["location"], "/login");
}

async fn six_wrong_passwords_lock_until_the_lock_runs_out(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let address = email("lock-");
    app.active_account(&address, &unique("lock")).await;
    for attempt in 1..=6 {
        assert_eq!(app.sign_in(&address, "wrong password here").await.status(), 401, "attempt {attempt}");
    }
    // Locked: the right password is refused, and no password is verified.
    let before = app.verifications.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(app.sign_in(&address, PASSWORD).await.status(), 401);
    assert_eq!(
        app.verifications.load(std::sync::atomic::Ordering::SeqCst),
        before,
        "a locked attempt verifies nothing"
    );
    // Still locked one second before the end of the lock, and that attempt does not extend it.
    app.clock.advance(1800 - 1);
    assert_eq!(app.sign_in(&address, PASSWORD).await.status(), 401);
    app.clock.advance(1);
    assert_eq!(app.sign_in(&address, PASSWORD).await.status(), 200);
    // A success resets the count: five new failures do not lock.
    for _ in 0..5 {
        assert_eq!(app.sign_in(&address, "wrong password here").await.status(), 401);
    }
    assert_eq!(app.sign_in(&address, PASSWORD).await.status(), 200);
}

async fn fifty_parallel_wrong_passwords_verify_at_most_six_times_and_lock_once(backend: Backend) {
    let app = Arc::new(TestApp::spawn(backend).await);
    let address = email("storm-");
    app.active_account(&address, &unique("storm")).await;
    let before = app.verifications.load(std::sync::atomic::Ordering::SeqCst);
    let attempts: Vec<_> = (0..50)
        .map(|i| {
            let app = app.clone();
            let address = address.clone();
            tokio::spawn(async move { app.sign_in(&address, &format!("guess number {i}")).await.status().as_u16() })
        })
        .collect();
    for attempt in attempts {
        assert_eq!(attempt.await.unwrap(), 401);
    }
    let verified = app.verifications.load(std::sync::atomic::Ordering::SeqCst) - before;
    assert!((1..=6).contains(&verified), "{verified} verifications ran");
    let user = app.user(&address).await.unwrap();
    assert!(user["locked_until"].is_string(), "{user}");
    assert_eq!(user["failed_logins"], 6);
    let lockout_mails: Vec<_> =
        app.mail_to(&address).await.into_iter().filter(|m| m.subject.contains("paused")).collect();
    assert_eq!(lockout_mails.len(), 1);
    assert!(lockout_mails[0].body.contains("6 failed sign-in attempts"));
    assert!(lockout_mails[0].body.contains(&format!("{SITE_URL}/password-reset")));
    assert_eq!(app.sign_in(&address, PASSWORD).await.status(), 401);
}

/// The network's attempt is reserved before verifying (one atomic conditional write), so a
/// burst from one address verifies at most the limit, whatever arrives at once.
async fn parallel_failures_from_one_network_verify_at_most_its_limit(backend: Backend) {
    let app = Arc::new(TestApp::spawn_with(backend, &[("LEARNERS_MAX_FAILED_LOGINS_PER_IP", "3")]).await);
    let before = app.verifications.load(std::sync::atomic::Ordering::SeqCst);
    let attempts: Vec<_> = (0..20)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { app.sign_in(&email("burst-"), "Summer2026!").await.status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }
    let verified = app.verifications.load(std::sync::atomic::Ordering::SeqCst) - before;
    assert_eq!(verified, 3, "{verified} verifications ran");
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 3, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 17, "{statuses:?}");
}

async fn the_counter_is_per_canonical_email(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let local = unique("victim-");
    let lower = format!("{local}@example.com");
    let mixed = format!("{}@Example.com", local.to_uppercase());
    app.active_account(&lower, &unique("victim")).await;
    for i in 0..6 {
        let address = if i % 2 == 0 { &mixed } else { &lower };
        assert_eq!(app.sign_in(address, "not the password").await.status(), 401);
    }
    assert_eq!(app.sign_in(&lower, PASSWORD).await.status(), 401, "locked for every spelling");
    assert!(app.user(&lower).await.unwrap()["locked_until"].is_string());
}

async fn unknown_wrong_locked_and_removing_answers_are_byte_identical(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (active, locked, removing) = (email("known-"), email("locked-"), email("leaving-"));
    for address in [&active, &locked, &removing] {
        app.active_account(address, &unique("u")).await;
    }
    for _ in 0..6 {
        app.sign_in(&locked, "not the password").await;
    }
    let id = app.user(&removing).await.unwrap()["user_id"].as_str().unwrap().to_owned();
    assert!(app.app.store.request_removal(&learners::domain::UserId::parse(&id).unwrap()).await.unwrap());

    let answers = [
        app.sign_in(&email("nobody-"), PASSWORD).await,
        app.sign_in(&active, "not the password").await,
        app.sign_in(&locked, PASSWORD).await,
        app.sign_in(&removing, PASSWORD).await,
    ];
    let mut seen = Vec::new();
    for answer in answers {
        let status = answer.status();
        let mut headers: Vec<(String, String)> = answer
            .headers()
            .iter()
            .filter(|(name, _)| *name != "date")
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
            .collect();
        headers.sort();
        seen.push((status, headers, answer.bytes().await.unwrap()));
    }
    assert_eq!(seen[0].0, 401);
    let body: serde_json::Value = serde_json::from_slice(&seen[0].2).unwrap();
    assert_eq!(body["error"]["code"], "invalid_credentials");
    assert_eq!(
        body["error"]["message"],
        "Email or password is incorrect. After 6 failed attempts, sign-in is paused for 30 minutes."
    );
    for other in &seen[1..] {
        assert_eq!(other, &seen[0]);
    }
}

async fn an_operator_unlocks_and_sees_the_counter(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let address = email("unlock-");
    app.active_account(&address, &unique("unlock")).await;
    for _ in 0..2 {
        app.sign_in(&address, "not the password").await;
    }
    let user = app.user(&address).await.unwrap();
    assert_eq!((user["failed_logins"].as_u64(), user["locked_until"].is_null()), (Some(2), true));
    for _ in 0..4 {
        app.sign_in(&address, "not the password").await;
    }
    assert!(app.user(&address).await.unwrap()["locked_until"].is_string());

    let unlock = |body: serde_json::Value, token: Option<&'static str>| {
        let mut request = app.client.post(app.url("/admin/v1/users/unlock")).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let anonymous = unlock(serde_json::json!({"email": address}), None).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(app.user(&address).await.unwrap()["locked_until"].is_string(), "a refused unlock changes nothing");
    let unlocked = unlock(serde_json::json!({"email": address}), Some(learners_tests::ADMIN_TOKEN)).await.unwrap();
    assert_eq!(unlocked.status(), 204);
    let user = app.user(&address).await.unwrap();
    assert_eq!((user["failed_logins"].as_u64(), user["locked_until"].is_null()), (Some(0), true));
    assert_eq!(app.sign_in(&address, PASSWORD).await.status(), 200);
    let unknown =
        unlock(serde_json::json!({"email": email("ghost-")}), Some(learners_tests::ADMIN_TOKEN)).await.unwrap();
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn a_cross_origin_request_with_a_valid_cookie_is_refused() {
    let app = TestApp::spawn(Backend::Memory).await;
    let address = email("csrf-");
    app.active_account(&address, &unique("csrf")).await;
    let cookie = app.session_cookie(&address, PASSWORD).await;
    let delete = |origin: Option<&'static str>, referer: Option<&'static str>| {
        let mut request = app.client.delete(app.url("/api/v1/sessions/current")).header("cookie", &cookie);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        if let Some(referer) = referer {
            request = request.header("referer", referer);
        }
        request.send()
    };
    for (origin, referer) in [
        (Some("https://evil.example"), None),
        (None, Some("https://evil.example/page")),
        (None, Some("https://learn.example.org.evil.example/")),
        (None, None),
        (Some("null"), Some("https://learn.example.org/account/settings")),
    ] {
        let response = delete(origin, referer).await.unwrap();
        assert_eq!(response.status(), 403, "{origin:?} {referer:?}");
        assert_eq!(response.json::<serde_json::Value>().await.unwrap()["error"]["code"], "cross_origin");
    }
    // The session survived every refused request; from the site itself, sign-out works.
    assert_eq!(app.with_cookie(Method::GET, "/api/v1/account", &cookie).send().await.unwrap().status(), 200);
    let same_site = delete(None, Some("https://learn.example.org/account/settings")).await.unwrap();
    assert_eq!(same_site.status(), 204);
}

#[tokio::test]
async fn a_pending_account_with_the_right_password_is_told_to_activate() {
    let app = TestApp::spawn(Backend::Memory).await;
    let address = email("pending-");
    assert_eq!(app.register(&address, &unique("pending")).await.status(), 202);
    let response = app.sign_in(&address, PASSWORD).await;
    assert_eq!(response.status(), 403);
    assert!(response.headers().get("set-cookie").is_none());
    let error = &response.json::<serde_json::Value>().await.unwrap()["error"];
    assert_eq!(error["code"], "not_activated");
    assert!(error["message"].as_str().unwrap().contains("activation"));
    // With a wrong password it is just a wrong password.
    assert_eq!(app.sign_in(&address, "not the password").await.status(), 401);
}

#[tokio::test]
async fn the_login_form_signs_in_without_javascript() {
    let app = TestApp::spawn(Backend::Memory).await;
    let page = app.get("/login").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<a href="/password-reset">Forgot my password</a>"#));
    assert!(html.contains(r#"action="/login""#), "the form posts to its own page");

    let address = email("form-");
    app.active_account(&address, &unique("form")).await;
    let form =
        format!("email={}&password={}", learners_tests::urlencode(&address), learners_tests::urlencode(PASSWORD));
    let response = app.post_raw("/login", "application/x-www-form-urlencoded", form).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/account/settings");
    let cookie = cookie_pair(&response).unwrap();
    assert_eq!(app.with_cookie(Method::GET, "/account/settings", &cookie).send().await.unwrap().status(), 200);

    let wrong = format!("email={}&password=nope", learners_tests::urlencode(&address));
    let response = app.post_raw("/login", "application/x-www-form-urlencoded", wrong).await;
    assert_eq!(response.status(), 401);
    assert!(response.text().await.unwrap().contains("Email or password is incorrect"));
}

#[tokio::test]
async fn expired_or_forged_sessions_are_refused_and_the_cookie_is_host_only_and_secure() {
    let app = TestApp::spawn(Backend::Memory).await;
    let address = email("expire-");
    app.active_account(&address, &unique("expire")).await;
    let cookie = app.session_cookie(&address, PASSWORD).await;
    for forged in [
        "__Host-learners_session=abc",
        "__Host-learners_session=",
        &format!("__Host-learners_session={}", "A".repeat(43)),
        // The old name, or the name without its prefix (what a sibling subdomain could set).
        &cookie.replace("__Host-learners_session", "learners_session"),
    ] {
        assert_eq!(app.with_cookie(Method::GET, "/api/v1/account", forged).send().await.unwrap().status(), 401);
    }
    app.clock.advance(1_209_600);
    assert_eq!(app.with_cookie(Method::GET, "/api/v1/account", &cookie).send().await.unwrap().status(), 401);

    let local = TestApp::spawn_with(Backend::Memory, &[("LEARNERS_SITE_URL", "http://127.0.0.1:3000")]).await;
    let address = email("plain-");
    assert_eq!(local.register(&address, &unique("plain")).await.status(), 202);
    let text = local.mail_to(&address).await[0].body.clone();
    let link = text.split_whitespace().find(|w| w.starts_with("http://127.0.0.1:3000/activate/")).unwrap();
    local.activate_link(link).await;
    let response = local.sign_in(&address, PASSWORD).await;
    assert_eq!(response.status(), 200);
    // `__Host-` and Secure even on plain-HTTP loopback (browsers treat it as secure); no HSTS
    // there, HSTS on an https site.
    let set_cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set_cookie.starts_with("__Host-learners_session="), "{set_cookie}");
    assert!(set_cookie.contains("; Secure;") && set_cookie.contains("Path=/") && !set_cookie.contains("Domain"));
    assert!(response.headers().get("strict-transport-security").is_none());
    let https = app.get("/login").await;
    assert_eq!(https.headers()["strict-transport-security"], "max-age=31536000; includeSubDomains");
}

/// Password spraying: failures from one source IP across many accounts stop every sign-in
/// from there that does not come from a browser the account knows, with a 429 that says when to
/// come back, until the hour ends.
#[tokio::test]
async fn failures_from_one_ip_across_accounts_are_throttled() {
    let app = TestApp::spawn_with(Backend::Memory, &[("LEARNERS_MAX_FAILED_LOGINS_PER_IP", "5")]).await;
    let victim = email("sprayed-");
    app.active_account(&victim, &unique("sprayed")).await;
    for _ in 0..5 {
        assert_eq!(app.sign_in(&email("nobody-"), "Summer2026!").await.status(), 401);
    }
    // Five failures from 127.0.0.1: the right password of another account is refused too.
    let throttled = app.sign_in(&victim, PASSWORD).await;
    assert_eq!(throttled.status(), 429);
    assert_eq!(throttled.headers()["retry-after"], "3600");
    let body: serde_json::Value = throttled.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_attempts", "{body}");
    app.clock.advance(1800);
    assert_eq!(app.sign_in(&victim, PASSWORD).await.headers()["retry-after"], "1800", "the time left");
    app.clock.advance(1801);
    assert_eq!(app.sign_in(&victim, PASSWORD).await.status(), 200, "the hour is over");

    // 0 switches the limit off.
    let off = TestApp::spawn_with(Backend::Memory, &[("LEARNERS_MAX_FAILED_LOGINS_PER_IP", "0")]).await;
    let owner = email("free-");
    off.active_account(&owner, &unique("free")).await;
    for _ in 0..20 {
        off.sign_in(&email("nobody-"), "Summer2026!").await;
    }
    assert_eq!(off.sign_in(&owner, PASSWORD).await.status(), 200);
}

/// Successes use none of a network's quota: a campus signing in all day is not throttled by its
/// own successes (the attempt is reserved before verifying, and given back).
#[tokio::test]
async fn successes_use_none_of_the_networks_quota() {
    let app = TestApp::spawn_with(Backend::Memory, &[("LEARNERS_MAX_FAILED_LOGINS_PER_IP", "3")]).await;
    let owner = email("busy-");
    app.active_account(&owner, &unique("busy")).await;
    for _ in 0..2 {
        assert_eq!(app.sign_in(&email("nobody-"), "Summer2026!").await.status(), 401);
    }
    for _ in 0..10 {
        assert_eq!(app.sign_in(&owner, PASSWORD).await.status(), 200);
    }
    assert_eq!(app.sign_in(&email("nobody-"), "Summer2026!").await.status(), 401, "the third failure");
    assert_eq!(app.sign_in(&owner, PASSWORD).await.status(), 429, "now the network is over its limit");
}

/// A sign-in counter's key is an HMAC of the address under the site's key: a copy of the table
/// cannot be checked against a list of addresses (an unkeyed SHA-256 could).
#[tokio::test]
async fn counter_keys_are_keyed() {
    use sha2::Digest;
    let address = learners::domain::Email::parse("ada@example.com").unwrap();
    let one = TestApp::spawn(Backend::Memory).await;
    let other =
        TestApp::spawn_with(Backend::Memory, &[("LEARNERS_COUNTER_KEY", "another-counter-key-0123456789abcdefghij")])
            .await;
    let key_one = one.app.counter_key(&address).unwrap();
    let key_other = other.app.counter_key(&address).unwrap();
    let unkeyed: String = sha2::Sha256::digest(address.key().as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    assert_ne!(key_one, key_other, "another key, another counter key");
    assert_ne!(key_one, unkeyed);
    assert!(!key_one.contains("ada"));
    // Without a key, nothing is counted under a guessable name: the sign-in refuses to run.
    let (mut app, _parts, _clock) = learners_tests::memory_app();
    let mut config = (*app.config).clone();
    config.counter_key = None;
    app.config = std::sync::Arc::new(config);
    assert!(app.counter_key(&address).is_err());
}

/// The operations dashboard's figures: each outcome of a sign-in is counted once, as it happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_metrics_count_each_outcome_once() {
    use learners::metrics::Metric;
    let app = TestApp::spawn_with(Backend::Memory, &[("LEARNERS_MAX_FAILED_LOGINS", "3")]).await;
    let metrics = &app.app.metrics;
    let address = email("counted-");
    app.active_account(&address, &unique("counted")).await;
    assert_eq!((metrics.total(Metric::Registrations), metrics.total(Metric::Activations)), (1, 1));
    assert_eq!(app.sign_in(&address, PASSWORD).await.status(), 200);
    for _ in 0..3 {
        assert_eq!(app.sign_in(&address, "not the password").await.status(), 401);
    }
    assert_eq!(app.sign_in(&address, PASSWORD).await.status(), 401, "locked");
    let counted =
        [Metric::SignIns, Metric::FailedSignIns, Metric::Locks, Metric::LockedSignIns].map(|m| metrics.total(m));
    assert_eq!(counted, [1, 3, 1, 1]);
    // The lock notice is sent off the request, by the mail worker: wait for it.
    app.settle().await;
    assert!(metrics.total(Metric::MailsSent) >= 2, "the activation mail and the lock notice");
}
