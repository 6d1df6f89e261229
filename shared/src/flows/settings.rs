//! Site settings (issue 25): reading them as they are stored (not the function's 30 s copy),
//! saving a change on the version it was read at, restoring a kept version, and the support
//! role that may do so. Who asks is the caller's to check (the console: the support role and a
//! fresh second factor; the admin API: an IAM operator, the root of trust that grants the
//! role); every rule about the values is `domain::settings`'s.
//!
//! Optimistic concurrency: a save names the version it started from. Two people who opened
//! the page at version 4 both send 4; the store writes version 5 for the first and refuses the
//! second (`SettingsError::Conflict`, with the values now in force), which changes nothing. The
//! audit entry (old and new values, who, when) is written in the same transaction as the
//! version, so no change goes unrecorded and no record tells of a change that did not happen.

use crate::domain::settings::{audit_subject, describe_changes};
use crate::domain::{Actor, AuditEntry, Email, FieldErrors, Settings, StoredSettings, Timestamp, User, UserStatus};
use crate::App;
use std::collections::BTreeMap;

/// How many kept versions the history shows.
pub const HISTORY_LINES: usize = 20;

/// The settings as stored now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Current {
    /// 0: none saved, the stack's parameters are in force.
    pub version: u64,
    pub settings: Settings,
    /// The stack's parameters: each setting's default.
    pub defaults: Settings,
    /// Who saved this version (`Actor::label`) and when; None for the stack's parameters.
    pub saved: Option<(String, Timestamp)>,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A value is refused: the reason beside each name.
    #[error("a setting is refused")]
    Invalid(FieldErrors),
    /// The settings changed since they were read: nothing was written; these are in force.
    #[error("the settings changed since they were read")]
    Conflict(Box<Current>),
    #[error("no such version of the settings")]
    UnknownVersion,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// What a save did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Saved {
    /// The new version, in force within `SETTINGS_CACHE_SECONDS` everywhere.
    Saved(Current),
    /// The values were those in force already: no version, no audit entry.
    NoChange(Current),
}

pub async fn current(app: &App) -> anyhow::Result<Current> {
    let stored = app.settings.store.current_settings().await?;
    Ok(view(app, stored))
}

fn view(app: &App, stored: Option<StoredSettings>) -> Current {
    let defaults = app.settings.defaults();
    match stored {
        Some(s) => Current {
            version: s.version,
            settings: s.settings,
            defaults,
            saved: Some((Actor::from_record(&s.saved_by).label().to_owned(), s.saved_at)),
        },
        None => Current { version: 0, settings: defaults.clone(), defaults, saved: None },
    }
}

/// Saves `values` (every setting, as text) on `read_version`, the version the person started
/// from. Refused with every problem (`Invalid`), or when another save came first (`Conflict`).
pub async fn save(
    app: &App,
    actor: &Actor,
    read_version: u64,
    values: &BTreeMap<String, String>,
) -> Result<Saved, SettingsError> {
    let next = Settings::parse(values).map_err(SettingsError::Invalid)?;
    write(app, actor, read_version, next, "change_settings", String::new()).await
}

/// Brings kept version `version` back, as a new version on `read_version`.
pub async fn restore(app: &App, actor: &Actor, read_version: u64, version: u64) -> Result<Saved, SettingsError> {
    let kept = app.settings.store.settings_version(version).await?.ok_or(SettingsError::UnknownVersion)?;
    write(app, actor, read_version, kept.settings, "restore_settings", format!("version {version}: ")).await
}

async fn write(
    app: &App,
    actor: &Actor,
    read_version: u64,
    next: Settings,
    action: &str,
    prefix: String,
) -> Result<Saved, SettingsError> {
    let now = current(app).await?;
    if now.version != read_version {
        return Err(SettingsError::Conflict(Box::new(now)));
    }
    let changes = now.settings.changes(&next);
    if changes.is_empty() {
        return Ok(Saved::NoChange(now));
    }
    let who = actor.to_record();
    let stored =
        StoredSettings { version: read_version + 1, settings: next, saved_by: who.clone(), saved_at: app.clock.now() };
    let outcome = format!("{prefix}{}", describe_changes(&changes));
    let entry = AuditEntry::new(stored.saved_at, &who, action, &audit_subject(), outcome);
    if !app.settings.store.save_settings(&stored, &entry).await? {
        return Err(SettingsError::Conflict(Box::new(current(app).await?)));
    }
    tracing::info!(operator = %who, action, version = stored.version, changes = %entry.outcome, "site settings saved");
    Ok(Saved::Saved(view(app, Some(stored))))
}

pub use crate::domain::settings::HistoryLine;

/// The latest kept versions, newest first, each with what it changed.
pub async fn history(app: &App) -> anyhow::Result<Vec<HistoryLine>> {
    // One more than shown: the oldest line's changes are against the version before it.
    let kept = app.settings.store.settings_history(HISTORY_LINES + 1).await?;
    let defaults = app.settings.defaults();
    let mut lines = Vec::new();
    for (i, version) in kept.iter().enumerate().take(HISTORY_LINES) {
        let before = match kept.get(i + 1) {
            Some(previous) => previous.settings.clone(),
            None if version.version == 1 => defaults.clone(),
            None => match app.settings.store.settings_version(version.version - 1).await? {
                Some(previous) => previous.settings,
                None => defaults.clone(),
            },
        };
        lines.push(HistoryLine {
            version: version.version,
            saved_by: Actor::from_record(&version.saved_by).label().to_owned(),
            saved_at: version.saved_at,
            changes: before.changes(&version.settings),
        });
    }
    Ok(lines)
}

/// Why the support role was not granted or revoked.
#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    #[error("not a valid email address: {0}")]
    InvalidEmail(#[from] crate::domain::EmailError),
    #[error("no account has this email address")]
    NotFound,
    /// Support is held with the operator role only, by an active account.
    #[error("only an active operator can be given the support role")]
    NotAnOperator,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Grants or revokes the support role (the admin API only: IAM callers). Audited like the
/// operator role.
pub async fn set_support_role(app: &App, operator: &str, raw_email: &str, grant: bool) -> Result<(), RoleError> {
    let email = Email::parse(raw_email)?;
    let user = app.store.user_by_email_key(&email.key()).await?.ok_or(RoleError::NotFound)?;
    let action = if grant { "grant_support" } else { "revoke_support" };
    let record = |outcome: &str| AuditEntry::new(app.clock.now(), operator, action, &user.id, outcome);
    if user.support == grant {
        app.audit.record(&record("no_change")).await?;
        return Ok(());
    }
    if grant && !(user.operator && user.status == UserStatus::Active) {
        app.audit.record(&record("refused: not an active operator")).await?;
        return Err(RoleError::NotAnOperator);
    }
    if !app.store.set_support(&user.id, grant).await? {
        app.audit.record(&record("refused: account changed")).await?;
        return Err(if grant { RoleError::NotAnOperator } else { RoleError::NotFound });
    }
    app.audit.record(&record("done")).await?;
    tracing::info!(operator, action, user_id = %user.id, "support role changed");
    Ok(())
}

/// Every account with the support role (they are operators: no other list is kept).
pub async fn supporters(app: &App) -> anyhow::Result<Vec<User>> {
    Ok(app.store.operators().await?.into_iter().filter(|u| u.support).collect())
}
