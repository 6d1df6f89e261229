//! Second factors through the gateway, on both backends: the sign-in's second step (an
//! authenticator code or a recovery code after the password), codes taken once, the lockout
//! they count in, and the pending sign-in's end.

use learners::domain::second_factor::totp;
use learners::domain::{RecoveryCodes, SecondFactors, TotpFactor, UserId};
use learners_tests::oidc::{location, query_of};
use learners_tests::{email, on_both_backends, Backend, TestApp, PASSWORD};

on_both_backends!(
    a_code_after_the_password_signs_in_and_works_once,
    one_code_sent_five_times_at_once_signs_in_once,
    a_learner_sets_up_an_app_from_settings_renews_codes_and_removes_it,
    wrong_codes_lock_unknown_browsers_but_a_known_browser_still_signs_in,
    an_expired_or_absent_pending_sign_in_asks_to_sign_in_again,
    a_password_reset_ends_a_pending_sign_in,
    a_second_factor_allows_a_shorter_new_password,
    an_id_token_says_how_the_learner_signed_in_and_a_password_only_session_signs_in_again,
);

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
    let header = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(PENDING))
        .expect("the second step's cookie")
        .to_owned();
    assert!(header.ends_with("; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=600"), "{header}");
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

/// The text between `start` and the next `end` after it.
fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html.find(start).unwrap_or_else(|| panic!("no {start:?} in\n{html}")) + start.len();
    let to = from + html[from..].find(end).expect("the end");
    &html[from..to]
}

/// Every `<li><code>` of a page: the recovery codes it shows.
fn shown_codes(html: &str) -> Vec<String> {
    html.split("<li><code>").skip(1).map(|rest| rest.split('<').next().unwrap_or_default().to_owned()).collect()
}

