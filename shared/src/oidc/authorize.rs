//! The authorization endpoint (OIDC Core §3.1.2; RFC 6749 §4.1.1). An unknown application or
//! an unregistered redirect URI is told to the person on a page, never by redirecting there
//! (that would make the provider an open redirector). Every other refusal goes back to the
//! application's redirect URI as RFC 6749 §4.1.2.1 says, with `iss` (RFC 9207) so that a
//! client talking to several providers knows which one answered (mix-up attacks).
//!
//! A learner who is not signed in (or must sign in again: `prompt=login`, `max_age` run out)
//! is sent to the site's own sign-in page, with its lockout, device cookie and every rule it
//! has, and comes back here afterwards. So is a learner whose account has a second factor but
//! whose session was begun with the password alone (one from before the second factor was set
//! up): the application is told of a multi-factor sign-in (`amr`) only after one. Operator-registered applications are first-party: no
//! consent screen, as Keycloak and Cognito do by default.

use crate::domain::oidc::{ClientId, CodeChallenge, CodeRecord, OidcClient, RedirectUri, Scope, CODE_TTL_SECONDS};
use crate::domain::{SessionRecord, Token, User};
use crate::App;

/// Parameters longer than this are refused (a `state` or `nonce` is a few dozen characters).
const MAX_PARAMETER_LENGTH: usize = 2048;

/// The request's parameters, from the query (GET) or the form (POST), as sent.
#[derive(Clone, Debug, Default)]
pub struct AuthorizeParams {
    pairs: Vec<(String, String)>,
}

impl AuthorizeParams {
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Self { pairs }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// RFC 6749 §3.1: no parameter may be sent twice.
    fn repeated(&self) -> bool {
        let mut names: Vec<&str> = self.pairs.iter().map(|(k, _)| k.as_str()).collect();
        names.sort_unstable();
        names.windows(2).any(|w| w[0] == w[1])
    }

