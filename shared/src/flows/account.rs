//! The learner's own account page: change the name, change the password while signed in, see
//! and end the sessions ("Where you're signed in", "Sign out everywhere else"), and download
//! what the service keeps about the account (GDPR articles 15 and 20).
//!
//! Every change is the signed-in learner's on their own account only (`Actor::Learner`) and is
//! recorded in the audit beside operator actions. Ending every other session is built once
//! (`end_other_sessions`): a password change and "Sign out everywhere else" both raise the
//! account's `auth_epoch` (so every other session, known browser, reset link and OpenID Connect
//! grant ends at once, however many there are) and begin a fresh session for this browser.
//! Who could abuse what, and how it is refused: `docs/security.md`, "The learner's own account
//! page".

use crate::domain::{Actor, AuditEntry, DeviceRecord, FieldErrors, FullName, PasswordHash, SessionRecord, Token, User};
use crate::flows::outbox::{send_later, MailRequest};
use crate::flows::signin::{start_session, verify_own_password, Client, SignedIn};
use crate::App;
use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The current password is not right (or its counter is locked: the same answer).
    #[error("the current password is not right")]
    InvalidPassword,
    /// A field is refused (the name's rules, the password policy, a breached password).
    #[error("a field is refused")]
    Invalid(FieldErrors),
    /// No session of this account has that id (another account's, ended, or made up).
    #[error("no such session of this account")]
    UnknownSession,
    /// The account changed meanwhile (another password change or sign-out came first, or a
    /// removal began): nothing was done.
    #[error("the account changed meanwhile")]
    Changed,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

fn field(name: &str, message: impl ToString) -> AccountError {
    AccountError::Invalid(FieldErrors::from([(name.to_owned(), message.to_string())]))
}

/// Records a change the learner made on their own account (this page's, or their email's).
pub(crate) async fn audit_own(app: &App, user: &User, action: &str, outcome: &str) -> anyhow::Result<()> {
    let actor = Actor::Learner(user.id.clone()).to_record();
    app.audit.record(&AuditEntry::new(app.clock.now(), &actor, action, &user.id, outcome)).await
}

/// "Change my name": the registration's rules (`FullName`).
pub async fn change_name(app: &App, user: &User, raw_name: &str) -> Result<FullName, AccountError> {
    let name = FullName::parse(raw_name).map_err(|e| field("name", e))?;
    if !app.store.set_name(&user.id, &name).await? {
        return Err(AccountError::Changed);
    }
    audit_own(app, user, "change_name", "done").await?;
    tracing::info!(user_id = %user.id, "name changed by the learner");
    Ok(name)
}

/// "Change my password": the current password is verified as any confirmation in a session is
/// (`verify_own_password`: reserved first on the user's own counter, a failure counts toward
/// its lock, locked verifies nothing), so a session thief gets no more guesses than sign-in
/// gives and learns nothing from a locked answer. The new password meets the site's rules (the
/// account's policy, the breach corpus) exactly as a reset's does; then every other session
/// ends, this browser goes on in a fresh one, and the owner is mailed a notice.
pub async fn change_password(
    app: &App,
    user: &User,
    session: &SessionRecord,
    client: Client<'_>,
    current: &str,
    new: &str,
) -> Result<SignedIn, AccountError> {
    if !verify_own_password(app, user, current).await? {
        return Err(AccountError::InvalidPassword);
    }
    let password = app.acceptable_password(user, new).await?.map_err(|e| field("new_password", e))?;
    let hash = app.passwords.hash(&password).await?;
    let signed_in = end_other_sessions(app, user, session, client, Some(&hash)).await?;
    send_later(app, &MailRequest::PasswordChangedByYou { user_id: user.id.to_string() }).await?;
    audit_own(app, user, "change_password", "done").await?;
    tracing::info!(user_id = %user.id, "password changed by the learner");
    Ok(signed_in)
}