/// Sets up an authenticator as a learner does on the setup page: reads the secret shown as
/// text, types the app's code. Returns the secret and the page after.
async fn set_up_app(t: &TestApp, session: &str) -> (String, String) {
    let setup = page(t, "/account/authenticator", session).await;
    assert_eq!(setup.status(), 200);
    let html = setup.text().await.unwrap();
    assert!(html.contains("<h1>Set up an authenticator app</h1>"), "{html}");
    assert!(html.contains(r#"role="img" aria-label="QR code"#), "a QR code, drawn inline: {html}");
    assert!(html.contains("Code from your app"));
    let secret: String = between(&html, "Secret: <code>", "</code>").split_whitespace().collect();
    let token = between(&html, r#"name="setup" value=""#, "\"").to_owned();
    let wrong = post_form(t, "/account/authenticator", session, &[("setup", &token), ("code", "000000")]).await;
    assert_eq!(wrong.status(), 401);
    let again = wrong.text().await.unwrap();
    assert!(again.contains("The code is not right"), "{again}");
    assert!(again.contains(&between(&html, "Secret: <code>", "</code>").to_owned()), "the same secret again");
    let code = totp::code_at(&secret, now(t)).unwrap();
    let done = post_form(t, "/account/authenticator", session, &[("setup", &token), ("code", &code)]).await;
    assert_eq!(done.status(), 200);
    let html = done.text().await.unwrap();
    // The setup is spent.
    let twice = post_form(t, "/account/authenticator", session, &[("setup", &token), ("code", &code)]).await;
    assert_eq!(twice.status(), 400);
    (secret, html)
}

async fn a_learner_sets_up_an_app_from_settings_renews_codes_and_removes_it(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let address = email("setup-");
    t.active_account(&address, &learners_tests::unique("su")).await;
    let session = t.session_cookie(&address, PASSWORD).await;
    let settings = page(&t, "/account/settings", &session).await.text().await.unwrap();
    assert!(settings.contains("Second factors"));
    assert!(settings.contains(r#"<a href="/account/authenticator">Set up an authenticator app</a>"#), "{settings}");
    assert!(settings.contains(r#"<a href="/account/passkeys">Add a passkey</a>"#));
    assert!(!settings.contains("Recovery codes left"));
    assert_eq!(location(&page(&t, "/account/authenticator", "").await), "/login?next=%2Faccount%2Fauthenticator");

    let (secret, done) = set_up_app(&t, &session).await;
    assert!(done.contains("Your authenticator app is set up"), "{done}");
    assert!(done.contains("Keep these recovery codes somewhere safe"));
    let codes = shown_codes(&done);
    assert_eq!(codes.len(), 10, "{done}");
    let settings = page(&t, "/account/settings", &session).await.text().await.unwrap();
    assert!(settings.contains("An authenticator app is set up."), "{settings}");
    assert!(settings.contains("Recovery codes left: 10."), "{settings}");
    let again = page(&t, "/account/authenticator", &session).await.text().await.unwrap();
    assert!(again.contains("remove this one first"), "no second setup over the first: {again}");

    // Signed out, the sign-in asks for the code; the code that confirmed the setup is used.
    let logout = post_form(&t, "/logout", &session, &[]).await;
    assert_eq!(logout.status(), 303);
    let pending = password_step(&t, &address, "", "/account/settings").await;
    let used = code_step(&t, &pending, "", &totp::code_at(&secret, now(&t)).unwrap()).await;
    assert_eq!(used.status(), 401, "the setup's code works once");
    t.clock.advance(30);
    let signed_in = code_step(&t, &pending, "", &totp::code_at(&secret, now(&t)).unwrap()).await;
    assert_eq!(signed_in.status(), 303);
    let session = set_cookie(&signed_in, SESSION).unwrap();

    // Renewing the recovery codes asks for the password; the old codes stop working.
    let form = page(&t, "/account/recovery-codes", &session).await.text().await.unwrap();
    assert!(form.contains("Make new recovery codes"));
    let refused = post_form(&t, "/account/recovery-codes", &session, &[("password", "not my password at all")]).await;
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.unwrap().contains("The password is not right."));
    let renewed = post_form(&t, "/account/recovery-codes", &session, &[("password", PASSWORD)]).await;
    assert_eq!(renewed.status(), 200);
    let new_codes = shown_codes(&renewed.text().await.unwrap());
    assert_eq!(new_codes.len(), 10);
    assert!(new_codes.iter().all(|c| !codes.contains(c)));
    let pending = password_step(&t, &address, "", "/account/settings").await;
    assert_eq!(code_step(&t, &pending, "", &codes[1]).await.status(), 401, "an old recovery code");
    assert_eq!(code_step(&t, &pending, "", &new_codes[1]).await.status(), 303, "a new one");

    // Removed (with the password), the password alone signs in again.
    let removal = page(&t, "/account/authenticator/remove", &session).await.text().await.unwrap();
    assert!(removal.contains("Remove the authenticator app"));
    let removed = post_form(&t, "/account/authenticator/remove", &session, &[("password", PASSWORD)]).await;
    assert_eq!(removed.status(), 303);
    let settings = page(&t, "/account/settings", &session).await.text().await.unwrap();
    assert!(settings.contains("Set up an authenticator app"), "{settings}");
    assert!(!settings.contains("Recovery codes left"), "no second factor, no recovery codes");
    assert_eq!(t.sign_in(&address, PASSWORD).await.status(), 200);
}

async fn wrong_codes_lock_unknown_browsers_but_a_known_browser_still_signs_in(backend: Backend) {
    let t = TestApp::spawn_with(backend, &[("LEARNERS_MAX_FAILED_LOGINS", "5")]).await;
    let address = email("lock2-");
    t.active_account(&address, &learners_tests::unique("lk")).await;
    let session = t.session_cookie(&address, PASSWORD).await;
    let (secret, _) = set_up_app(&t, &session).await;
    // The owner's browser signs in once with both factors: it is known from now on.
    t.clock.advance(30);
    let pending = password_step(&t, &address, "", "/account/settings").await;
    let owner = code_step(&t, &pending, "", &totp::code_at(&secret, now(&t)).unwrap()).await;
    assert_eq!(owner.status(), 303);
    let device = set_cookie(&owner, DEVICE).unwrap();

    // Someone with the password, in another browser, guesses codes.
    let pending = password_step(&t, &address, "", "/account/settings").await;
    for _ in 0..5 {
        let guess = code_step(&t, &pending, "", "123456").await;
        assert_eq!(guess.status(), 401);
    }
    t.clock.advance(30);
    let right = totp::code_at(&secret, now(&t)).unwrap();
    let locked = code_step(&t, &pending, "", &right).await;
    assert_eq!(locked.status(), 401, "locked: the right code is refused too");
    assert!(locked.text().await.unwrap().contains("The code is not right"), "one message for wrong and locked");
    let password = post_form(&t, "/api/v1/sessions", "", &[("email", &address), ("password", PASSWORD)]).await;
    assert_eq!(password.status(), 401, "unknown browsers are locked out");

    // The owner's known browser still signs in, with password and code.
    let pending = password_step(&t, &address, &device, "/account/settings").await;
    let owner = code_step(&t, &pending, &device, &right).await;
    assert_eq!(owner.status(), 303, "a known browser is not locked by a stranger's guesses");
}

async fn an_expired_or_absent_pending_sign_in_asks_to_sign_in_again(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let address = email("expire-");
    t.active_account(&address, &learners_tests::unique("ex")).await;
    let session = t.session_cookie(&address, PASSWORD).await;
    let (secret, _) = set_up_app(&t, &session).await;

    let absent = page(&t, "/login/second-factor", "").await;
    assert_eq!(absent.status(), 401);
    let html = absent.text().await.unwrap();
    assert!(html.contains("Sign in again") && html.contains(r#"href="/login""#), "{html}");
    let forged = code_step(&t, &format!("{PENDING}=not-a-real-token"), "", "123456").await;
    assert_eq!(forged.status(), 401);
    assert!(forged.text().await.unwrap().contains("Sign in again"));

    let pending = password_step(&t, &address, "", "/account/settings").await;
    t.clock.advance(601);
    let expired = page(&t, "/login/second-factor", &pending).await;
    assert_eq!(expired.status(), 401);
    assert!(expired.text().await.unwrap().contains("Sign in again"));
    let late = code_step(&t, &pending, "", &totp::code_at(&secret, now(&t)).unwrap()).await;
    assert_eq!(late.status(), 401);
    assert!(late.text().await.unwrap().contains("Sign in again"));
}

async fn a_password_reset_ends_a_pending_sign_in(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let address = email("reset2-");
    t.active_account(&address, &learners_tests::unique("rs")).await;
    let session = t.session_cookie(&address, PASSWORD).await;
    let (secret, _) = set_up_app(&t, &session).await;
    t.clock.advance(30);
    let pending = password_step(&t, &address, "", "/account/settings").await;

    let asked = t.post_json("/api/v1/password-resets", &serde_json::json!({"email": address})).await;
    assert_eq!(asked.status(), 202);
    t.settle().await;
    let link = t.mailed_link(&address, "Reset", "/password-reset/").await;
    let token = link.rsplit('/').next().unwrap().to_owned();
    let reset = t
        .post_json(
            &format!("/api/v1/password-resets/{token}"),
            &serde_json::json!({"password": "violet kettle drums 42"}),
        )
        .await;
    assert_eq!(reset.status(), 204);

    let after = code_step(&t, &pending, "", &totp::code_at(&secret, now(&t)).unwrap()).await;
    assert_eq!(after.status(), 401);
    assert!(after.text().await.unwrap().contains("Sign in again"), "the reset ended the half-done sign-in");
}

/// A reset link's new password, as the form sends it.
async fn reset_to(t: &TestApp, address: &str, password: &str) -> reqwest::Response {
    let asked = t.post_json("/api/v1/password-resets", &serde_json::json!({"email": address})).await;
    assert_eq!(asked.status(), 202);
    t.settle().await;
    let link = t.mailed_link(address, "Reset", "/password-reset/").await;
    let token = link.rsplit('/').next().unwrap().to_owned();
    t.post_json(&format!("/api/v1/password-resets/{token}"), &serde_json::json!({"password": password})).await
}

async fn a_second_factor_allows_a_shorter_new_password(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let short = "qz7 kettle x9";
    assert!(short.len() < 15 && short.len() >= 8);
    let plain = email("plain-");
    t.active_account(&plain, &learners_tests::unique("pl")).await;
    assert_eq!(reset_to(&t, &plain, short).await.status(), 422, "a password alone needs 15 characters");

    let guarded = email("guarded-");
    t.active_account(&guarded, &learners_tests::unique("gd")).await;
    let session = t.session_cookie(&guarded, PASSWORD).await;
    set_up_app(&t, &session).await;
    let link_form = {
        let asked = t.post_json("/api/v1/password-resets", &serde_json::json!({"email": guarded})).await;
        assert_eq!(asked.status(), 202);
        t.settle().await;
        let link = t.mailed_link(&guarded, "Reset", "/password-reset/").await;
        let path = link.strip_prefix(t.app.config.site_url.as_str()).unwrap();
        page(&t, path, "").await.text().await.unwrap()
    };
    assert!(link_form.contains(r#"minlength="8""#), "the form asks for 8 with a second factor: {link_form}");
    assert_eq!(reset_to(&t, &guarded, short).await.status(), 204, "8 characters beside a second factor");
}

/// The claims of an ID token (its signature is the OIDC suite's business).
fn id_claims(tokens: &serde_json::Value) -> serde_json::Value {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let id_token = tokens["id_token"].as_str().expect("an ID token");
    let payload = id_token.split('.').nth(1).expect("a JWS");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// The token endpoint, `client_secret_post`.
async fn token(t: &TestApp, rp: &learners_tests::oidc::Rp, pairs: &[(&str, &str)]) -> serde_json::Value {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.extend_pairs(pairs).append_pair("client_id", &rp.client_id);
    form.append_pair("client_secret", rp.client_secret.as_deref().unwrap());
    let answer = t.post_raw("/oauth2/token", "application/x-www-form-urlencoded", form.finish()).await;
    assert_eq!(answer.status(), 200);
    answer.json().await.unwrap()
}

async fn code_tokens(t: &TestApp, rp: &learners_tests::oidc::Rp, redirect: &str) -> serde_json::Value {
    let code = query_of(redirect).get("code").cloned().unwrap_or_else(|| panic!("no code in {redirect}"));
    token(t, rp, &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", &rp.redirect_uri)]).await
}

async fn an_id_token_says_how_the_learner_signed_in_and_a_password_only_session_signs_in_again(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let address = email("amr-");
    t.active_account(&address, &learners_tests::unique("am")).await;
    let rp = t.register_rp("http://127.0.0.1:9/auth/complete/oidc/", false).await;
    let authorize = |prompt: Option<&str>| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &rp.client_id)
            .append_pair("redirect_uri", &rp.redirect_uri)
            .append_pair("scope", "openid offline_access")
            .append_pair("state", "st-2")
            .append_pair("nonce", "no-2");
        if let Some(prompt) = prompt {
            query.append_pair("prompt", prompt);
        }
        format!("/oauth2/authorize?{}", query.finish())
    };

    // A password alone: amr says so, and nothing more.
    let (session, answer) = t.sign_in_to_authorize(&t.url(&authorize(None)), &address, PASSWORD).await;
    assert_eq!(answer.status(), 302);
    let tokens = code_tokens(&t, &rp, &location(&answer)).await;
    assert_eq!(id_claims(&tokens)["amr"], serde_json::json!(["pwd"]));

    // Set up an app in that session: the session is a password's, so the authorization now
    // wants a sign-in with the second factor.
    let (secret, _) = set_up_app(&t, &session).await;
    let again = t.client.get(t.url(&authorize(None))).header("cookie", &session).send().await.unwrap();
    assert_eq!(again.status(), 303, "a password-only session of an enrolled account signs in again");
    let login = location(&again);
    assert!(login.starts_with("/login?next="), "{login}");
    let silent = t.client.get(t.url(&authorize(Some("none")))).header("cookie", &session).send().await.unwrap();
    assert_eq!(silent.status(), 302);
    assert_eq!(query_of(&location(&silent))["error"], "login_required");

    // Password and code, on to the authorization: amr has otp and mfa.
    let next = query_of(&login)["next"].clone();
    let pending = password_step(&t, &address, "", &next).await;
    let step = page(&t, &format!("/login/second-factor?next={}", learners_tests::urlencode(&next)), &pending).await;
    assert_eq!(step.status(), 200);
    let csp = step.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("form-action 'self' http://127.0.0.1:9"), "the form may end at the application: {csp}");
    let plain = page(&t, "/login/second-factor", &pending).await;
    let csp = plain.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(!csp.contains("127.0.0.1:9"), "and only then: {csp}");
    t.clock.advance(30);
    let code = totp::code_at(&secret, now(&t)).unwrap();
    let done = post_form(&t, "/login/second-factor", &pending, &[("code", &code), ("next", &next)]).await;
    assert_eq!(done.status(), 303);
    assert_eq!(location(&done), next, "back to the authorization");
    let session = set_cookie(&done, SESSION).unwrap();
    let answer = t.client.get(t.url(&next)).header("cookie", &session).send().await.unwrap();
    assert_eq!(answer.status(), 302, "{}", location(&answer));
    let tokens = code_tokens(&t, &rp, &location(&answer)).await;
    let amr = id_claims(&tokens)["amr"].clone();
    assert_eq!(amr, serde_json::json!(["pwd", "otp", "mfa"]));

    // A refreshed ID token keeps the authorization's methods.
    let refresh = tokens["refresh_token"].as_str().expect("a refresh token");
    let renewed = token(&t, &rp, &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    assert_eq!(id_claims(&renewed)["amr"], amr);
    let discovery: serde_json::Value = t.get("/.well-known/openid-configuration").await.json().await.unwrap();
    assert!(discovery["claims_supported"].as_array().unwrap().contains(&serde_json::json!("amr")));
}

async fn one_code_sent_five_times_at_once_signs_in_once(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let address = email("race-");
    t.active_account(&address, &learners_tests::unique("rc")).await;
    let session = t.session_cookie(&address, PASSWORD).await;
    let (secret, _) = set_up_app(&t, &session).await;
    t.clock.advance(30);
    let code = totp::code_at(&secret, now(&t)).unwrap();
    // Five browsers that each have the password post the same code at the same moment.
    let mut pendings = Vec::new();
    for _ in 0..5 {
        pendings.push(password_step(&t, &address, "", "/account/settings").await);
    }
    let answers = futures::future::join_all(pendings.iter().map(|pending| code_step(&t, pending, "", &code))).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status().as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 303).count(), 1, "one sign-in per code: {statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 4, "{statuses:?}");
}
