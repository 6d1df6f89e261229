//! Function `admin-users` (operators only): `GET /admin/v1/users?email=`,
//! `GET /admin/v1/users/search` (find learners: `flows::directory`), `GET /admin/v1/jobs`, and
//! `POST /admin/v1/users/{activate,password,unlock,clear-mail-refusal,remove-second-factors,email}`,
//! `POST /admin/v1/users/{disable,enable,reset-link,activation-link,sign-out}` (`flows::operator_actions`), `GET /admin/v1/audit?email=|user_id=`,
//! and the operator role: `GET|POST /admin/v1/operators`, `DELETE /admin/v1/operators/{email}`;
//! the support role: `GET|POST /admin/v1/supporters`, `DELETE /admin/v1/supporters/{email}`; the
//! site settings: `GET /admin/v1/settings`, `PUT /admin/v1/settings` (issue 25).

use crate::domain::{Actor, AuditEntry};
use crate::flows::admin::{self, SupportError};
use crate::flows::admin_email::{change_email_view, EmailFixError};
use crate::flows::audit::{self as audit_log, AuditRequest};
use crate::flows::directory::{self, FindError, FindRequest, Listed};
use crate::flows::settings::{self as site_settings, RoleError, Saved, SettingsError};
use crate::http::console_pages::settings_values;
use crate::http::error::ErrorCode;
use crate::http::identity::operator;
use crate::http::response::Reply;
use crate::http::{path_param, query_param, response, route_key, single_field, ApiError, FieldErrors, Fields};
use crate::App;
use lambda_http::Request;
use serde_json::json;

pub async fn handle(app: &App, req: Request) -> Reply {
    let operator = match operator(app, &req) {
        Ok(operator) => operator,
        Err(refused) => return refused.into(),
    };
    let operator = operator.id.as_str();
    let result = match route_key(&req).as_str() {
        "GET /admin/v1/users" => lookup(app, &req, operator).await,
        "GET /admin/v1/users/search" => search(app, &req, operator).await,
        "GET /admin/v1/jobs" => jobs(app, &req).await,
        "POST /admin/v1/users/activate" => activate(app, &req, operator).await,
        "POST /admin/v1/users/password" => set_password(app, &req, operator).await,
        "POST /admin/v1/users/unlock" => unlock(app, &req, operator).await,
        "POST /admin/v1/users/clear-mail-refusal" => clear_mail_refusal(app, &req, operator).await,
        "POST /admin/v1/users/remove-second-factors" => remove_second_factors(app, &req, operator).await,
        "POST /admin/v1/users/email" => change_email(app, &req, operator).await,
        "POST /admin/v1/users/disable" => act(app, &req, operator, OnOne::Disable).await,
        "POST /admin/v1/users/enable" => act(app, &req, operator, OnOne::Enable).await,
        "POST /admin/v1/users/reset-link" => act(app, &req, operator, OnOne::ResetLink).await,
        "POST /admin/v1/users/activation-link" => act(app, &req, operator, OnOne::ActivationLink).await,
        "POST /admin/v1/users/sign-out" => act(app, &req, operator, OnOne::SignOut).await,
        "GET /admin/v1/audit" => audit(app, &req, operator).await,
        "GET /admin/v1/operators" => operators(app).await,
        "POST /admin/v1/operators" => grant(app, &req, operator).await,
        "DELETE /admin/v1/operators/{email}" => revoke(app, &req, operator).await,
        "GET /admin/v1/supporters" => supporters(app).await,
        "POST /admin/v1/supporters" => grant_support(app, &req, operator).await,
        "DELETE /admin/v1/supporters/{email}" => revoke_support(app, &req, operator).await,
        "GET /admin/v1/settings" => settings(app).await,
        "PUT /admin/v1/settings" => put_settings(app, &req, operator).await,
        _ => Err(ApiError::not_found()),
    };
    result.unwrap_or_else(Reply::from)
}

