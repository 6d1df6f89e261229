//! Sign-in with brute-force lockout, sessions, and sign-out.
//!
//! An attempt is reserved in the failure counter (one atomic conditional write) before any
//! password is verified, so however many requests arrive at once, at most `max_failures`
//! verifications run per lock window (Keycloak #31726 counted only after verifying). The counter
//! is per canonical email, known or not, and an unknown email is verified against a dummy hash:
//! unknown, wrong, locked and being-removed answers cannot be told apart, by content or timing.

use crate::domain::{
    DeviceRecord, Email, LockedNow, PasswordHash, Reservation, SessionRecord, Timestamp, Token, User, UserStatus,
    DEVICE_TTL_SECONDS,
};
use crate::flows::outbox::{send_later, MailRequest};
use crate::metrics::Metric;
use crate::App;
use sha2::{Digest, Sha256};

/// An argon2id hash (same parameters) of a random password nobody knows: what unknown emails
/// and accounts without a password are verified against, so they cost the same time.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$ce4cEqzM4PQtcok6pzZSvA$pCh1EMBYKWbDpkJ3frR/X6ud/3GPdxzjjijEszuzgCw";

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Unknown email, wrong password, locked, or being removed: one answer for all.
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("the account is not activated yet")]
    NotActivated,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

pub struct SignedIn {
    pub user: User,
    /// The raw session token, for the cookie only.
    pub token: Token,
    /// How long the session lasts (the cookie's `Max-Age`).
    pub lifetime_seconds: i64,
    /// The raw device token: this browser is now known to the account (its cookie only).
    pub device: Token,
}

/// What else a sign-in comes with: the browser's device cookie and the source IP.
#[derive(Clone, Copy, Debug, Default)]
pub struct Client<'a> {
    pub device: Option<&'a str>,
    pub ip: Option<&'a str>,
}

/// The counter of one known browser: its failures lock that browser only.
pub(crate) fn device_counter_key(device: &crate::domain::TokenHash) -> String {
    format!("device-{}", device.as_str())
}

