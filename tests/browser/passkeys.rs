//! Passkeys in headless Chromium with a virtual authenticator (WebDriver's WebAuthn extension:
//! CTAP2, a platform authenticator that keeps resident keys and verifies its user). The site
//! runs as `http://localhost:<port>`: WebAuthn refuses an IP address as the relying party.
//! Clicking and typing only: the site's own script runs the ceremonies.

use learners::domain::AuthMethod;
use learners::flows::passkeys::verify_own_passkey;
use learners::flows::registration::{register, RegistrationForm};
use learners_tests::browser::Browser;
use learners_tests::{email, unique, Backend, TestApp, PASSWORD};

const WRONG: &str = "not my password at all 17";

/// A learner who registered and activated earlier (through the flows, as before the journey).
async fn active_learner(site: &TestApp) -> String {
    let address = email("ada");
    let form = RegistrationForm {
        email: address.clone(),
        username: unique("ada"),
        name: "Ada Lovelace".into(),
        password: PASSWORD.into(),
        terms_accepted: true,
    };
    register(&site.app, &form).await.expect("registration");
    let link = site.mailed_link(&address, "Activate", "/activate/").await;
    let token = link.rsplit('/').next().expect("a token");
    learners::flows::activation::activate(&site.app, token, PASSWORD).await.expect("activation");
    address
}

/// What the script does for a confirmation, done by the test to keep the answer: the options
/// from `/account/passkeys/confirm/options`, the browser's dialog, the answer as webauthn-rs
/// reads it. The challenge's token and the answer.
async fn confirmation_answer(b: &Browser) -> (String, String) {
    let script = r#"
        const done = arguments[arguments.length - 1];
        const bytes = (s) => { s = s.replace(/-/g, "+").replace(/_/g, "/"); while (s.length % 4) s += "=";
            return Uint8Array.from(atob(s), (c) => c.charCodeAt(0)).buffer; };
        const text = (buffer) => buffer ? btoa(String.fromCharCode(...new Uint8Array(buffer)))
            .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "") : null;
        fetch("/account/passkeys/confirm/options", {method: "POST", credentials: "same-origin"})
          .then((r) => r.json())
          .then((answer) => {
            const key = answer.options.publicKey;
            key.challenge = bytes(key.challenge);
            key.allowCredentials = (key.allowCredentials || []).map((c) => ({...c, id: bytes(c.id)}));
            return navigator.credentials.get({publicKey: key}).then((c) => done([answer.challenge, JSON.stringify({
              id: c.id, rawId: text(c.rawId), type: c.type, extensions: {},
              response: {authenticatorData: text(c.response.authenticatorData),
                clientDataJSON: text(c.response.clientDataJSON), signature: text(c.response.signature),
                userHandle: text(c.response.userHandle)}})]));
          })
          .catch((e) => done(["", String(e)]));
    "#;
    let answer = b.run_async(script).await;
    let token = answer[0].as_str().unwrap_or_default().to_owned();
    let credential = answer[1].as_str().unwrap_or_default().to_owned();
    assert!(!token.is_empty(), "the confirmation's ceremony failed: {credential}");
    (token, credential)
}

async fn sign_in_with_password(b: &Browser, site: &TestApp, address: &str, password: &str) {
    b.open(&site.url("/login")).await;
    b.fill("Email", address).await;
    b.fill("Password", password).await;
    b.press("Sign in").await;
}

async fn sign_out(b: &Browser, site: &TestApp) {
    b.open(&site.url("/account/settings")).await;
    b.press("Sign out").await;
    assert_eq!(b.path().await, "/login");
}

