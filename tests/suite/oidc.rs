//! The OpenID Connect provider as applications meet it, on both backends (the moto one signs
//! with a KMS key). The relying party is the `openidconnect` crate: discovery, the
//! authorization URL with PKCE, the learner signing in on the site's own sign-in page, the code
//! exchange, the ID token verified against the JWKS, userinfo. Then each refusal, on its own.

use learners_tests::oidc::{location, query_of, Rp};
use learners_tests::{email, on_both_backends, unique, Backend, TestApp, ADMIN_TOKEN, PASSWORD};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreProviderMetadata, CoreUserInfoClaims};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use serde_json::{json, Value};

/// Where the test applications say they live (nothing listens: the tests read the redirect).
const REDIRECT: &str = "http://127.0.0.1:9/auth/complete/oidc/";

/// A site whose URL is the gateway's (the issuer the relying party checks), an active learner
/// and a registered confidential application.
async fn site(backend: Backend) -> (TestApp, String, String, Rp) {
    let app = TestApp::spawn_site(backend, &[]).await;
    let address = email("oidc-");
    let username = unique("oidc_");
    app.active_account(&address, &username).await;
    let rp = app.register_rp(REDIRECT, false).await;
    (app, address, username, rp)
}

fn http_client() -> openidconnect::reqwest::Client {
    openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client")
}

async fn an_application_signs_a_learner_in_with_a_relying_party_library(backend: Backend) {
    let (app, address, username, rp) = site(backend).await;
    let http = http_client();
    let issuer = IssuerUrl::new(app.app.config.site_url.clone()).unwrap();
    let metadata = CoreProviderMetadata::discover_async(issuer, &http).await.expect("discovery");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(rp.client_id.clone()),
        rp.client_secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.to_owned()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();

    let (_, answer) = app.sign_in_to_authorize(url.as_str(), &address, PASSWORD).await;
    assert_eq!(answer.status(), 302);
    let back = location(&answer);
    assert!(back.starts_with(REDIRECT), "{back}");
    let params = query_of(&back);
    assert_eq!(params["state"], *state.secret());
    assert_eq!(params["iss"], app.app.config.site_url, "RFC 9207");

    let tokens = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the code exchange");
    let id_token = tokens.id_token().expect("an ID token");
    let verifier = client.id_token_verifier();
    let claims = id_token.claims(&verifier, &nonce).expect("the ID token verifies against the JWKS");
    let expected_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected_hash));
    assert_eq!(claims.email().map(|e| e.as_str()), Some(address.as_str()));
    assert_eq!(claims.email_verified(), Some(true));
    assert_eq!(claims.preferred_username().map(|u| u.as_str()), Some(username.as_str()));
    assert_eq!(claims.name().and_then(|n| n.get(None)).map(|n| n.as_str()), Some("Ada Lovelace"));
    assert!(claims.auth_time().is_some());
    let user = app.user(&address).await.unwrap();
    assert_eq!(claims.subject().as_str(), user["user_id"].as_str().unwrap(), "sub is the account's id");
    assert!(tokens.refresh_token().is_none(), "no offline_access, no refresh token");

    let info: CoreUserInfoClaims = client
        .user_info(tokens.access_token().to_owned(), Some(claims.subject().clone()))
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(info.email().map(|e| e.as_str()), Some(address.as_str()));
    assert_eq!(info.preferred_username().map(|u| u.as_str()), Some(username.as_str()));

    let jwks = app.get("/.well-known/jwks.json").await;
    assert_eq!(jwks.headers()["cache-control"], "public, max-age=600");
    let discovery = app.get("/.well-known/openid-configuration").await;
    assert_eq!(discovery.headers()["cache-control"], "public, max-age=3600");
}

/// A code for `rp`, by the authorization URL this builds (PKCE with `verifier`, when given).
async fn code_for(app: &TestApp, rp: &Rp, address: &str, scope: &str, verifier: Option<&str>) -> (String, String) {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("response_type", "code")
        .append_pair("client_id", &rp.client_id)
        .append_pair("redirect_uri", &rp.redirect_uri)
        .append_pair("scope", scope)
        .append_pair("state", "st-1")
        .append_pair("nonce", "no-1");
    if let Some(verifier) = verifier {
        let challenge = learners::domain::oidc::CodeChallenge::of(verifier);
        query.append_pair("code_challenge", challenge.as_str()).append_pair("code_challenge_method", "S256");
    }
    let url = app.url(&format!("/oauth2/authorize?{}", query.finish()));
    let (cookie, answer) = app.sign_in_to_authorize(&url, address, PASSWORD).await;
    assert_eq!(answer.status(), 302, "{}", location(&answer));
    let params = query_of(&location(&answer));
    (params.get("code").cloned().unwrap_or_else(|| panic!("no code: {params:?}")), cookie)
}

