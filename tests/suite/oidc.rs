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
    // Four more failures make six (the site's lockout): then the right secret is refused too.
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

on_both_backends!(
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
);
