//! Second factors through the gateway, on both backends: the sign-in's second step (an
//! authenticator code or a recovery code after the password), codes taken once, the lockout
//! they count in, and the pending sign-in's end.

use learners::domain::second_factor::totp;
use learners::domain::{RecoveryCodes, SecondFactors, TotpFactor, UserId};
use learners_tests::oidc::location;
use learners_tests::{email, on_both_backends, Backend, TestApp, PASSWORD};

on_both_backends!(a_code_after_the_password_signs_in_and_works_once,);

const PENDING: &str = "__Host-learners-2fa";
const SESSION: &str = "__Host-learners_session";
const DEVICE: &str = "__Host-learners_device";

/// `name=value` of the response's cookie `name`, if it sets one.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with(&format!("{name}=")))
        .map(|value| value.split(';').next().unwrap_or_default().trim().to_owned())
}

async fn user_id(t: &TestApp, address: &str) -> UserId {
    let key = learners::domain::Email::parse(address).unwrap().key();
    t.app.store.user_by_email_key(&key).await.unwrap().expect("an account").id
}

/// A form post from the site's own page, with `cookies` (`a=b; c=d`).
async fn post_form(t: &TestApp, path: &str, cookies: &str, pairs: &[(&str, &str)]) -> reqwest::Response {
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    let mut request = t
        .client
        .post(t.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", &t.app.config.site_url)
        .body(body);
    if !cookies.is_empty() {
        request = request.header("cookie", cookies);
    }
    request.send().await.expect("a form post")
}

/// A page, as a browser asks for it.
async fn page(t: &TestApp, path: &str, cookies: &str) -> reqwest::Response {
    let mut request = t.client.get(t.url(path)).header("accept", "text/html");
    if !cookies.is_empty() {
        request = request.header("cookie", cookies);
    }
    request.send().await.expect("a page")
}

/// The sign-in form with the right password, from a browser with `cookies`: the second step's
/// cookie.
async fn password_step(t: &TestApp, address: &str, cookies: &str, next: &str) -> String {
    let response =
        post_form(t, "/api/v1/sessions", cookies, &[("email", address), ("password", PASSWORD), ("next", next)]).await;
    assert_eq!(response.status(), 303, "the password is right");
    let expected = format!("/login/second-factor?next={}", learners_tests::urlencode(next));
    assert_eq!(location(&response), expected);
    assert!(set_cookie(&response, SESSION).is_none(), "no session for the password alone");
    set_cookie(&response, PENDING).expect("the second step's cookie")
}

/// The code typed on the second step's page.
async fn code_step(t: &TestApp, pending: &str, other_cookies: &str, code: &str) -> reqwest::Response {
    let cookies = if other_cookies.is_empty() { pending.to_owned() } else { format!("{pending}; {other_cookies}") };
    post_form(t, "/login/second-factor", &cookies, &[("code", code), ("next", "/account/settings")]).await
}

fn now(t: &TestApp) -> i64 {
    t.app.clock.now().unix()
}

async fn a_code_after_the_password_signs_in_and_works_once(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let address = email("second-");
    t.active_account(&address, &learners_tests::unique("sf")).await;
    let id = user_id(&t, &address).await;
    let secret = totp::new_secret();
    let (codes, hashes) = RecoveryCodes::generate();
    let factors = SecondFactors {
        version: 1,
        totp: Some(TotpFactor { secret: secret.clone(), last_step: 0, created_at: now(&t) }),
        passkeys: vec![],
        recovery_codes: hashes,
    };
    assert!(t.app.factors.save_second_factors(&id, &factors).await.unwrap());

    // The password, then the page that asks for the code.
    let pending = password_step(&t, &address, "", "/account/settings").await;
    let step = page(&t, "/login/second-factor?next=%2Faccount%2Fsettings", &pending).await;
    assert_eq!(step.status(), 200);
    let html = step.text().await.unwrap();
    assert!(html.contains("Code from your app"), "{html}");
    assert!(html.contains("Use a recovery code"), "{html}");
    assert!(!html.contains("Use a passkey"), "no passkey, no passkey button");
    let recovery = page(&t, "/login/second-factor?recovery=1", &pending).await.text().await.unwrap();
    assert!(recovery.contains("Recovery code"), "{recovery}");

    // A wrong code: the page again, with the one message.
    let wrong = code_step(&t, &pending, "", "000000").await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.text().await.unwrap().contains("The code is not right"));

    let code = totp::code_at(&secret, now(&t)).unwrap();
    let done = code_step(&t, &pending, "", &code).await;
    assert_eq!(done.status(), 303);
    assert_eq!(location(&done), "/account/settings");
    let session = set_cookie(&done, SESSION).expect("a session");
    assert!(set_cookie(&done, DEVICE).is_some(), "a device cookie");
    assert_eq!(set_cookie(&done, PENDING).as_deref(), Some(format!("{PENDING}=").as_str()), "the pending cookie ends");
    let account = t.client.get(t.url("/api/v1/account")).header("cookie", &session).send().await.unwrap();
    assert_eq!(account.status(), 200);

    // The pending sign-in is over.
    let again = code_step(&t, &pending, "", &code).await;
    assert_eq!(again.status(), 401);
    assert!(again.text().await.unwrap().contains("Sign in again"));

    // The same code in a new sign-in: refused (a code works once).
    let pending = password_step(&t, &address, "", "/account/settings").await;
    let replay = code_step(&t, &pending, "", &code).await;
    assert_eq!(replay.status(), 401);
    assert!(replay.text().await.unwrap().contains("The code is not right"));

    // A recovery code works, once.
    let used = code_step(&t, &pending, "", &codes[0]).await;
    assert_eq!(used.status(), 303);
    let pending = password_step(&t, &address, "", "/account/settings").await;
    let twice = code_step(&t, &pending, "", &codes[0]).await;
    assert_eq!(twice.status(), 401);
    let html = twice.text().await.unwrap();
    assert!(html.contains("The code is not right"));
    assert!(html.contains("Recovery code"), "a recovery code is asked again in its field");

    // A program: told a second factor is needed, then posts the code as JSON.
    let json = t.sign_in(&address, PASSWORD).await;
    assert_eq!(json.status(), 401);
    let pending = set_cookie(&json, PENDING).expect("the second step's cookie");
    let body: serde_json::Value = json.json().await.unwrap();
    assert_eq!(body["error"]["code"], "second_factor_required");
    t.clock.advance(30);
    let code = totp::code_at(&secret, now(&t)).unwrap();
    let signed_in = t
        .client
        .post(t.url("/login/second-factor"))
        .header("cookie", &pending)
        .json(&serde_json::json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 200);
    assert!(set_cookie(&signed_in, SESSION).is_some());
    let body: serde_json::Value = signed_in.json().await.unwrap();
    assert_eq!(body["user"]["email"], address.as_str());
}
