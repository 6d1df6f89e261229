//! "Site settings" in the console (issue 25): `GET /operator/settings` (every operator: the
//! values; the support role: the form), `POST /operator/settings` (save) and
//! `POST /operator/settings/restore` (a kept version back), both for the support role only: an
//! operator without it gets a 403 page and nothing changes. A save is checked whole first
//! (every problem beside its field), then confirmed with the second factor unless done in the
//! last 5 minutes, then written on the version the form was read at: another save in between
//! makes it a conflict page (409) with the values in force, and nothing changes.

use super::{confirmed, needed, wrong_proof, Confirmed, Console, Typed, CONFIRMATION_FIELDS};
use crate::domain::{Actor, FieldErrors, Settings};
use crate::flows::settings::{self, Current, Saved, SettingsError};
use crate::http::console_pages::{settings_page, settings_restore, settings_values, SettingsView, VERSION_FIELD};
use crate::http::response::{self, Reply};
use crate::http::{query_param, ApiError, Fields};
use crate::App;
use lambda_http::Request;
use std::collections::BTreeMap;

/// Why a post from an operator without the support role did nothing.
const NOT_SUPPORT: &str = "Only the support team (the support role) changes the site settings: nothing was saved.";

fn actor(console: &Console) -> Actor {
    Actor::Console { user_id: console.user.id.clone(), email: console.user.email.to_string() }
}

/// The page for `current` (values in force), or with `values` as typed and their problems.
// One page in its every state (as typed, refused, in conflict, with a notice): a struct would
// only rename these.
#[allow(clippy::too_many_arguments)]
async fn page(
    app: &App,
    console: &Console,
    status: u16,
    current: &Current,
    typed: Option<(u64, &BTreeMap<String, String>)>,
    errors: &FieldErrors,
    notice: Option<&str>,
    conflict: bool,
) -> Result<Reply, ApiError> {
    let history = settings::history(app).await.map_err(|e| ApiError::unexpected(&e))?;
    let confirm = if console.user.support { needed(app, console).await? } else { None };
    let in_force = current.settings.values();
    let (version, values) = typed.unwrap_or((current.version, &in_force));
    let view = SettingsView {
        version,
        saved: current.saved.as_ref().map(|(who, at)| (who.as_str(), *at)),
        values,
        defaults: &current.defaults,
        editable: console.user.support,
        errors,
        confirm,
        notice,
        conflict,
        history: &history,
    };
    Ok(response::page(status, settings_page(view)))
}

pub(super) async fn show(app: &App, req: &Request, console: &Console) -> Result<Reply, ApiError> {
    let current = settings::current(app).await.map_err(|e| ApiError::unexpected(&e))?;
    let notice = match query_param(req, "done").as_deref() {
        Some("saved") => Some("The settings are saved: every part of the site uses them within 30 seconds."),
        Some("restored") => Some("The version is restored: every part of the site uses it within 30 seconds."),
        Some("no_change") => Some("Nothing changed: these values were in force already."),
        _ => None,
    };
    page(app, console, 200, &current, None, &FieldErrors::new(), notice, false).await
}

/// The read-only page, 403, for an operator without the support role who posted anyway.
async fn refused(app: &App, console: &Console) -> Result<Reply, ApiError> {
    tracing::info!(user_id = %console.user.id, "settings post refused: no support role");
    let current = settings::current(app).await.map_err(|e| ApiError::unexpected(&e))?;
    page(app, console, 403, &current, None, &FieldErrors::new(), Some(NOT_SUPPORT), false).await
}

fn to_settings(done: &str) -> Reply {
    let mut reply = response::empty(303);
    if let Ok(value) = http::HeaderValue::from_str(&format!("/operator/settings?done={done}")) {
        reply.headers_mut().insert(http::header::LOCATION, value);
    }
    reply
}

/// The conflict page: the values in force now, and nothing saved.
async fn conflict(app: &App, console: &Console, current: &Current) -> Result<Reply, ApiError> {
    page(app, console, 409, current, None, &FieldErrors::new(), None, true).await
}

/// The version field of a form: a number, or a 422.
fn version_of(raw: Option<String>, errors: &mut FieldErrors) -> u64 {
    match raw.as_deref().map(str::trim).map(str::parse::<u64>) {
        Some(Ok(version)) => version,
        _ => {
            errors.insert(VERSION_FIELD.to_owned(), "The form's version is missing: open the page again.".to_owned());
            0
        }
    }
}

