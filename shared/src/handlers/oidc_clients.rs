//! Function `oidc-clients` (operators only): the applications that sign learners in here.
//! `GET|POST /admin/v1/clients`, `DELETE /admin/v1/clients/{client_id}`,
//! `POST /admin/v1/clients/{client_id}/secret` (a new secret, shown once).

use crate::domain::oidc::OidcClient;
use crate::http::error::ErrorCode;
use crate::http::identity::operator;
use crate::http::response::Reply;
use crate::http::{path_param, response, route_key, ApiError, FieldErrors, Fields};
use crate::oidc::clients::{self, ClientError, NewClient};
use crate::App;
use lambda_http::Request;
use serde_json::{json, Value};

pub async fn handle(app: &App, req: Request) -> Reply {
    let operator = match operator(app, &req) {
        Ok(operator) => operator,
        Err(refused) => return refused.into(),
    };
    let operator = operator.id.as_str();
    let id = path_param(&req, "client_id").unwrap_or_default();
    let result = match route_key(&req).as_str() {
        "GET /admin/v1/clients" => list(app).await,
        "POST /admin/v1/clients" => register(app, &req, operator).await,
        "DELETE /admin/v1/clients/{client_id}" => {
            clients::remove(app, operator, &id).await.map(|()| response::empty(204)).map_err(ApiError::from)
        }
        "POST /admin/v1/clients/{client_id}/secret" => match clients::rotate_secret(app, operator, &id).await {
            Ok(secret) => Ok(response::json(200, &json!({"client_id": id, "client_secret": secret.as_str()}))),
            Err(e) => Err(e.into()),
        },
        _ => Err(ApiError::not_found()),
    };
    result.unwrap_or_else(Reply::from)
}

impl From<ClientError> for ApiError {
    fn from(error: ClientError) -> Self {
        match error {
            ClientError::Invalid(fields) => ApiError::validation(fields),
            ClientError::NotFound => ApiError::new(ErrorCode::ClientNotFound, "No application has this id."),
            ClientError::PublicClient => ApiError::new(ErrorCode::PublicClient, "A public application has no secret."),
            ClientError::Unexpected(e) => ApiError::unexpected(&e),
        }
    }
}

/// An application as operators see it (never its secret or the secret's hash).
pub fn client_json(client: &OidcClient) -> Value {
    json!({
        "client_id": client.id,
        "name": client.name,
        "redirect_uris": client.redirect_uris,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "public": client.is_public(),
        "created_at": client.created_at,
    })
}

async fn list(app: &App) -> Result<Reply, ApiError> {
    let found = clients::list(app).await?;
    Ok(response::json(200, &json!({"clients": found.iter().map(client_json).collect::<Vec<_>>()})))
}

/// A list of strings, or why not.
fn strings(value: Option<Value>, name: &str, errors: &mut FieldErrors) -> Vec<String> {
    match value {
        None => Vec::new(),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
            items.into_iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()
        }
        Some(_) => {
            errors.insert(name.to_owned(), "Must be a list of strings.".to_owned());
            Vec::new()
        }
    }
}

async fn register(app: &App, req: &Request, operator: &str) -> Result<Reply, ApiError> {
    let mut fields = Fields::from_request(req)?;
    let mut errors = FieldErrors::new();
    let name = fields.string("name", &mut errors);
    let redirect_uris = fields.value("redirect_uris", &mut errors);
    let redirect_uris = strings(redirect_uris, "redirect_uris", &mut errors);
    // Optional: `value` notes a missing field, which is no error here.
    let mut optional = FieldErrors::new();
    let post_logout = fields.value("post_logout_redirect_uris", &mut optional);
    let post_logout_redirect_uris = strings(post_logout, "post_logout_redirect_uris", &mut errors);
    let public = fields.boolean_or("public", false, &mut errors);
    fields.finish(&mut errors);
    let (Some(name), true) = (name, errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    let new = NewClient { name, redirect_uris, post_logout_redirect_uris, public };
    let (client, secret) = clients::register(app, operator, &new).await?;
    let mut body = client_json(&client);
    if let Some(secret) = secret {
        body["client_secret"] = json!(secret.as_str());
    }
    Ok(response::json(201, &body))
}