impl From<SupportError> for ApiError {
    fn from(error: SupportError) -> Self {
        match error {
            SupportError::InvalidEmail(e) => {
                ApiError::validation(FieldErrors::from([("email".to_owned(), e.to_string())]))
            }
            SupportError::NotFound => ApiError::new(ErrorCode::UserNotFound, "No account has this email address."),
            SupportError::WeakPassword(fields) => ApiError::validation(fields),
            SupportError::OwnRole => ApiError::new(ErrorCode::OwnRole, "An operator cannot change their own role."),
            SupportError::NotActive => {
                ApiError::new(ErrorCode::NotActivated, "Only an active account can be given the operator role.")
            }
            // Only a console operator meets it (the admin API may change any account).
            SupportError::OperatorAccount => ApiError::new(
                ErrorCode::Unauthorized,
                "An account with the operator role is changed only through the admin API.",
            ),
            SupportError::InvalidUserId => {
                ApiError::validation(FieldErrors::from([("user_id".to_owned(), "Not a user id (a UUID).".to_owned())]))
            }
            SupportError::Disabled => {
                ApiError::new(ErrorCode::AccountDisabled, "The account is disabled: it gets no mail. Enable it first.")
            }
            SupportError::NotPending => {
                ApiError::new(ErrorCode::NotPending, "Only an account waiting for activation has an activation link.")
            }
            SupportError::TooManyMails => ApiError::new(
                ErrorCode::TooManyMails,
                "The learner was mailed on operators' word too often this hour; try again later.",
            ),
            SupportError::Unexpected(e) => ApiError::unexpected(&e),
        }
    }
}

impl From<EmailFixError> for ApiError {
    fn from(error: EmailFixError) -> Self {
        let field = |name: &str, message: String| ApiError::validation(FieldErrors::from([(name.to_owned(), message)]));
        match error {
            EmailFixError::InvalidEmail(e) => field("email", e.to_string()),
            EmailFixError::InvalidNewEmail(e) => field("new_email", e.to_string()),
            EmailFixError::NotFound => ApiError::new(ErrorCode::UserNotFound, "No account has this email address."),
            // Operators may know which addresses have accounts: they can look them up.
            EmailFixError::Taken => {
                ApiError::new(ErrorCode::EmailTaken, "Another account already uses the new address.")
            }
            EmailFixError::OperatorAccount => ApiError::new(
                ErrorCode::Unauthorized,
                "An account with the operator role is changed only through the admin API.",
            ),
            EmailFixError::Unexpected(e) => ApiError::unexpected(&e),
        }
    }
}

fn required_query(req: &Request, name: &str) -> Result<String, ApiError> {
    query_param(req, name).ok_or_else(|| {
        ApiError::validation(FieldErrors::from([(name.to_owned(), "This query parameter is required.".to_owned())]))
    })
}

async fn lookup(app: &App, req: &Request, operator: &str) -> Result<Reply, ApiError> {
    let user = admin::look_up(app, operator, &required_query(req, "email")?).await?;
    Ok(response::json(200, &user))
}

impl From<FindError> for ApiError {
    fn from(error: FindError) -> Self {
        match error {
            FindError::Invalid(field, message) => {
                ApiError::validation(FieldErrors::from([(field.to_owned(), message)]))
            }
            FindError::Unexpected(e) => ApiError::unexpected(&e),
        }
    }
}

/// A learner in a list, as the admin API shows one.
pub fn listed_json(listed: &Listed) -> serde_json::Value {
    let user = &listed.user;
    json!({
        "user_id": user.id.as_str(),
        "email": user.email.as_ref(),
        "username": user.username.as_ref(),
        "name": user.name.as_ref(),
        "status": user.status,
        "source": user.source,
        "created_at": user.created_at,
        "operator": user.operator,
        "disabled": user.disabled_at.is_some(),
        "locked_until": listed.locked_until,
    })
}

/// `format=csv` (the export) or `json` (the default); anything else is refused by name.
fn wants_csv(req: &Request) -> Result<bool, ApiError> {
    match query_param(req, "format").as_deref() {
        None | Some("") | Some("json") => Ok(false),
        Some("csv") => Ok(true),
        Some(_) => {
            let message = "json or csv.".to_owned();
            Err(ApiError::validation(FieldErrors::from([("format".to_owned(), message)])))
        }
    }
}