/// The token endpoint with `client_secret_post`.
async fn token(app: &TestApp, rp: &Rp, pairs: &[(&str, &str)]) -> reqwest::Response {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.extend_pairs(pairs).append_pair("client_id", &rp.client_id);
    if let Some(secret) = &rp.client_secret {
        form.append_pair("client_secret", secret);
    }
    app.post_raw("/oauth2/token", "application/x-www-form-urlencoded", form.finish()).await
}

async fn exchange(app: &TestApp, rp: &Rp, code: &str, verifier: Option<&str>) -> reqwest::Response {
    let mut pairs =
        vec![("grant_type", "authorization_code"), ("code", code), ("redirect_uri", rp.redirect_uri.as_str())];
    if let Some(verifier) = verifier {
        pairs.push(("code_verifier", verifier));
    }
    token(app, rp, &pairs).await
}

async fn userinfo(app: &TestApp, access_token: &str) -> reqwest::Response {
    app.client.get(app.url("/oauth2/userinfo")).bearer_auth(access_token).send().await.unwrap()
}

async fn refusal(response: reqwest::Response, status: u16, error: &str) {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
}

const VERIFIER: &str = "a-pkce-verifier-that-is-long-enough-0123456789";

async fn an_unregistered_redirect_uri_gets_a_page_and_no_redirect(backend: Backend) {
    let (app, _, _, rp) = site(backend).await;
    for (client_id, redirect) in [
        (rp.client_id.as_str(), "http://127.0.0.1:9/auth/complete/other/"),
        (rp.client_id.as_str(), "https://evil.example/cb"),
        ("00000000-0000-7000-8000-000000000000", REDIRECT),
    ] {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect)
            .append_pair("scope", "openid")
            .finish();
        let answer = app.client.get(app.url(&format!("/oauth2/authorize?{query}"))).send().await.unwrap();
        assert_eq!(answer.status(), 400, "{redirect}");
        assert!(answer.headers().get("location").is_none(), "never a redirect");
        assert!(answer.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        assert!(answer.text().await.unwrap().contains("This sign-in link is not valid"));
    }
}

async fn a_reused_code_is_refused_and_its_tokens_revoked(backend: Backend) {
    let (app, address, _, rp) = site(backend).await;
    let (code, _) = code_for(&app, &rp, &address, "openid email", Some(VERIFIER)).await;
    let first = exchange(&app, &rp, &code, Some(VERIFIER)).await;
    assert_eq!(first.status(), 200);
    let tokens: Value = first.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&app, access).await.status(), 200);
    refusal(exchange(&app, &rp, &code, Some(VERIFIER)).await, 400, "invalid_grant").await;
    let after = userinfo(&app, access).await;
    assert_eq!(after.status(), 401, "the tokens of a replayed code are revoked");
    assert!(after.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
}

async fn a_wrong_pkce_verifier_is_refused(backend: Backend) {
    let (app, address, _, rp) = site(backend).await;
    let (code, _) = code_for(&app, &rp, &address, "openid", Some(VERIFIER)).await;
    let wrong = "another-pkce-verifier-that-is-long-enough-012345";
    refusal(exchange(&app, &rp, &code, Some(wrong)).await, 400, "invalid_grant").await;
    let (code, _) = code_for(&app, &rp, &address, "openid", Some(VERIFIER)).await;
    refusal(exchange(&app, &rp, &code, None).await, 400, "invalid_grant").await;
    let (code, _) = code_for(&app, &rp, &address, "openid", None).await;
    refusal(exchange(&app, &rp, &code, Some(VERIFIER)).await, 400, "invalid_grant").await;
}

