//! Passkeys through the gateway, on both backends: what can be checked without an
//! authenticator (the real ceremonies run in the browser suite, with Chromium's virtual
//! authenticator). The options routes refuse signed-out callers and other sites; a forged or
//! malformed answer gets a page with a 4xx, never a 500; a challenge is taken by its first
//! answer; removing a passkey asks the password; a failed second step counts on the sign-in's
//! counters.

use learners::domain::{PasskeyFactor, SecondFactors, Token};
use learners_tests::{email, on_both_backends, unique, urlencode, Backend, TestApp, PASSWORD, SITE_URL};
use reqwest::Method;
use serde_json::Value;

on_both_backends!(
    options_answer_the_site_only_and_signed_in_users_only_where_they_must,
    forged_answers_get_a_page_and_spend_the_challenge,
    removing_a_passkey_asks_the_password,
    a_failed_second_step_counts_on_the_sign_in_counters,
);

const FORM: &str = "application/x-www-form-urlencoded";

/// A form post from the site's own page, with `cookie`.
async fn post_form(app: &TestApp, path: &str, cookie: &str, form: String) -> reqwest::Response {
    app.with_cookie(Method::POST, path, cookie)
        .header("content-type", FORM)
        .header("accept", "text/html")
        .body(form)
        .send()
        .await
        .unwrap()
}

/// An account with a session: its cookie and the user.
async fn signed_in(app: &TestApp, prefix: &str) -> (String, learners::domain::User, String) {
    let address = email(prefix);
    app.active_account(&address, &unique(prefix)).await;
    let cookie = app.session_cookie(&address, PASSWORD).await;
    let key = learners::domain::Email::parse(&address).unwrap().key();
    let user = app.app.store.user_by_email_key(&key).await.unwrap().expect("the account");
    (cookie, user, address)
}

/// Is the challenge of this token still waiting for its answer?
async fn challenge_waits(app: &TestApp, token: &str) -> bool {
    let hash = Token::parse(token).expect("a token").hash();
    app.app.factors.challenge(&hash, app.app.clock.now()).await.unwrap().is_some()
}

/// A stored passkey (its record is not used by what these tests do with it).
async fn store_passkey(app: &TestApp, user: &learners::domain::User, id: &str, name: &str) {
    let factors = app.app.factors.second_factors(&user.id).await.unwrap();
    let mut next: SecondFactors = factors.next();
    next.passkeys.push(PasskeyFactor {
        id: id.to_owned(),
        name: name.to_owned(),
        credential: "{}".to_owned(),
        created_at: app.app.clock.now().unix(),
        last_used_at: None,
    });
    assert!(app.app.factors.save_second_factors(&user.id, &next).await.unwrap());
}