/// `GET /admin/v1/users/search?q=&status=&source=&created_from=&created_to=&cursor=`
/// (`format=csv`: the export, `flows::directory::export_csv`).
async fn search(app: &App, req: &Request, operator: &str) -> Result<Reply, ApiError> {
    let request = FindRequest::parse(|name| query_param(req, name))?;
    if wants_csv(req)? {
        // The export (audited as export_learners): the rest's cursor in x-next-cursor.
        let (csv, next) = directory::export_csv(app, operator, &request).await?;
        return Ok(response::csv_download(csv, "learners.csv", next.map(|c| c.encode())));
    }
    let found = directory::find(app, &request).await?;
    let users: Vec<serde_json::Value> = found.learners.iter().map(listed_json).collect();
    Ok(response::json(200, &json!({"users": users, "next_cursor": found.next.map(|c| c.encode())})))
}

/// `GET /admin/v1/jobs?cursor=`: past bulk registrations and deletions, newest first.
async fn jobs(app: &App, req: &Request) -> Result<Reply, ApiError> {
    let (jobs, next) = directory::recent_jobs(app, query_param(req, "cursor").as_deref()).await?;
    let jobs: Vec<serde_json::Value> = jobs
        .iter()
        .map(|job| {
            let counts = job.final_counts;
            json!({
                "job_id": job.id,
                "kind": job.kind.as_str(),
                "requested_by": job.operator,
                "created_at": job.created_at,
                "status": job.status.as_str(),
                "total": job.total,
                "done": counts.map(|c| c.done),
                "skipped": counts.map(|c| c.skipped),
                "failed": counts.map(|c| c.failed),
            })
        })
        .collect();
    Ok(response::json(200, &json!({"jobs": jobs, "next_cursor": next.map(|c| c.encode())})))
}

async fn activate(app: &App, req: &Request, operator: &str) -> Result<Reply, ApiError> {
    admin::activate(app, operator, &single_field(req, "email")?).await?;
    Ok(response::json(200, &json!({"status": "active"})))
}