async fn an_expired_code_is_refused(backend: Backend) {
    let (app, address, _, rp) = site(backend).await;
    let (code, _) = code_for(&app, &rp, &address, "openid", Some(VERIFIER)).await;
    app.clock.advance(61);
    refusal(exchange(&app, &rp, &code, Some(VERIFIER)).await, 400, "invalid_grant").await;
    let (code, _) = code_for(&app, &rp, &address, "openid", Some(VERIFIER)).await;
    app.clock.advance(60);
    assert_eq!(exchange(&app, &rp, &code, Some(VERIFIER)).await.status(), 200, "a code works for 60 seconds");
}

async fn a_wrong_client_secret_is_refused_and_repeated_failures_lock_the_application(backend: Backend) {
    let (app, address, _, rp) = site(backend).await;
    let (code, _) = code_for(&app, &rp, &address, "openid", None).await;
    let wrong = Rp { client_secret: Some(learners::domain::Token::generate().as_str().to_owned()), ..rp.clone() };
    let answer = exchange(&app, &wrong, &code, None).await;
    assert!(answer.headers().contains_key("www-authenticate"));
    refusal(answer, 401, "invalid_client").await;
    let basic = app
        .client
        .post(app.url("/oauth2/token"))
        .basic_auth(&rp.client_id, Some("not-the-secret"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("grant_type=authorization_code&code={code}&redirect_uri={}", learners_tests::urlencode(REDIRECT)))
        .send()
        .await
        .unwrap();
    refusal(basic, 401, "invalid_client").await;
    // Four more failures make six (the site's lockout): then the right secret is refused too,
    // from this address (the counter is per application and address).
    for _ in 0..4 {
        refusal(exchange(&app, &wrong, &code, None).await, 401, "invalid_client").await;
    }
    refusal(exchange(&app, &rp, &code, None).await, 401, "invalid_client").await;
}

async fn a_reused_refresh_token_revokes_its_family(backend: Backend) {
    let (app, address, _, rp) = site(backend).await;
    let (code, _) = code_for(&app, &rp, &address, "openid offline_access", None).await;
    let tokens: Value = exchange(&app, &rp, &code, None).await.json().await.unwrap();
    let first = tokens["refresh_token"].as_str().expect("offline_access gives a refresh token").to_owned();
    let renewed = token(&app, &rp, &[("grant_type", "refresh_token"), ("refresh_token", &first)]).await;
    assert_eq!(renewed.status(), 200);
    let renewed: Value = renewed.json().await.unwrap();
    let second = renewed["refresh_token"].as_str().expect("rotated").to_owned();
    assert_ne!(first, second);
    let access = renewed["access_token"].as_str().unwrap().to_owned();
    assert!(renewed["id_token"].is_string());
    assert_eq!(userinfo(&app, &access).await.status(), 200);

    refusal(
        token(&app, &rp, &[("grant_type", "refresh_token"), ("refresh_token", &first)]).await,
        400,
        "invalid_grant",
    )
    .await;
    refusal(
        token(&app, &rp, &[("grant_type", "refresh_token"), ("refresh_token", &second)]).await,
        400,
        "invalid_grant",
    )
    .await;
    assert_eq!(userinfo(&app, &access).await.status(), 401, "the whole family is revoked");
}

async fn prompt_none_without_a_session_answers_login_required(backend: Backend) {
    let (app, _, _, rp) = site(backend).await;
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", &rp.client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid")
        .append_pair("state", "s-9")
        .append_pair("prompt", "none")
        .finish();
    let answer = app.client.get(app.url(&format!("/oauth2/authorize?{query}"))).send().await.unwrap();
    assert_eq!(answer.status(), 302);
    let back = location(&answer);
    assert!(back.starts_with(REDIRECT));
    let params = query_of(&back);
    assert_eq!(params["error"], "login_required");
    assert_eq!(params["state"], "s-9");
    assert_eq!(params["iss"], app.app.config.site_url);
    assert!(!params.contains_key("code"));
}