/// "Sign out everywhere else" (alone, or with a new password): the account's `auth_epoch` goes
/// up from the epoch this session is in, in one conditional write (with the new password, when
/// given), which ends every other session, known browser, reset link and OpenID Connect grant
/// at once. This browser then gets a fresh session (new cookie, the same `methods`, and the
/// same time of its last password when none was typed) and a new device token; the old
/// sessions' items go.
pub async fn end_other_sessions(
    app: &App,
    user: &User,
    session: &SessionRecord,
    client: Client<'_>,
    password: Option<&PasswordHash>,
) -> Result<SignedIn, AccountError> {
    let now = app.clock.now();
    if !app.store.raise_auth_epoch(&user.id, session.auth_epoch, password).await? {
        return Err(AccountError::Changed);
    }
    let Some(renewed) = app.store.user_by_id(&user.id).await? else {
        return Err(AccountError::Changed);
    };
    // The browser's own device, read before it is replaced: it stays this browser's.
    let device: Option<DeviceRecord> = match client.device.and_then(Token::parse) {
        Some(token) => app.sessions.device(&token.hash(), now).await?.filter(|d| d.user_id == user.id),
        None => None,
    };
    let signed_in = start_session(app, renewed, device.as_ref(), client, now, session.methods.clone()).await?;
    if password.is_none() {
        // No password was typed: a sensitive action still asks for it as soon as before.
        app.sessions.touch_session(&signed_in.token.hash(), now, session.password_at).await?;
    }
    // The ended sessions would stay unusable until they expire; their items go now.
    for old in app.sessions.sessions_of(&user.id, now).await? {
        if old.auth_epoch < signed_in.user.auth_epoch {
            app.sessions.delete_session(&old.hash).await?;
        }
    }
    if password.is_none() {
        audit_own(app, user, "end_other_sessions", "done").await?;
        tracing::info!(user_id = %user.id, "every other session ended by the learner");
    }
    Ok(signed_in)
}

/// The account's live sessions: unexpired, not idle past their limit (the store's read checks
/// both), and in the account's current epoch. Oldest first.
pub async fn live_sessions(app: &App, user: &User) -> anyhow::Result<Vec<SessionRecord>> {
    let sessions = app.sessions.sessions_of(&user.id, app.clock.now()).await?;
    Ok(sessions.into_iter().filter(|s| s.auth_epoch == user.auth_epoch).collect())
}

/// Ends one of the account's other sessions, named by its `public_id`. An id that is not one of
/// this account's live sessions (another account's, this browser's own, or unknown) ends
/// nothing: `UnknownSession`.
pub async fn end_session(app: &App, user: &User, current: &SessionRecord, public_id: &str) -> Result<(), AccountError> {
    let found = live_sessions(app, user)
        .await?
        .into_iter()
        .find(|s| s.hash != current.hash && s.public_id() == public_id)
        .ok_or(AccountError::UnknownSession)?;
    app.sessions.delete_session(&found.hash).await?;
    audit_own(app, user, "end_session", "done").await?;
    tracing::info!(user_id = %user.id, "a session ended by the learner");
    Ok(())
}

/// "Download my data": what the service keeps about the account, as one JSON document. Never a
/// secret: no password hash, token, session or device hash, authenticator secret or recovery
/// code (a summary of the second factors instead).
pub async fn my_data(app: &App, user: &User, current: &SessionRecord) -> anyhow::Result<Value> {
    let now = app.clock.now();
    let sessions: Vec<Value> = live_sessions(app, user)
        .await?
        .iter()
        .map(|s| {
            json!({
                "started": s.created_at, "last_used": s.last_seen_at, "expires": s.expires_at,
                "browser": s.browser_label(), "this_browser": s.hash == current.hash,
                "signed_in_with": s.methods.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut devices = Vec::new();
    for hash in app.sessions.known_devices(&user.id, now).await? {
        if let Some(device) = app.sessions.device(&hash, now).await? {
            devices.push(json!({"created": device.created_at, "expires": device.expires_at}));
        }
    }
    let factors = app.factors.second_factors(&user.id).await?;
    let passkeys: Vec<Value> = factors
        .passkeys
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "created": crate::domain::Timestamp::from_unix(p.created_at),
                "last_used": p.last_used_at.map(crate::domain::Timestamp::from_unix),
            })
        })
        .collect();
    let audit: Vec<Value> = app
        .audit
        .entries_for(&user.id)
        .await?
        .iter()
        .map(|e| {
            // Who, as the learner may know it: themselves, or an operator (not which one).
            let by = match Actor::from_record(&e.operator) {
                Actor::Learner(_) => "you",
                _ => "an operator",
            };
            json!({"at": e.at, "action": e.action, "by": by, "outcome": e.outcome})
        })
        .collect();
    let rows: Vec<Value> = app
        .jobs
        .rows_of_user(&user.id)
        .await?
        .iter()
        .map(|(job, row)| {
            json!({"job_id": job, "row": row.row, "email": row.email, "result": row.result, "code": row.code, "message": row.message})
        })
        .collect();
    Ok(json!({
        "account": {
            "user_id": user.id, "email": user.email.as_ref(), "username": user.username.as_ref(),
            "name": user.name.as_ref(), "status": user.status, "created": user.created_at,
            "activated": user.activated_at, "source": user.source, "terms_accepted_at": user.terms_accepted_at,
            "terms_version": user.terms_version,
        },
        "sessions": sessions,
        "known_devices": devices,
        "second_factors": {
            "authenticator_app": factors.totp.is_some(),
            "passkeys": passkeys,
            "recovery_codes_left": factors.recovery_codes.len(),
        },
        "audit": audit,
        "job_rows": rows,
        "exported_at": now,
    }))
}