async fn set_password(app: &App, req: &Request, operator: &str) -> Result<Reply, ApiError> {
    let mut fields = Fields::from_request(req)?;
    let mut errors = FieldErrors::new();
    let email = fields.string("email", &mut errors);
    let password = fields.string("password", &mut errors);
    // Kept for compatibility (older scripts send `"notify": true`): the learner is always told,
    // so asking for silence is refused rather than quietly ignored.
    if !fields.boolean_or("notify", true, &mut errors) {
        let message = "The learner is always told of a new password; leave this field out.".to_owned();
        errors.entry("notify".to_owned()).or_insert(message);
    }
    fields.finish(&mut errors);
    let (Some(email), Some(password), true) = (email, password, errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    admin::set_password(app, operator, &email, &password).await?;
    Ok(response::empty(204))
}

async fn unlock(app: &App, req: &Request, operator: &str) -> Result<Reply, ApiError> {
    admin::unlock(app, operator, &single_field(req, "email")?).await?;
    Ok(response::empty(204))
}

async fn clear_mail_refusal(app: &App, req: &Request, operator: &str) -> Result<Reply, ApiError> {
    crate::flows::mail_events::clear_mail_refusal(app, operator, &single_field(req, "email")?).await?;
    Ok(response::empty(204))
}

/// Any account's, an operator's too: how an operator who lost their phone gets back in.
async fn remove_second_factors(app: &App, req: &Request, operator: &str) -> Result<Reply, ApiError> {
    admin::remove_second_factors(app, operator, &single_field(req, "email")?).await?;
    Ok(response::empty(204))
}

/// Moves an account to another address (`flows::admin_email`); any account's, an operator's too.
async fn change_email(app: &App, req: &Request, operator: &str) -> Result<Reply, ApiError> {
    let mut fields = Fields::from_request(req)?;
    let mut errors = FieldErrors::new();
    let email = fields.string("email", &mut errors);
    let new_email = fields.string("new_email", &mut errors);
    fields.finish(&mut errors);
    let (Some(email), Some(new_email), true) = (email, new_email, errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    let user = change_email_view(app, operator, &email, &new_email).await?;
    Ok(response::json(200, &user))
}

/// An operator's action on one learner (`flows::operator_actions`).
#[derive(Clone, Copy)]
enum OnOne {
    Disable,
    Enable,
    ResetLink,
    ActivationLink,
    SignOut,
}

/// `{"email"}` in; the account as it is now out (200), with what was done.
async fn act(app: &App, req: &Request, operator: &str, action: OnOne) -> Result<Reply, ApiError> {
    use crate::flows::operator_actions as actions;
    let email = single_field(req, "email")?;
    let done = match action {
        OnOne::Disable => actions::disable(app, operator, &email).await.map(|()| "disabled"),
        OnOne::Enable => actions::enable(app, operator, &email).await.map(|()| "enabled"),
        OnOne::ResetLink => actions::send_reset_link(app, operator, &email).await.map(|()| "reset_link_sent"),
        OnOne::ActivationLink => {
            actions::resend_activation(app, operator, &email).await.map(|()| "activation_link_sent")
        }
        OnOne::SignOut => actions::sign_out_everywhere(app, operator, &email).await.map(|()| "signed_out"),
    }?;
    let user = admin::user_by_email(app, &email).await?;
    Ok(response::json(200, &json!({ "done": done, "user": user })))
}

async fn operators(app: &App) -> Result<Reply, ApiError> {
    Ok(response::json(200, &json!({ "operators": admin::operators(app).await? })))
}

async fn grant(app: &App, req: &Request, operator: &str) -> Result<Reply, ApiError> {
    admin::set_operator_role(app, operator, &single_field(req, "email")?, true).await?;
    Ok(response::empty(204))
}

async fn revoke(app: &App, req: &Request, operator: &str) -> Result<Reply, ApiError> {
    let raw = path_param(req, "email").unwrap_or_default();
    let email = percent_encoding::percent_decode_str(&raw).decode_utf8_lossy();
    admin::set_operator_role(app, operator, &email, false).await?;
    Ok(response::empty(204))
}

/// `GET /admin/v1/audit?operator=&action=&learner=&from=&to=&cursor=` (`flows::audit`; the
/// learner also as `email=` or `user_id=`): a page of entries, newest first, and the next
/// page's cursor; `format=csv`: the export (audited), the rest's cursor in `x-next-cursor`.
async fn audit(app: &App, req: &Request, operator: &str) -> Result<Reply, ApiError> {
    if query_param(req, "user_id").is_some_and(|id| crate::domain::UserId::parse(&id).is_none()) {
        let message = "A user id (a UUID).".to_owned();
        return Err(ApiError::validation(FieldErrors::from([("user_id".to_owned(), message)])));
    }
    if let Some(email) = query_param(req, "email") {
        // As before the filters: an address with no account is a 404.
        admin::user_by_email(app, &email).await?;
    }
    let request = AuditRequest::parse(|name| match name {
        "learner" => {
            query_param(req, "learner").or_else(|| query_param(req, "email")).or_else(|| query_param(req, "user_id"))
        }
        other => query_param(req, other),
    })?;
    if wants_csv(req)? {
        let (csv, next) = audit_log::export_csv(app, operator, &request).await?;
        return Ok(response::csv_download(csv, "audit.csv", next.map(|c| c.encode())));
    }
    let found = audit_log::find(app, &request).await?;
    let entries: Vec<&AuditEntry> = found.entries.iter().map(|d| &d.entry).collect();
    Ok(response::json(200, &json!({ "entries": entries, "next_cursor": found.next.map(|c| c.encode()) })))
}

impl From<RoleError> for ApiError {
    fn from(error: RoleError) -> Self {
        match error {
            RoleError::InvalidEmail(e) => {
                ApiError::validation(FieldErrors::from([("email".to_owned(), e.to_string())]))
            }
            RoleError::NotFound => ApiError::new(ErrorCode::UserNotFound, "No account has this email address."),
            RoleError::NotAnOperator => ApiError::new(
                ErrorCode::NotAnActiveOperator,
                "Only an active account with the operator role can be given the support role.",
            ),
            RoleError::Unexpected(e) => ApiError::unexpected(&e),
        }
    }
}

async fn supporters(app: &App) -> Result<Reply, ApiError> {
    let list = site_settings::supporters(app).await.map_err(|e| ApiError::unexpected(&e))?;
    let emails: Vec<serde_json::Value> =
        list.iter().map(|u| json!({"user_id": u.id, "email": u.email.as_ref(), "name": u.name.as_ref()})).collect();
    Ok(response::json(200, &json!({ "supporters": emails })))
}

async fn grant_support(app: &App, req: &Request, operator: &str) -> Result<Reply, ApiError> {
    site_settings::set_support_role(app, operator, &single_field(req, "email")?, true).await?;
    Ok(response::empty(204))
}

async fn revoke_support(app: &App, req: &Request, operator: &str) -> Result<Reply, ApiError> {
    let raw = path_param(req, "email").unwrap_or_default();
    let email = percent_encoding::percent_decode_str(&raw).decode_utf8_lossy();
    site_settings::set_support_role(app, operator, &email, false).await?;
    Ok(response::empty(204))
}

/// The settings as the API gives them: the version (also the `ETag`), every value, every
/// default, and who saved them when.
fn settings_reply(status: u16, current: &site_settings::Current) -> Reply {
    let (saved_by, saved_at) = match &current.saved {
        Some((who, at)) => (Some(who.clone()), Some(*at)),
        None => (None, None),
    };
    let body = json!({
        "version": current.version,
        "settings": current.settings,
        "defaults": current.defaults,
        "saved_by": saved_by,
        "saved_at": saved_at,
    });
    let mut reply = response::json(status, &body);
    if let Ok(etag) = http::HeaderValue::from_str(&format!("\"{}\"", current.version)) {
        reply.headers_mut().insert(http::header::ETAG, etag);
    }
    reply
}

async fn settings(app: &App) -> Result<Reply, ApiError> {
    let current = site_settings::current(app).await.map_err(|e| ApiError::unexpected(&e))?;
    Ok(settings_reply(200, &current))
}

/// The version an `If-Match` names (`"4"`, `4` or `W/"4"`): 428 without one, 412 for anything
/// that is not a version (it can match none).
fn if_match(req: &Request) -> Result<u64, ApiError> {
    let Some(raw) = req.headers().get(http::header::IF_MATCH) else {
        return Err(ApiError::new(
            ErrorCode::VersionRequired,
            "Send If-Match with the version you read (GET /admin/v1/settings gives it as the ETag).",
        ));
    };
    let text = raw.to_str().unwrap_or_default().trim();
    let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    text.parse::<u64>().map_err(|_| {
        ApiError::new(ErrorCode::SettingsChanged, "If-Match names no version of the settings: read them again.")
    })
}

/// Replaces every setting, on the version `If-Match` names. An IAM operator may: the admin API
/// is where the roles themselves are granted (the console asks for the support role).
async fn put_settings(app: &App, req: &Request, operator: &str) -> Result<Reply, ApiError> {
    let version = if_match(req)?;
    let mut fields = Fields::from_request(req)?;
    let mut errors = FieldErrors::new();
    let values = settings_values(&mut fields, false, &mut errors);
    fields.finish(&mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    match site_settings::save(app, &Actor::from_record(operator), version, &values).await {
        Ok(Saved::Saved(current)) | Ok(Saved::NoChange(current)) => Ok(settings_reply(200, &current)),
        Err(SettingsError::Invalid(errors)) => Err(ApiError::validation(errors)),
        Err(SettingsError::Conflict(current)) => {
            let message = format!("The settings changed since you read them: version {} is in force.", current.version);
            Err(ApiError::new(ErrorCode::SettingsChanged, message))
        }
        Err(SettingsError::UnknownVersion) => Err(ApiError::not_found()),
        Err(SettingsError::Unexpected(e)) => Err(ApiError::unexpected(&e)),
    }
}