/// Add a passkey, sign in with it alone (through a locked password too), then use it as the
/// second step after the password; removing it asks the password, and a removed passkey signs
/// in no more.
async fn a_passkey_signs_in_alone_and_as_the_second_step(backend: Backend) {
    let site = TestApp::spawn_localhost_site(backend, &[("LEARNERS_MAX_FAILED_LOGINS", "3")]).await;
    let b = Browser::start().await;
    let authenticator = b.add_virtual_authenticator().await;
    let address = active_learner(&site).await;

    sign_in_with_password(&b, &site, &address, PASSWORD).await;
    assert_eq!(b.path().await, "/account/settings");
    b.follow("Passkeys").await;
    assert_eq!(b.heading().await, "Passkeys");
    assert!(b.text().await.contains("You have no passkeys yet."));
    b.snap("passkeys-none").await;
    b.fill("Passkey name", "  Ada's laptop  ").await;
    b.press("Add a passkey").await;
    assert_eq!(b.path().await, "/account/passkeys");
    assert_eq!(b.status().await, 200, "{}", b.text().await);
    let text = b.text().await;
    assert!(text.contains("Ada's laptop"), "the passkey is listed by its name:\n{text}");
    assert!(text.contains("Never"), "not used yet:\n{text}");
    assert!(!text.contains("You have no passkeys yet."));
    b.snap("passkeys").await;
    let held = b.authenticator_credentials(&authenticator).await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["isResidentCredential"], true, "a discoverable passkey: {held:?}");

    // Signed out, with the password locked by a stranger's guesses: the passkey alone signs in.
    sign_out(&b, &site).await;
    for _ in 0..3 {
        sign_in_with_password(&b, &site, &address, WRONG).await;
        assert_eq!(b.status().await, 401);
    }
    sign_in_with_password(&b, &site, &address, PASSWORD).await;
    assert_eq!(b.status().await, 401, "the password is locked");
    b.snap("login-with-passkey").await;
    b.press("Sign in with a passkey").await;
    assert_eq!(b.path().await, "/account/settings", "{}", b.text().await);
    assert!(b.text().await.contains(&address), "the account's page");
    b.open(&site.url("/account/passkeys")).await;
    assert!(!b.text().await.contains("Never"), "the passkey's last use is recorded");

    // The password first, then the passkey as the second step.
    sign_out(&b, &site).await;
    site.clock.advance(1801);
    sign_in_with_password(&b, &site, &address, PASSWORD).await;
    assert_eq!(b.path().await, "/login/second-factor", "{}", b.text().await);
    b.snap("second-factor-passkey").await;
    b.press("Use a passkey").await;
    assert_eq!(b.path().await, "/account/settings", "{}", b.text().await);
    assert!(b.text().await.contains(&address));

    // A confirmation (what the operator console asks before a sensitive action): the page's
    // own fetch and the browser's dialog, the answer checked by the flow; once only.
    let (token, credential) = confirmation_answer(&b).await;
    let key = learners::domain::Email::parse(&address).unwrap().key();
    let user = site.app.store.user_by_email_key(&key).await.unwrap().expect("the account");
    let verify = |token: String, credential: String| {
        let (app, user) = (site.app.clone(), user.clone());
        async move { verify_own_passkey(&app, &user, &token, &credential).await.unwrap() }
    };
    assert_eq!(verify(token.clone(), credential.clone()).await, Some(AuthMethod::Passkey));
    assert_eq!(verify(token, credential).await, None, "a challenge is answered once");
    let (other, _) = confirmation_answer(&b).await;
    let (_, credential) = confirmation_answer(&b).await;
    assert_eq!(verify(other, credential).await, None, "an answer to another challenge");

    // Removing it asks the password.
    b.open(&site.url("/account/passkeys")).await;
    b.fill("Your password", WRONG).await;
    b.press("Remove").await;
    assert_eq!(b.status().await, 403);
    assert!(b.text().await.contains("The password is not right."));
    assert!(b.text().await.contains("Ada's laptop"), "still there");
    b.snap("passkeys-remove-refused").await;
    // The two refused confirmations and this password count on the user's own confirmation
    // counter (3 allowed here): it is locked, the right password too is refused, until it ends.
    b.fill("Your password", PASSWORD).await;
    b.press("Remove").await;
    assert_eq!(b.status().await, 403, "locked");
    assert!(b.text().await.contains("Ada's laptop"));
    site.clock.advance(1801);
    b.fill("Your password", PASSWORD).await;
    b.press("Remove").await;
    assert_eq!(b.path().await, "/account/passkeys");
    assert!(b.text().await.contains("You have no passkeys yet."));

    // The authenticator still holds it; the site no longer takes it.
    sign_out(&b, &site).await;
    b.press("Sign in with a passkey").await;
    assert_eq!(b.status().await, 401);
    assert_eq!(b.path().await, "/login/passkey");
    assert!(b.text().await.contains("The passkey was not accepted."));
    b.quit().await;
}