/// `login_hint` fills in the sign-in page's email: a valid address only.
async fn login_hint_fills_in_the_sign_in_page(backend: Backend) {
    let (app, _, _, rp) = site(backend).await;
    for (hint, shown) in [("ada.hint@example.org", true), ("not an address <b>", false)] {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &rp.client_id)
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("scope", "openid")
            .append_pair("state", "s-h")
            .append_pair("nonce", "n-h")
            .append_pair("login_hint", hint)
            .finish();
        let answer = app.client.get(app.url(&format!("/oauth2/authorize?{query}"))).send().await.unwrap();
        assert_eq!(answer.status(), 303);
        let login = location(&answer);
        assert!(login.starts_with("/login?next="), "{login}");
        assert_eq!(login.contains("login_hint="), shown, "{login}");
        let page = app.client.get(app.url(&login)).header("accept", "text/html").send().await.unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert_eq!(html.contains(r#"value="ada.hint@example.org""#), shown, "{hint}");
        assert!(!html.contains("<b>"), "a bad hint never reaches the page");
    }
}

async fn a_tampered_or_unsigned_id_token_fails_the_relying_partys_verification(backend: Backend) {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let (app, address, _, rp) = site(backend).await;
    let http = http_client();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.app.config.site_url.clone()).unwrap(), &http)
            .await
            .unwrap();
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(rp.client_id.clone()),
        rp.client_secret.clone().map(ClientSecret::new),
    );
    let (code, _) = code_for(&app, &rp, &address, "openid email", None).await;
    let tokens: Value = exchange(&app, &rp, &code, None).await.json().await.unwrap();
    let genuine = tokens["id_token"].as_str().unwrap();
    let nonce = Nonce::new("no-1".into());
    let verifier = client.id_token_verifier();
    let parsed: CoreIdToken = genuine.parse().unwrap();
    assert!(parsed.claims(&verifier, &nonce).is_ok(), "the genuine token verifies");

    let parts: Vec<&str> = genuine.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["email"] = json!("someone.else@example.com");
    let forged = URL_SAFE_NO_PAD.encode(claims.to_string());
    let tampered: CoreIdToken = format!("{}.{forged}.{}", parts[0], parts[2]).parse().unwrap();
    assert!(tampered.claims(&verifier, &nonce).is_err(), "changed claims fail");
    let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#);
    let unsigned: Result<CoreIdToken, _> = format!("{none_header}.{forged}.").parse();
    if let Ok(unsigned) = unsigned {
        assert!(unsigned.claims(&verifier, &nonce).is_err(), "alg none fails");
    }
}

async fn userinfo_and_refresh_after_deletion_are_refused(backend: Backend) {
    let (app, address, _, rp) = site(backend).await;
    let (code, _) = code_for(&app, &rp, &address, "openid offline_access", None).await;
    let tokens: Value = exchange(&app, &rp, &code, None).await.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&app, access).await.status(), 200);
    let deleted = app
        .client
        .post(app.url("/admin/v1/deletions"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"emails": [address]}))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 202);
    app.settle().await;
    assert!(app.user(&address).await.is_none(), "deleted");
    assert_eq!(userinfo(&app, access).await.status(), 401);
    let refresh = tokens["refresh_token"].as_str().unwrap();
    refusal(
        token(&app, &rp, &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await,
        400,
        "invalid_grant",
    )
    .await;
}

