//! An application signs a learner in: the relying party is the `openidconnect` crate, the
//! learner is headless Chromium, clicking only (the site's sign-in page, then back to the
//! application, a page on another port standing in for the LMS).

use learners::flows::registration::{register, RegistrationForm};
use learners_tests::browser::{serve_page, Browser};
use learners_tests::oidc::query_of;
use learners_tests::{email, unique, Backend, TestApp, PASSWORD};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge, RedirectUrl, Scope,
    TokenResponse,
};

const LMS_PAGE: &str = "<!doctype html><html lang=\"en\"><head><title>LMS</title></head>\
<body><main><h1>Back at the LMS</h1></main></body></html>";

async fn an_application_signs_in_a_learner_who_clicks_through(backend: Backend) {
    let site = TestApp::spawn_site(backend, &[]).await;
    let (lms, _server) = serve_page("127.0.0.1", LMS_PAGE.to_owned()).await;
    let rp = site.register_rp(&lms, false).await;
    let address = email("rp");
    let username = unique("rp");
    let form = RegistrationForm {
        email: address.clone(),
        username: username.clone(),
        name: "Ada Lovelace".into(),
        password: PASSWORD.into(),
        terms_accepted: true,
    };
    register(&site.app, &form).await.expect("registration");
    let link = site.mailed_link(&address, "Activate", "/activate/").await;
    learners::flows::activation::activate(&site.app, link.rsplit('/').next().unwrap(), PASSWORD)
        .await
        .expect("activation");

    let http = openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(site.app.config.site_url.clone()).unwrap(), &http)
            .await
            .expect("discovery");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(rp.client_id.clone()),
        rp.client_secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(lms.clone()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();

    let browser = Browser::start().await;
    browser.open(url.as_str()).await;
    assert_eq!(browser.path().await, "/login", "not signed in: the site's sign-in page");
    browser.fill("Email", &address).await;
    browser.fill("Password", PASSWORD).await;
    browser.press("Sign in").await;
    assert_eq!(browser.heading().await, "Back at the LMS");
    let back = browser.url().await;
    assert!(back.starts_with(&lms), "{back}");
    let params = query_of(&back);
    assert_eq!(params["state"], *state.secret());

    let tokens = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the code exchange");
    let id_token = tokens.id_token().expect("an ID token");
    let claims = id_token.claims(&client.id_token_verifier(), &nonce).expect("the ID token verifies");
    assert_eq!(claims.email().map(|e| e.as_str()), Some(address.as_str()));
    assert_eq!(claims.preferred_username().map(|u| u.as_str()), Some(username.as_str()));
    use openidconnect::OAuth2TokenResponse;
    let info: CoreUserInfoClaims = client
        .user_info(tokens.access_token().to_owned(), Some(claims.subject().clone()))
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(info.name().and_then(|n| n.get(None)).map(|n| n.as_str()), Some("Ada Lovelace"));
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory() {
    an_application_signs_in_a_learner_who_clicks_through(Backend::Memory).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto() {
    an_application_signs_in_a_learner_who_clicks_through(Backend::Moto).await
}