/// The slot counting one source IP's failed sign-ins across accounts (password spraying); the
/// address is hashed.
fn ip_failures_key(ip: &str) -> String {
    let hash: String = Sha256::digest(ip.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    format!("ip-failures#{hash}")
}

/// An hour: the window of the per-IP failure count.
const IP_WINDOW_SECONDS: i64 = 3600;

pub async fn sign_in(app: &App, raw_email: &str, password: &str) -> Result<SignedIn, SignInError> {
    sign_in_from(app, raw_email, password, Client::default()).await
}

/// Signs in, with the lockout split by browser (OWASP's device cookies): failures from browsers
/// the account does not know count on the account's counter and lock it for them; a browser
/// that signed in before counts on its own, so an attacker's lock does not keep the owner out.
/// And at most `LEARNERS_MAX_FAILED_LOGINS_PER_IP` failures an hour from one source IP, across
/// accounts; past it, every sign-in from there gets the same 401 until the hour ends.
pub async fn sign_in_from(
    app: &App,
    raw_email: &str,
    password: &str,
    client: Client<'_>,
) -> Result<SignedIn, SignInError> {
    let now = app.clock.now();
    let policy = app.config.lockout;
    let dummy = PasswordHash::from_phc(DUMMY_HASH.to_owned());
    let per_ip = app.config.max_failed_logins_per_ip;
    let ip_key = client.ip.filter(|_| per_ip > 0).map(ip_failures_key);
    let failed = || async {
        if let Some(key) = &ip_key {
            app.store.take_quota(key, now, IP_WINDOW_SECONDS, per_ip).await?;
        }
        Ok::<_, SignInError>(SignInError::InvalidCredentials)
    };
    if let Some(key) = &ip_key {
        if app.store.quota_used(key, now).await? >= per_ip {
            tracing::warn!("sign-in refused: too many failures from this source IP");
            app.metrics.count(Metric::LockedSignIns);
            return Err(SignInError::InvalidCredentials);
        }
    }
    let Ok(email) = Email::parse(raw_email) else {
        // No account can have this address; it costs what a wrong password costs.
        app.passwords.verify(&dummy, password).await?;
        return Err(failed().await?);
    };
    let user = app.store.user_by_email_key(&email.key()).await?;
    // Looked up whatever the account, so that the work does not tell whether it exists.
    let device = match client.device.and_then(Token::parse) {
        Some(token) => app.sessions.device(&token.hash(), now).await?,
        None => None,
    };
    let device = device.filter(|d| user.as_ref().is_some_and(|u| u.id == d.user_id));
    let key = match &device {
        Some(device) => device_counter_key(&device.hash),
        None => app.counter_key(&email)?,
    };
    if let Reservation::Refused { .. } = app.attempts.reserve(&key, now, policy).await? {
        app.metrics.count(Metric::LockedSignIns);
        return Err(failed().await?);
    }
    let hash = user.as_ref().and_then(|u| u.password_hash.clone());
    let verified = app.passwords.verify(hash.as_ref().unwrap_or(&dummy), password).await? && hash.is_some();
    match user {
        Some(user) if verified && user.status != UserStatus::RemovalRequested => {
            app.attempts.clear(&key).await?;
            if user.status == UserStatus::PendingActivation {
                return Err(SignInError::NotActivated);
            }
            let token = Token::generate();
            // An operator's session is shorter, and ends when idle (`SessionRecord`).
            let lifetime = if user.operator {
                app.config.session_ttl_seconds.min(app.config.operator_session_ttl_seconds)
            } else {
                app.config.session_ttl_seconds
            };
            let session = SessionRecord {
                hash: token.hash(),
                user_id: user.id.clone(),
                auth_epoch: user.auth_epoch,
                created_at: now,
                expires_at: now.plus_seconds(lifetime),
                operator: user.operator,
                last_seen_at: now,
                password_at: now,
            };
            app.sessions.create_session(&session).await?;
            // A new device token at every success (OWASP), the browser's from now on.
            let device = Token::generate();
            let record = DeviceRecord {
                hash: device.hash(),
                user_id: user.id.clone(),
                created_at: now,
                expires_at: now.plus_seconds(DEVICE_TTL_SECONDS),
            };
            app.sessions.create_device(&record).await?;
            tracing::info!(user_id = %user.id, operator = user.operator, "signed in");
            app.metrics.count(Metric::SignIns);
            Ok(SignedIn { user, token, lifetime_seconds: lifetime, device })
        }
        _ => {
            app.metrics.count(Metric::FailedSignIns);
            if let Some(locked) = app.attempts.record_failure(&key, now, policy).await? {
                tracing::warn!(failures = locked.failures, known_device = device.is_some(), "sign-in locked");
                app.metrics.count(Metric::Locks);
                // Queued whether or not the address has an account: the worker decides.
                notify_lockout(app, &email, locked).await?;
            }
            Err(failed().await?)
        }
    }
}

/// Verifies the password of a signed-in user (to confirm a sensitive action) as sign-in does:
/// the attempt is reserved in the lockout counter first, a failure counts toward the lock, a
/// locked account verifies nothing.
pub async fn verify_own_password(app: &App, user: &User, password: &str) -> anyhow::Result<bool> {
    let now = app.clock.now();
    let policy = app.config.lockout;
    let key = app.counter_key(&user.email)?;
    if let Reservation::Refused { .. } = app.attempts.reserve(&key, now, policy).await? {
        return Ok(false);
    }
    let verified = match &user.password_hash {
        Some(hash) => app.passwords.verify(hash, password).await?,
        None => false,
    };
    if verified {
        app.attempts.clear(&key).await?;
    } else if let Some(locked) = app.attempts.record_failure(&key, now, policy).await? {
        app.metrics.count(Metric::Locks);
        notify_lockout(app, &user.email, locked).await?;
    }
    Ok(verified)
}

/// A lock notice goes on the mail queue, for known and unknown addresses alike.
async fn notify_lockout(app: &App, email: &Email, locked: LockedNow) -> anyhow::Result<()> {
    let request =
        MailRequest::Lockout { email: email.to_string(), failures: locked.failures, until: locked.until.unix() };
    send_later(app, &request).await
}

/// The signed-in user of a session token, if the session is live: known, unexpired, made in the
/// user's current epoch, and the account active.
pub async fn current_user(app: &App, raw_token: &str) -> anyhow::Result<Option<(User, SessionRecord)>> {
    let Some(token) = Token::parse(raw_token) else {
        return Ok(None);
    };
    let now: Timestamp = app.clock.now();
    let Some(session) = app.sessions.session(&token.hash(), now).await? else {
        return Ok(None);
    };
    let Some(user) = app.store.user_by_id(&session.user_id).await? else {
        return Ok(None);
    };
    let live = user.auth_epoch == session.auth_epoch && user.status == UserStatus::Active;
    Ok(live.then_some((user, session)))
}

pub async fn sign_out(app: &App, session: &SessionRecord) -> anyhow::Result<()> {
    app.sessions.delete_session(&session.hash).await?;
    tracing::info!(user_id = %session.user_id, "signed out");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_dummy_hash_has_the_real_parameters_and_matches_nothing_simple() {
        let dummy = PasswordHash::from_phc(DUMMY_HASH.to_owned());
        assert!(DUMMY_HASH.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(argon2::PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!dummy.verify("").await.unwrap());
        assert!(!dummy.verify("password").await.unwrap());
    }
}