async fn an_application_signs_the_learner_out_of_the_site(backend: Backend) {
    let (app, address, _, rp) = site(backend).await;
    let (code, cookie) = code_for(&app, &rp, &address, "openid", None).await;
    let tokens: Value = exchange(&app, &rp, &code, None).await.json().await.unwrap();
    let hint = tokens["id_token"].as_str().unwrap();
    let account = || app.client.get(app.url("/api/v1/account")).header("cookie", &cookie).send();
    assert_eq!(account().await.unwrap().status(), 200);

    let logout = |pairs: Vec<(&str, &str)>| {
        let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
        app.client.get(app.url(&format!("/oauth2/logout?{query}"))).header("cookie", &cookie).send()
    };
    let elsewhere =
        logout(vec![("id_token_hint", hint), ("post_logout_redirect_uri", "https://evil.example/")]).await.unwrap();
    assert_eq!(elsewhere.status(), 400, "an unregistered address gets a page");
    assert!(elsewhere.headers().get("location").is_none());
    let forged = format!("{hint}x");
    assert_eq!(logout(vec![("id_token_hint", &forged)]).await.unwrap().status(), 400, "a forged hint");
    assert_eq!(logout(vec![]).await.unwrap().status(), 400, "no hint: no cross-site sign-out");
    assert_eq!(account().await.unwrap().status(), 200, "refused sign-outs end nothing");

    let registered = format!("{REDIRECT}/signed-out");
    let done = logout(vec![("id_token_hint", hint), ("post_logout_redirect_uri", &registered), ("state", "bye-1")])
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    let back = location(&done);
    assert!(back.starts_with(&registered), "{back}");
    assert_eq!(query_of(&back)["state"], "bye-1");
    assert!(done.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"), "the cookie is cleared");
    assert_eq!(account().await.unwrap().status(), 401, "the site session ended");
}

async fn operators_register_list_rotate_and_remove_applications(backend: Backend) {
    let (app, address, _, rp) = site(backend).await;
    let refused = app
        .admin_post_json("/admin/v1/clients", &json!({"name": "LMS", "redirect_uris": ["http://lms.example.org/cb"]}))
        .await;
    assert_eq!(refused.status(), 422, "plain http only on loopback");
    let body: Value = refused.json().await.unwrap();
    assert!(body["error"]["fields"]["redirect_uris"].is_string(), "{body}");
    let unknown = app
        .admin_post_json("/admin/v1/clients", &json!({"name": "LMS", "redirect_uris": [REDIRECT], "scope": "x"}))
        .await;
    assert_eq!(unknown.status(), 422, "unknown fields are refused");
    assert_eq!(app.client.get(app.url("/admin/v1/clients")).send().await.unwrap().status(), 401);

    let listed: Value = app.admin_get("/admin/v1/clients").await.json().await.unwrap();
    let entry = listed["clients"].as_array().unwrap().iter().find(|c| c["client_id"] == rp.client_id.as_str()).cloned();
    let entry = entry.expect("the application is listed");
    assert_eq!(entry["redirect_uris"], json!([REDIRECT]));
    assert_eq!(entry["public"], false);
    assert!(entry.get("client_secret").is_none(), "a secret is shown once");
    assert!(!listed.to_string().contains(rp.client_secret.as_deref().unwrap()));

    let rotated = app
        .client
        .post(app.url(&format!("/admin/v1/clients/{}/secret", rp.client_id)))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status(), 200);
    let rotated: Value = rotated.json().await.unwrap();
    let renewed = Rp { client_secret: rotated["client_secret"].as_str().map(str::to_owned), ..rp.clone() };
    let (code, _) = code_for(&app, &rp, &address, "openid", None).await;
    refusal(exchange(&app, &rp, &code, None).await, 401, "invalid_client").await;
    let (code, _) = code_for(&app, &rp, &address, "openid", None).await;
    assert_eq!(exchange(&app, &renewed, &code, None).await.status(), 200, "the new secret works");

    let public = app.register_rp("http://127.0.0.1:9/public/", true).await;
    assert!(public.client_secret.is_none());
    let no_secret = app
        .client
        .post(app.url(&format!("/admin/v1/clients/{}/secret", public.client_id)))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(no_secret.status(), 409);
    let (code, _) = code_for(&app, &public, &address, "openid", Some(VERIFIER)).await;
    assert_eq!(exchange(&app, &public, &code, Some(VERIFIER)).await.status(), 200, "a public client with PKCE");

    let audit: Value = app.admin_get(&format!("/admin/v1/audit?user_id={}", rp.client_id)).await.json().await.unwrap();
    let actions: Vec<&str> = audit["entries"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"oidc_client_register") && actions.contains(&"oidc_client_rotate_secret"), "{actions:?}");

    let remove =
        || app.client.delete(app.url(&format!("/admin/v1/clients/{}", rp.client_id))).bearer_auth(ADMIN_TOKEN).send();
    assert_eq!(remove().await.unwrap().status(), 204);
    assert_eq!(remove().await.unwrap().status(), 404);
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", &rp.client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid")
        .finish();
    let gone = app.client.get(app.url(&format!("/oauth2/authorize?{query}"))).send().await.unwrap();
    assert_eq!(gone.status(), 400, "a removed application signs nobody in");
}