/// A ceremony that fails in the browser (an authenticator without a passkey for the site) says
/// so in an alert beside the button, and sends no form.
async fn a_cancelled_ceremony_says_so_next_to_the_button(backend: Backend) {
    let site = TestApp::spawn_localhost_site(backend, &[]).await;
    let b = Browser::start().await;
    // An authenticator that holds no passkey: the browser's dialog finds none and fails.
    b.add_virtual_authenticator().await;
    b.open(&site.url("/login")).await;
    assert!(b.has_button("Sign in with a passkey").await);
    b.click_only("Sign in with a passkey").await;
    let alert = b.wait_for("form[data-passkey-ceremony] [role=alert]").await;
    assert!(!alert.is_empty(), "a message next to the button");
    assert_eq!(b.path().await, "/login", "no page was sent");
    b.quit().await;
}

/// An operator whose only second factor is a passkey: the console asks for it before a
/// sensitive action, and the passkey button inside the action's form answers it (no code).
async fn an_operator_confirms_an_action_with_a_passkey(backend: Backend) {
    let site = TestApp::spawn_localhost_site(backend, &[]).await;
    let b = Browser::start().await;
    b.add_virtual_authenticator().await;
    let operator = active_learner(&site).await;
    let granted_by = "arn:aws:iam::000000000000:user/test-admin";
    learners::flows::admin::set_operator_role(&site.app, granted_by, &operator, true).await.expect("the role");
    let learner = email("bob");
    let form = RegistrationForm {
        email: learner.clone(),
        username: unique("bob"),
        name: "Bob Learner".into(),
        password: PASSWORD.into(),
        terms_accepted: true,
    };
    register(&site.app, &form).await.expect("bob's registration");

    // The password alone opens no console: a passkey is added from the settings.
    sign_in_with_password(&b, &site, &operator, PASSWORD).await;
    b.open(&site.url("/operator")).await;
    assert!(b.text().await.contains("Add a passkey"), "the console asks for a second factor first");
    b.open(&site.url("/account/passkeys")).await;
    b.fill("Passkey name", "Operator key").await;
    b.press("Add a passkey").await;
    assert!(b.text().await.contains("Operator key"), "{}", b.text().await);
    sign_out(&b, &site).await;
    b.press("Sign in with a passkey").await;
    assert_eq!(b.path().await, "/account/settings", "{}", b.text().await);

    // Six minutes later, activating bob asks for the passkey again.
    site.clock.advance(360);
    b.open(&site.url("/operator")).await;
    b.fill("Learner email", &learner).await;
    b.press("Proceed").await;
    b.press("Activate").await;
    assert_eq!(b.heading().await, "Activate account", "the confirm step");
    assert!(b.has_button("Use a passkey").await, "{}", b.text().await);
    assert!(!b.has("#f-your_code").await, "no app and no recovery codes: no code is asked");
    b.snap("console-confirm-passkey").await;
    b.press("Use a passkey").await;
    assert!(b.text_of("[role=alert]").await.contains("The account is active."), "{}", b.text().await);
    let key = learners::domain::Email::parse(&learner).unwrap().key();
    let bob = site.app.store.user_by_email_key(&key).await.unwrap().expect("bob");
    assert_eq!(bob.status, learners::domain::UserStatus::Active);
    b.quit().await;
}

in_the_browser! {
    a_passkey_signs_in_alone_and_as_the_second_step: memory, moto;
    a_cancelled_ceremony_says_so_next_to_the_button: memory;
    an_operator_confirms_an_action_with_a_passkey: memory, moto;
}