async fn options_answer_the_site_only_and_signed_in_users_only_where_they_must(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (cookie, user, _) = signed_in(&app, "pk-options-").await;

    // Adding a passkey: signed in, from the site's own page.
    let signed_out = app.post_raw("/account/passkeys/options", FORM, "name=Phone").await;
    assert_eq!(signed_out.status(), 401);
    assert_eq!(signed_out.headers()["content-type"], "application/json", "the script reads JSON, errors too");
    let body: Value = signed_out.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_signed_in");
    let elsewhere = app
        .client
        .post(app.url("/account/passkeys/options"))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .header("content-type", FORM)
        .body("name=Phone")
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 403);
    let unnamed = post_form(&app, "/account/passkeys/options", &cookie, "name=++".into()).await;
    assert_eq!(unnamed.status(), 422);
    let body: Value = unnamed.json().await.unwrap();
    assert_eq!(body["error"]["message"], "Give the passkey a name of 1 to 64 characters.");
    let started = post_form(&app, "/account/passkeys/options", &cookie, "name=My+phone&credential=".into()).await;
    assert_eq!(started.status(), 200);
    let body: Value = started.json().await.unwrap();
    let key = &body["options"]["publicKey"];
    assert_eq!(key["rp"]["id"], "learn.example.org", "the relying party is the site's host");
    assert_eq!(key["authenticatorSelection"]["userVerification"], "required");
    let handle = uuid::Uuid::parse_str(user.id.as_str()).unwrap();
    use base64::Engine;
    let handle = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(handle.as_bytes());
    assert_eq!(key["user"]["id"], handle.as_str(), "the user handle is the account's id");
    assert!(challenge_waits(&app, body["challenge"].as_str().unwrap()).await);

    // Signing in with a passkey: anyone but another site.
    let from_elsewhere =
        app.client.post(app.url("/login/passkey/options")).header("sec-fetch-site", "cross-site").send().await.unwrap();
    assert_eq!(from_elsewhere.status(), 403);
    let options = app.client.post(app.url("/login/passkey/options")).header("origin", SITE_URL).send().await.unwrap();
    assert_eq!(options.status(), 200);
    let body: Value = options.json().await.unwrap();
    assert_eq!(body["options"]["publicKey"]["userVerification"], "required");
    assert!(body["options"].get("mediation").is_none_or(Value::is_null), "a modal dialog, not autofill: {body}");
    assert!(
        body["options"]["publicKey"]["allowCredentials"].as_array().is_none_or(Vec::is_empty),
        "discoverable: no account is named"
    );

    // A confirmation: signed in, from the site, with a passkey to confirm with.
    let signed_out = app.post_raw("/account/passkeys/confirm/options", FORM, "").await;
    assert_eq!(signed_out.status(), 401);
    let none = post_form(&app, "/account/passkeys/confirm/options", &cookie, String::new()).await;
    assert_eq!(none.status(), 400, "the account has no passkey");

    // The second step: only for a live pending sign-in.
    let no_pending = app.post_raw("/login/second-factor/passkey/options", FORM, "").await;
    assert_eq!(no_pending.status(), 400);
    let body: Value = no_pending.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_token");

    // The passkeys page, for a signed-in user only.
    let page = app.with_cookie(Method::GET, "/account/passkeys", &cookie).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<h1>Passkeys</h1>") && html.contains("Add a passkey") && html.contains("no passkeys yet"));
    let away = app.get("/account/passkeys").await;
    assert_eq!(away.status(), 303);
}

async fn forged_answers_get_a_page_and_spend_the_challenge(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (cookie, user, _) = signed_in(&app, "pk-forged-").await;
    let begin = || async {
        let response = app.client.post(app.url("/login/passkey/options")).send().await.unwrap();
        let body: Value = response.json().await.unwrap();
        body["challenge"].as_str().unwrap().to_owned()
    };
    use base64::Engine;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let handle = uuid::Uuid::parse_str(user.id.as_str()).unwrap();
    // Well-formed, naming the account, signed by nobody.
    let forged = serde_json::json!({
        "id": "AAAA", "rawId": "AAAA", "type": "public-key", "extensions": {},
        "response": {
            "authenticatorData": b64(&[0; 37]), "clientDataJSON": b64(b"{}"), "signature": b64(&[1; 64]),
            "userHandle": b64(handle.as_bytes()),
        },
    })
    .to_string();
    for credential in ["garbage", "{}", forged.as_str()] {
        let token = begin().await;
        assert!(challenge_waits(&app, &token).await);
        let form = format!("credential={}&passkey_challenge={}", urlencode(credential), urlencode(&token));
        let response = app.post_raw("/login/passkey", FORM, form.clone()).await;
        assert_eq!(response.status(), 401, "{credential}");
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        assert!(response.headers().get("set-cookie").is_none(), "no session");
        let html = response.text().await.unwrap();
        assert!(html.contains("The passkey was not accepted."), "{html}");
        assert!(html.contains("Sign in with a passkey"), "the sign-in page again");
        assert!(!challenge_waits(&app, &token).await, "the first answer took the challenge");
        assert_eq!(app.post_raw("/login/passkey", FORM, form).await.status(), 401, "and it is gone");
    }
    // A body that is no form at all, and one without the fields.
    assert_eq!(app.post_raw("/login/passkey", "text/plain", "x").await.status(), 401);
    assert_eq!(app.post_raw("/login/passkey", FORM, "next=/x").await.status(), 401);

    // Adding a passkey with a forged answer: the page again, nothing stored, the challenge spent.
    let started = post_form(&app, "/account/passkeys/options", &cookie, "name=Laptop".into()).await;
    let token = started.json::<Value>().await.unwrap()["challenge"].as_str().unwrap().to_owned();
    let form = format!("credential={}&passkey_challenge={}&name=Laptop", urlencode(&forged), urlencode(&token));
    let refused = post_form(&app, "/account/passkeys", &cookie, form).await;
    assert_eq!(refused.status(), 400);
    let html = refused.text().await.unwrap();
    assert!(html.contains("The passkey was not added"), "{html}");
    assert!(!challenge_waits(&app, &token).await);
    assert!(app.app.factors.second_factors(&user.id).await.unwrap().passkeys.is_empty());
    let unknown_field =
        post_form(&app, "/account/passkeys", &cookie, "credential=x&passkey_challenge=y&z=1".into()).await;
    assert_eq!(unknown_field.status(), 422);

    // The second step, with no pending sign-in or a made-up one.
    let form = format!("credential={}&passkey_challenge=x", urlencode(&forged));
    assert_eq!(app.post_raw("/login/second-factor/passkey", FORM, form.clone()).await.status(), 400);
    let made_up = app
        .client
        .post(app.url("/login/second-factor/passkey"))
        .header("cookie", format!("__Host-learners-2fa={}", Token::generate().as_str()))
        .header("content-type", FORM)
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(made_up.status(), 400);
}