async fn a_public_client_must_use_pkce_and_plain_is_refused(backend: Backend) {
    let (app, _, _, _) = site(backend).await;
    let public = app.register_rp("http://127.0.0.1:9/public/", true).await;
    for (method, challenge) in [(None, None), (Some("plain"), Some(VERIFIER)), (None, Some(VERIFIER))] {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &public.client_id)
            .append_pair("redirect_uri", &public.redirect_uri)
            .append_pair("scope", "openid");
        if let Some(challenge) = challenge {
            query.append_pair("code_challenge", challenge);
        }
        if let Some(method) = method {
            query.append_pair("code_challenge_method", method);
        }
        let answer = app.client.get(app.url(&format!("/oauth2/authorize?{}", query.finish()))).send().await.unwrap();
        assert_eq!(answer.status(), 302);
        assert_eq!(query_of(&location(&answer))["error"], "invalid_request", "{method:?} {challenge:?}");
    }
}

async fn prompt_login_and_max_age_send_a_signed_in_learner_to_sign_in_again(backend: Backend) {
    let (app, address, _, rp) = site(backend).await;
    let (_, cookie) = code_for(&app, &rp, &address, "openid", None).await;
    let authorize = |extra: (&str, &str)| {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &rp.client_id)
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("scope", "openid")
            .append_pair(extra.0, extra.1)
            .finish();
        app.client.get(app.url(&format!("/oauth2/authorize?{query}"))).header("cookie", &cookie).send()
    };
    assert_eq!(authorize(("max_age", "3600")).await.unwrap().status(), 302, "a fresh sign-in is enough");
    let again = authorize(("prompt", "login")).await.unwrap();
    assert_eq!(again.status(), 303);
    let login = location(&again);
    assert!(login.starts_with("/login?next="));
    assert!(!login.contains("prompt"), "after signing in, the authorization goes on: {login}");
    app.clock.advance(120);
    assert_eq!(authorize(("max_age", "60")).await.unwrap().status(), 303, "signed in too long ago");
    let none = authorize(("prompt", "none")).await.unwrap();
    assert_eq!(none.status(), 302);
    assert!(query_of(&location(&none)).contains_key("code"), "prompt=none with a session gives a code");
}

/// Browsers hold a sign-in form's redirects to its page's `form-action`: the page allows the
/// application's origin when (and only when) it signs in for that application.
async fn the_sign_in_page_lets_its_form_return_to_the_application_only(backend: Backend) {
    let (app, _, _, rp) = site(backend).await;
    let login = |redirect: &str| {
        let authorize = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &rp.client_id)
            .append_pair("redirect_uri", redirect)
            .append_pair("scope", "openid")
            .finish();
        let next: String =
            url::form_urlencoded::byte_serialize(format!("/oauth2/authorize?{authorize}").as_bytes()).collect();
        app.client.get(app.url(&format!("/login?next={next}"))).header("accept", "text/html").send()
    };
    let csp = |response: &reqwest::Response| response.headers()["content-security-policy"].to_str().unwrap().to_owned();
    let registered = login(REDIRECT).await.unwrap();
    assert!(csp(&registered).contains("form-action 'self' http://127.0.0.1:9;"), "{}", csp(&registered));
    let forged = login("https://evil.example/cb").await.unwrap();
    assert!(csp(&forged).contains("form-action 'self';"), "{}", csp(&forged));
    let plain = app.client.get(app.url("/login")).send().await.unwrap();
    assert!(csp(&plain).contains("form-action 'self';"));
}

on_both_backends!(
    login_hint_fills_in_the_sign_in_page,
    an_application_signs_a_learner_in_with_a_relying_party_library,
    an_unregistered_redirect_uri_gets_a_page_and_no_redirect,
    a_reused_code_is_refused_and_its_tokens_revoked,
    a_wrong_pkce_verifier_is_refused,
    an_expired_code_is_refused,
    a_wrong_client_secret_is_refused_and_repeated_failures_lock_the_application,
    a_reused_refresh_token_revokes_its_family,
    prompt_none_without_a_session_answers_login_required,
    a_tampered_or_unsigned_id_token_fails_the_relying_partys_verification,
    userinfo_and_refresh_after_deletion_are_refused,
    an_application_signs_the_learner_out_of_the_site,
    operators_register_list_rotate_and_remove_applications,
    a_public_client_must_use_pkce_and_plain_is_refused,
    prompt_login_and_max_age_send_a_signed_in_learner_to_sign_in_again,
    the_sign_in_page_lets_its_form_return_to_the_application_only,
);