pub(super) async fn save(app: &App, req: &Request, console: &mut Console) -> Result<Reply, ApiError> {
    if !console.user.support {
        return refused(app, console).await;
    }
    let mut fields = Fields::from_request(req)?;
    let mut errors = FieldErrors::new();
    let version = fields.optional_string(VERSION_FIELD, &mut errors);
    let mut proof: Vec<Option<String>> =
        CONFIRMATION_FIELDS.iter().map(|name| fields.optional_string(name, &mut errors)).collect();
    let typed = Typed::take(&mut proof);
    let values = settings_values(&mut fields, true, &mut errors);
    fields.finish(&mut errors);
    let version = version_of(version, &mut errors);
    if let Err(problems) = Settings::parse(&values) {
        for (name, problem) in problems {
            errors.entry(name).or_insert(problem);
        }
    }
    let current = settings::current(app).await.map_err(|e| ApiError::unexpected(&e))?;
    if !errors.is_empty() {
        return page(app, console, 422, &current, Some((version, &values)), &errors, None, false).await;
    }
    if current.version != version {
        return conflict(app, console, &current).await;
    }
    if let Confirmed::No(with) = confirmed(app, console, &typed).await? {
        let status = if typed.any() { 403 } else { 200 };
        let errors = if typed.any() { wrong_proof(with) } else { FieldErrors::new() };
        return page(app, console, status, &current, Some((version, &values)), &errors, None, false).await;
    }
    match settings::save(app, &actor(console), version, &values).await {
        Ok(Saved::Saved(_)) => Ok(to_settings("saved")),
        Ok(Saved::NoChange(_)) => Ok(to_settings("no_change")),
        Err(SettingsError::Conflict(current)) => conflict(app, console, &current).await,
        Err(SettingsError::Invalid(errors)) => {
            page(app, console, 422, &current, Some((version, &values)), &errors, None, false).await
        }
        Err(SettingsError::UnknownVersion) => Err(ApiError::not_found()),
        Err(SettingsError::Unexpected(e)) => Err(ApiError::unexpected(&e)),
    }
}

pub(super) async fn restore(app: &App, req: &Request, console: &mut Console) -> Result<Reply, ApiError> {
    if !console.user.support {
        return refused(app, console).await;
    }
    let mut fields = Fields::from_request(req)?;
    let mut errors = FieldErrors::new();
    let version = fields.optional_string(VERSION_FIELD, &mut errors);
    let restore = fields.optional_string("restore", &mut errors);
    let confirm = fields.optional_string("confirm", &mut errors);
    let mut proof: Vec<Option<String>> =
        CONFIRMATION_FIELDS.iter().map(|name| fields.optional_string(name, &mut errors)).collect();
    let typed = Typed::take(&mut proof);
    fields.finish(&mut errors);
    let version = version_of(version, &mut errors);
    let Some(restore) = restore.and_then(|r| r.trim().parse::<u64>().ok()).filter(|_| errors.is_empty()) else {
        return Err(ApiError::bad_request("The form is not one of the settings page's: open the page again."));
    };
    let current = settings::current(app).await.map_err(|e| ApiError::unexpected(&e))?;
    if current.version != version {
        return conflict(app, console, &current).await;
    }
    let kept = app.settings.store.settings_version(restore).await.map_err(|e| ApiError::unexpected(&e))?;
    let Some(kept) = kept else {
        return Ok(response::route_not_found());
    };
    let changes = current.settings.changes(&kept.settings);
    if confirm.as_deref() != Some("yes") {
        let needed = needed(app, console).await?;
        return Ok(response::page(200, settings_restore(version, restore, &changes, needed, &FieldErrors::new())));
    }
    if let Confirmed::No(with) = confirmed(app, console, &typed).await? {
        let page = settings_restore(version, restore, &changes, Some(with), &wrong_proof(with));
        return Ok(response::page(403, page));
    }
    match settings::restore(app, &actor(console), version, restore).await {
        Ok(Saved::Saved(_)) => Ok(to_settings("restored")),
        Ok(Saved::NoChange(_)) => Ok(to_settings("no_change")),
        Err(SettingsError::Conflict(current)) => conflict(app, console, &current).await,
        Err(SettingsError::UnknownVersion) => Ok(response::route_not_found()),
        Err(SettingsError::Invalid(_)) => Err(ApiError::bad_request("The kept version is not valid.")),
        Err(SettingsError::Unexpected(e)) => Err(ApiError::unexpected(&e)),
    }
}