async fn removing_a_passkey_asks_the_password(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (cookie, user, _) = signed_in(&app, "pk-remove-").await;
    store_passkey(&app, &user, "cred-one", "<b>Work laptop</b>").await;
    let page = app.with_cookie(Method::GET, "/account/passkeys", &cookie).send().await.unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("&#60;b&#62;Work laptop&#60;/b&#62;"), "the name, escaped: {html}");
    assert!(html.contains("Never"), "not used yet");

    let wrong =
        post_form(&app, "/account/passkeys/remove", &cookie, "id=cred-one&password=not+the+password+at+all".into())
            .await;
    assert_eq!(wrong.status(), 403);
    let html = wrong.text().await.unwrap();
    assert!(html.contains("The password is not right."), "{html}");
    assert_eq!(app.app.factors.second_factors(&user.id).await.unwrap().passkeys.len(), 1, "still there");

    let other_site = app
        .client
        .post(app.url("/account/passkeys/remove"))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .header("content-type", FORM)
        .body(format!("id=cred-one&password={}", urlencode(PASSWORD)))
        .send()
        .await
        .unwrap();
    assert_eq!(other_site.status(), 403);
    assert_eq!(app.app.factors.second_factors(&user.id).await.unwrap().passkeys.len(), 1);

    let removed =
        post_form(&app, "/account/passkeys/remove", &cookie, format!("id=cred-one&password={}", urlencode(PASSWORD)))
            .await;
    assert_eq!(removed.status(), 303);
    assert_eq!(removed.headers()["location"], "/account/passkeys");
    assert!(app.app.factors.second_factors(&user.id).await.unwrap().passkeys.is_empty());
    let again =
        post_form(&app, "/account/passkeys/remove", &cookie, format!("id=cred-one&password={}", urlencode(PASSWORD)))
            .await;
    assert_eq!(again.status(), 404);
}

async fn a_failed_second_step_counts_on_the_sign_in_counters(backend: Backend) {
    use learners::flows::signin::{sign_in_from, Client, SignInStep};
    let app = TestApp::spawn_with(backend, &[("LEARNERS_MAX_FAILED_LOGINS", "3")]).await;
    let (_, user, address) = signed_in(&app, "pk-second-").await;
    store_passkey(&app, &user, "cred-two", "Phone").await;
    let Ok(SignInStep::SecondFactor(pending)) = sign_in_from(&app.app, &address, PASSWORD, Client::default()).await
    else {
        panic!("an account with a passkey waits for it after the password");
    };
    let pending_cookie = format!("__Host-learners-2fa={}", pending.token.as_str());
    for _ in 0..3 {
        let refused = app
            .client
            .post(app.url("/login/second-factor/passkey"))
            .header("cookie", &pending_cookie)
            .header("content-type", FORM)
            .header("accept", "text/html")
            .body("credential=%7B%7D&passkey_challenge=made-up&next=%2Faccount%2Fsettings")
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401);
        assert!(refused.headers().get("set-cookie").is_none());
        assert!(refused.text().await.unwrap().contains("The passkey was not accepted."));
    }
    // Three failures of the second step locked the account's counter: the right password is
    // refused too now (from a browser the account does not know).
    assert_eq!(app.sign_in(&address, PASSWORD).await.status(), 401);
}
