//! Issue 22, authenticator codes, as a learner meets them in the browser: set up an app from the
//! settings page (reading the secret the page shows as text, as a person types it into an app),
//! sign out, sign in with the password and then "Code from your app"; and a recovery code
//! behind "Use a recovery code". Clicking and typing only.

use learners::domain::second_factor::totp;
use learners_tests::browser::Browser;
use learners_tests::{Backend, TestApp, PASSWORD};

async fn sign_in(site: &TestApp, b: &Browser, address: &str) {
    b.open(&site.url("/login")).await;
    b.fill("Email", address).await;
    b.fill("Password", PASSWORD).await;
    b.press("Sign in").await;
}

fn code_now(site: &TestApp, secret: &str) -> String {
    totp::code_at(secret, site.app.clock.now().unix()).expect("a code")
}

async fn a_learner_sets_up_an_app_and_signs_in_with_its_code(backend: Backend) {
    let site = TestApp::spawn_site(backend, &[]).await;
    let b = Browser::start().await;
    let address = site.activated_learner("totp", "Katherine Johnson").await;
    sign_in(&site, &b, &address).await;
    assert_eq!(b.path().await, "/account/settings");
    assert!(b.text().await.contains("Second factors"));
    b.snap("settings-second-factors").await;

    b.follow("Set up an authenticator app").await;
    assert_eq!(b.heading().await, "Set up an authenticator app");
    assert!(b.has(r#"svg[role="img"][aria-label]"#).await, "a QR code the page draws itself");
    b.snap("authenticator-setup").await;
    let secret: String = b.text_of("main code").await.split_whitespace().collect();
    assert_eq!(secret.len(), 32, "the secret as text: {secret}");
    b.fill("Code from your app", &code_now(&site, &secret)).await;
    b.press("Confirm").await;
    assert_eq!(b.heading().await, "Your authenticator app is set up");
    let page = b.text().await;
    assert!(page.contains("Keep these recovery codes somewhere safe"), "{page}");
    let codes: Vec<String> = b.text_of("ol.recovery-codes").await.lines().map(|l| l.trim().to_owned()).collect();
    assert_eq!(codes.len(), 10, "{codes:?}");
    b.snap("recovery-codes").await;

    b.follow("Back to account settings").await;
    assert!(b.text().await.contains("Recovery codes left: 10."));
    b.press("Sign out").await;
    assert_eq!(b.path().await, "/login");

    // The password alone is not enough now: the second step asks for the app's code.
    sign_in(&site, &b, &address).await;
    assert_eq!(b.path().await, "/login/second-factor");
    assert_eq!(b.heading().await, "Confirm it is you");
    b.snap("second-factor").await;
    b.fill("Code from your app", "000000").await;
    b.press("Continue").await;
    assert_eq!(b.status().await, 401);
    assert!(b.text().await.contains("The code is not right"));
    site.clock.advance(30);
    b.fill("Code from your app", &code_now(&site, &secret)).await;
    b.press("Continue").await;
    assert_eq!(b.path().await, "/account/settings", "signed in with password and code");
    assert!(b.text().await.contains(&address));
    b.press("Sign out").await;

    // A recovery code, behind its link.
    sign_in(&site, &b, &address).await;
    b.follow("Use a recovery code").await;
    b.snap("second-factor-recovery").await;
    b.fill("Recovery code", &codes[0]).await;
    b.press("Continue").await;
    assert_eq!(b.path().await, "/account/settings");
    assert!(b.text().await.contains("Recovery codes left: 9."), "a recovery code works once");
    b.quit().await;
}

const LMS_PAGE: &str = "<!doctype html><html lang=\"en\"><head><title>LMS</title></head>\
<body><main><h1>Back at the LMS</h1></main></body></html>";

/// An application's authorization, for a learner with an app: the sign-in page, the second
/// step, and back at the application, whose ID token says a code was used.
async fn an_application_signs_in_a_learner_with_a_code(backend: Backend) {
    let site = TestApp::spawn_site(backend, &[]).await;
    let (lms, _server) = learners_tests::browser::serve_page("127.0.0.1", LMS_PAGE.to_owned()).await;
    let rp = site.register_rp(&lms, false).await;
    let address = site.activated_learner("totp", "Katherine Johnson").await;
    let key = learners::domain::Email::parse(&address).unwrap().key();
    let user = site.app.store.user_by_email_key(&key).await.unwrap().expect("the account");
    let setup = learners::flows::totp::begin_setup(&site.app, &user).await.expect("a setup");
    let code = code_now(&site, &setup.secret);
    learners::flows::totp::confirm_setup(&site.app, &user, &setup.token, &code).await.expect("set up");
    site.clock.advance(30);

    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", &rp.client_id)
        .append_pair("redirect_uri", &lms)
        .append_pair("scope", "openid email")
        .append_pair("state", "st-b")
        .append_pair("nonce", "no-b")
        .finish();
    let b = Browser::start().await;
    b.open(&site.url(&format!("/oauth2/authorize?{query}"))).await;
    assert_eq!(b.path().await, "/login");
    b.fill("Email", &address).await;
    b.fill("Password", PASSWORD).await;
    b.press("Sign in").await;
    assert_eq!(b.path().await, "/login/second-factor");
    b.fill("Code from your app", &code_now(&site, &setup.secret)).await;
    b.press("Continue").await;
    assert_eq!(b.heading().await, "Back at the LMS", "the second step's form may end at the application");
    let params = learners_tests::oidc::query_of(&b.url().await);
    assert_eq!(params["state"], "st-b");

    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", &params["code"])
        .append_pair("redirect_uri", &lms)
        .append_pair("client_id", &rp.client_id)
        .append_pair("client_secret", rp.client_secret.as_deref().unwrap())
        .finish();
    let tokens: serde_json::Value =
        site.post_raw("/oauth2/token", "application/x-www-form-urlencoded", form).await.json().await.unwrap();
    use base64::Engine;
    let payload = tokens["id_token"].as_str().expect("an ID token").split('.').nth(1).unwrap().to_owned();
    let claims: serde_json::Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_with_a_code_memory() {
    an_application_signs_in_a_learner_with_a_code(Backend::Memory).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory() {
    a_learner_sets_up_an_app_and_signs_in_with_its_code(Backend::Memory).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto() {
    a_learner_sets_up_an_app_and_signs_in_with_its_code(Backend::Moto).await
}