    /// Where the authorization goes on after a sign-in: this very request, less what asked for
    /// the sign-in (`prompt`, `max_age`: it has just happened), as a path of this site.
    pub fn return_to(&self) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in self.pairs.iter().filter(|(k, _)| k != "prompt" && k != "max_age") {
            query.append_pair(name, value);
        }
        format!("{}?{}", super::AUTHORIZE_PATH, query.finish())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    /// No `client_id`, or none registered: a page, no redirect.
    #[error("unknown application")]
    UnknownClient,
    /// No `redirect_uri`, or not one the application registered: a page, no redirect.
    #[error("the redirect URI is not registered")]
    UnregisteredRedirectUri,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// What the browser is told next.
#[derive(Debug, PartialEq, Eq)]
pub enum Authorization {
    /// To the application: a code, or an error (RFC 6749 §4.1.2.1).
    Redirect(String),
    /// To the site's sign-in page, then back to `return_to` (a path of this site).
    SignIn { return_to: String },
}

/// An error for the application, at its redirect URI.
fn refuse(app: &App, uri: &RedirectUri, state: Option<&str>, error: &str, description: &str) -> Authorization {
    let iss = super::issuer(app);
    let mut pairs = vec![("error", error), ("error_description", description)];
    if let Some(state) = state {
        pairs.push(("state", state));
    }
    pairs.push(("iss", &iss));
    tracing::info!(error, description, "authorization refused");
    Authorization::Redirect(uri.with_query(&pairs))
}

pub async fn authorize(
    app: &App,
    params: &AuthorizeParams,
    signed_in: Option<(User, SessionRecord)>,
) -> Result<Authorization, AuthorizeError> {
    let client = match params.get("client_id").and_then(ClientId::parse) {
        Some(id) => app.oidc.client(&id).await?.ok_or(AuthorizeError::UnknownClient)?,
        None => return Err(AuthorizeError::UnknownClient),
    };
    let uri = params
        .get("redirect_uri")
        .and_then(|raw| client.registered_redirect(raw))
        .cloned()
        .ok_or(AuthorizeError::UnregisteredRedirectUri)?;
    let state = params.get("state").filter(|s| !s.is_empty());
    let refuse = |error: &str, description: &str| Ok(refuse(app, &uri, state, error, description));
    if params.repeated() {
        return refuse("invalid_request", "A parameter is repeated.");
    }
    if params.pairs.iter().any(|(_, v)| v.len() > MAX_PARAMETER_LENGTH) {
        return refuse("invalid_request", "A parameter is too long.");
    }
    match params.get("response_type") {
        Some("code") => {}
        None => return refuse("invalid_request", "response_type is required."),
        Some(_) => return refuse("unsupported_response_type", "Only response_type=code is supported."),
    }
    let scope = Scope::parse(params.get("scope").unwrap_or_default());
    if !scope.openid {
        return refuse("invalid_scope", "The scope must include openid.");
    }
    if params.get("request").is_some() || params.get("request_uri").is_some() {
        return refuse("request_not_supported", "Request objects are not supported.");
    }
    let challenge = match (params.get("code_challenge"), params.get("code_challenge_method")) {
        (None, None) => None,
        (Some(challenge), Some("S256")) => match CodeChallenge::parse(challenge) {
            Some(challenge) => Some(challenge),
            None => return refuse("invalid_request", "code_challenge is not a S256 challenge."),
        },
        // RFC 7636 §4.3: no method means `plain`, which protects nothing.
        (Some(_), _) => return refuse("invalid_request", "Only code_challenge_method=S256 is supported."),
        (None, Some(_)) => return refuse("invalid_request", "code_challenge_method without code_challenge."),
    };
    if challenge.is_none() && client.is_public() {
        return refuse("invalid_request", "A public client must use PKCE (code_challenge with S256).");
    }
    let prompts: Vec<&str> = params.get("prompt").unwrap_or_default().split(' ').filter(|p| !p.is_empty()).collect();
    let prompt_none = prompts.contains(&"none");
    let prompt_login = prompts.contains(&"login");
    if prompt_none && prompts.len() > 1 {
        return refuse("invalid_request", "prompt=none cannot be combined with another value.");
    }
    let max_age = match params.get("max_age").map(str::parse::<i64>) {
        None => None,
        Some(Ok(seconds)) if seconds >= 0 => Some(seconds),
        Some(_) => return refuse("invalid_request", "max_age must be a whole number of seconds."),
    };
    let now = app.clock.now();
    let fresh_enough =
        |session: &SessionRecord| max_age.is_none_or(|age| now.unix() - session.password_at.unix() <= age);
    // A password-only session of an account that has a second factor now signs in again.
    let single_factor_of_enrolled = match &signed_in {
        Some((user, session)) if !session.is_multi_factor() => {
            app.factors.second_factors(&user.id).await?.is_enrolled()
        }
        _ => false,
    };
    let (user, session) = match signed_in {
        Some((user, session)) if !prompt_login && fresh_enough(&session) && !single_factor_of_enrolled => {
            (user, session)
        }
        Some(_) | None if prompt_none => {
            return refuse("login_required", "The learner is not signed in (or must sign in again).")
        }
        _ => return Ok(Authorization::SignIn { return_to: params.return_to() }),
    };
    let code = issue_code(app, &client, &user, &session, &uri, &scope, params.get("nonce"), challenge).await?;
    let iss = super::issuer(app);
    let mut pairs = vec![("code", code.as_str())];
    if let Some(state) = state {
        pairs.push(("state", state));
    }
    pairs.push(("iss", &iss));
    tracing::info!(user_id = %user.id, client_id = %client.id, "authorization code issued");
    Ok(Authorization::Redirect(uri.with_query(&pairs)))
}

#[allow(clippy::too_many_arguments)]
async fn issue_code(
    app: &App,
    client: &OidcClient,
    user: &User,
    session: &SessionRecord,
    uri: &RedirectUri,
    scope: &Scope,
    nonce: Option<&str>,
    challenge: Option<CodeChallenge>,
) -> anyhow::Result<Token> {
    let now = app.clock.now();
    let code = Token::generate();
    let record = CodeRecord {
        hash: code.hash(),
        family: uuid::Uuid::now_v7().to_string(),
        client_id: client.id.clone(),
        user_id: user.id.clone(),
        redirect_uri: uri.clone(),
        scope: scope.to_string(),
        nonce: nonce.map(str::to_owned),
        code_challenge: challenge,
        auth_time: session.password_at,
        methods: session.methods.clone(),
        auth_epoch: user.auth_epoch,
        created_at: now,
        expires_at: now.plus_seconds(CODE_TTL_SECONDS),
        used_at: None,
    };
    app.oidc.put_code(&record).await?;
    Ok(code)
}
