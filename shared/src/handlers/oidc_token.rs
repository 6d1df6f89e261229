//! Function `oidc-token`: `POST /oauth2/token`. The only function allowed to sign with the
//! KMS key (`kms:Sign`). Answers and errors are JSON as RFC 6749 §5.1 and §5.2 say, never
//! cached (`Cache-Control: no-store`).

use crate::http::response::Reply;
use crate::http::{response, ApiError};
use crate::oidc::token::{exchange, TokenError, TokenRequest};
use crate::App;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use lambda_http::Request;
use serde_json::json;

pub async fn handle(app: &App, req: Request) -> Reply {
    let request = match token_request(&req) {
        Ok(request) => request,
        Err(error) => return error_response(error),
    };
    match exchange(app, &request).await {
        Ok(issued) => {
            let mut body = json!({
                "access_token": issued.access_token.as_str(),
                "token_type": "Bearer",
                "expires_in": issued.expires_in,
                "id_token": issued.id_token,
                "scope": issued.scope,
            });
            if let Some(refresh) = &issued.refresh_token {
                body["refresh_token"] = json!(refresh.as_str());
            }
            let mut response = response::json(200, &body);
            response.headers_mut().insert(http::header::PRAGMA, http::HeaderValue::from_static("no-cache"));
            response
        }
        Err(error) => error_response(error),
    }
}

fn token_request(req: &Request) -> Result<TokenRequest, TokenError> {
    if crate::http::body::content_type(req).as_deref() != Some("application/x-www-form-urlencoded") {
        return Err(TokenError::InvalidRequest("Send the parameters as application/x-www-form-urlencoded."));
    }
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > crate::http::MAX_BODY_BYTES {
        return Err(TokenError::InvalidRequest("The body is too large."));
    }
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_bytes(bytes).map_err(|_| TokenError::InvalidRequest("The form body is malformed."))?;
    let mut request = TokenRequest { source_ip: source_ip(req), ..TokenRequest::default() };
    // An allow-list: a parameter this endpoint does not take is refused.
    for (name, value) in pairs {
        let slot = match name.as_str() {
            "grant_type" => &mut request.grant_type,
            "code" => &mut request.code,
            "redirect_uri" => &mut request.redirect_uri,
            "code_verifier" => &mut request.code_verifier,
            "refresh_token" => &mut request.refresh_token,
            "client_id" => &mut request.client_id,
            "client_secret" => &mut request.client_secret,
            // A refresh may narrow the scope; the provider keeps the granted one (RFC 6749 §6).
            "scope" => continue,
            _ => return Err(TokenError::InvalidRequest("The request has a parameter this endpoint does not take.")),
        };
        if slot.replace(value).is_some() {
            return Err(TokenError::InvalidRequest("A parameter is repeated."));
        }
    }
    if let Some((id, secret)) = basic_credentials(req)? {
        // RFC 6749 §2.3: one authentication method per request.
        if request.client_secret.is_some() || request.client_id.as_deref().is_some_and(|given| given != id) {
            return Err(TokenError::InvalidRequest("Authenticate the client one way only."));
        }
        request.client_id = Some(id);
        request.client_secret = Some(secret);
    }
    Ok(request)
}

/// The caller's address as API Gateway (or the local gateway) saw it.
fn source_ip(req: &Request) -> Option<String> {
    use lambda_http::request::RequestContext;
    use lambda_http::RequestExt;
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone().filter(|ip| !ip.is_empty()),
        _ => None,
    }
}

/// `client_secret_basic`: `Authorization: Basic` of the form-encoded id and secret (RFC 6749
/// §2.3.1).
fn basic_credentials(req: &Request) -> Result<Option<(String, String)>, TokenError> {
    let Some(value) = req.headers().get(http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = TokenError::InvalidClient;
    let value = value.to_str().map_err(|_| TokenError::InvalidClient)?;
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Err(malformed);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(malformed);
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| TokenError::InvalidClient)?;
    let decoded = String::from_utf8(decoded).map_err(|_| TokenError::InvalidClient)?;
    let (id, secret) = decoded.split_once(':').ok_or(TokenError::InvalidClient)?;
    let form_decode = |raw: &str| -> String {
        url::form_urlencoded::parse(format!("x={raw}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((form_decode(id), form_decode(secret))))
}

fn error_response(error: TokenError) -> Reply {
    let (status, code, description) = match &error {
        TokenError::InvalidRequest(why) => (400, "invalid_request", *why),
        TokenError::InvalidClient => (401, "invalid_client", "Client authentication failed."),
        TokenError::InvalidGrant(why) => (400, "invalid_grant", *why),
        TokenError::UnsupportedGrantType => {
            (400, "unsupported_grant_type", "Only authorization_code and refresh_token are supported.")
        }
        TokenError::Unexpected(e) => {
            // Logged with its cause; the body stays opaque.
            let _ = ApiError::unexpected(e);
            (500, "server_error", "Something went wrong on our side.")
        }
    };
    let mut response = response::json(status, &json!({"error": code, "error_description": description}));
    response.headers_mut().insert(http::header::PRAGMA, http::HeaderValue::from_static("no-cache"));
    if status == 401 {
        response
            .headers_mut()
            .insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static(r#"Basic realm="oauth2""#));
    }
    response
}
