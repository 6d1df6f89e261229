//! The second step of a sign-in, and codes (authenticator or recovery) wherever one is asked.
//!
//! Who could abuse it, and how:
//! - Someone who has the password guesses codes: every wrong code counts on the sign-in's own
//!   counters (the account's for an unknown browser, the known browser's and the ceiling over
//!   them for a known one), so the owner's known browsers are not locked by them; and a correct
//!   password in between resets nothing (`signin::sign_in_from` forgets only after both).
//! - A code seen over a shoulder or phished is used again: an authenticator code's time step is
//!   recorded when accepted, and no code of that step or an earlier one is taken again, even
//!   by two requests at once (the record is replaced on the version read: one wins).
//! - A recovery code used twice, at once: the same replacement; one request spends it.
//! - The half-signed-in state is stolen or kept: it lives 10 minutes, in a cookie the site's
//!   pages alone can send (`__Host-`, `SameSite=Strict`), is taken once, and ends when the
//!   account's `auth_epoch` moves (a reset, an operator's new password) or it stops being active.

use crate::domain::{
    AuthMethod, Challenge, ChallengePurpose, DeviceRecord, LockoutPolicy, PendingSignIn, RecoveryCodes, SecondFactors,
    Timestamp, Token, User,
};
pub use crate::flows::pending::SecondFactorNeeded;
use crate::flows::signin::{
    forget_failures, own_counter_key, record_failures, reserve_all, sign_in_counters, start_session, Client, SignedIn,
};
use crate::App;
use anyhow::Context;

#[derive(Debug, thiserror::Error)]
pub enum SecondFactorError {
    /// No pending sign-in (never begun, finished, expired, or the account changed since).
    #[error("the sign-in has expired; sign in again")]
    Expired,
    /// A wrong, replayed or malformed code, or a locked account: one answer for all.
    #[error("the code is not right")]
    InvalidCode,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// A pending sign-in as the browser's cookie names it, while it is live: unexpired, its account
/// active and in the same `auth_epoch`.
pub struct Pending {
    pub challenge: Challenge,
    pub state: PendingSignIn,
    pub user: User,
    pub factors: SecondFactors,
}

pub async fn pending(app: &App, raw_token: &str) -> anyhow::Result<Option<Pending>> {
    let Some(token) = Token::parse(raw_token) else {
        return Ok(None);
    };
    let now = app.clock.now();
    let Some(challenge) = app.factors.challenge(&token.hash(), now).await? else {
        return Ok(None);
    };
    if challenge.purpose != ChallengePurpose::SignIn {
        return Ok(None);
    }
    let state: PendingSignIn = serde_json::from_str(&challenge.state).context("decoding a pending sign-in")?;
    let Some(user_id) = &challenge.user_id else {
        return Ok(None);
    };
    let Some(user) = app.store.user_by_id(user_id).await? else {
        return Ok(None);
    };
    if !user.may_sign_in() || user.auth_epoch != state.auth_epoch {
        return Ok(None);
    }
    let factors = app.factors.second_factors(&user.id).await?;
    Ok(Some(Pending { challenge, state, user, factors }))
}

/// The known browser a pending sign-in came from (if it still is one of the account's), and the
/// counters its second factor's failures count on: that browser's where it signed in in the
/// account's current epoch, else the account's (as a password's failures).
pub(crate) async fn pending_counters(
    app: &App,
    pending: &Pending,
    now: Timestamp,
) -> anyhow::Result<(Option<DeviceRecord>, Vec<(String, LockoutPolicy)>)> {
    let device = match pending.state.device_hash() {
        Some(hash) => app.sessions.device(&hash, now).await?.filter(|d| d.user_id == pending.user.id),
        None => None,
    };
    let current = device.as_ref().filter(|d| d.auth_epoch == pending.user.auth_epoch);
    let counters = sign_in_counters(app, &pending.user.email, current)?;
    Ok((device, counters))
}

/// Ends a pending sign-in with a code from the authenticator app, or a recovery code.
pub async fn complete_with_code(
    app: &App,
    raw_pending: &str,
    code: &str,
    client: Client<'_>,
) -> Result<SignedIn, SecondFactorError> {
    let now = app.clock.now();
    let Some(pending) = pending(app, raw_pending).await? else {
        return Err(SecondFactorError::Expired);
    };
    let (device, counters) = pending_counters(app, &pending, now).await?;
    let Some(method) = verify_code(app, &pending.user, code, &counters).await? else {
        return Err(SecondFactorError::InvalidCode);
    };
    finish(app, pending, device.as_ref(), client, method).await
}

/// The second factor was proven (`method`): the pending sign-in is taken (once: a second
/// request with it finds nothing) and the session begins.
pub(crate) async fn finish(
    app: &App,
    pending: Pending,
    device: Option<&DeviceRecord>,
    client: Client<'_>,
    method: AuthMethod,
) -> Result<SignedIn, SecondFactorError> {
    let now = app.clock.now();
    if app.factors.take_challenge(&pending.challenge.hash, now).await?.is_none() {
        return Err(SecondFactorError::Expired);
    }
    let mut methods = pending.state.methods.clone();
    methods.push(method);
    Ok(start_session(app, pending.user, device, client, now, methods).await?)
}

/// Checks a code (an authenticator's or a recovery code) against the account's factors, on
/// `counters` (reserved first; a failure counts, a success forgets): the method it proved, or
/// `None` (wrong, replayed, malformed, or the counters are locked).
pub(crate) async fn verify_code(
    app: &App,
    user: &User,
    code: &str,
    counters: &[(String, crate::domain::LockoutPolicy)],
) -> anyhow::Result<Option<AuthMethod>> {
    let now = app.clock.now();
    if !reserve_all(app, counters, now).await? {
        return Ok(None);
    }
    let proven = spend_code(app, user, code, now).await?;
    match proven {
        Some(method) => {
            forget_failures(app, counters).await?;
            tracing::info!(user_id = %user.id, method = method.as_str(), "second factor verified");
        }
        None => {
            tracing::info!(user_id = %user.id, "second factor refused");
            record_failures(app, &user.email, counters, now).await?;
        }
    }
    Ok(proven)
}

/// A signed-in user's code, to confirm a sensitive action: counted on the user's own
/// confirmation counter, as `signin::verify_own_password` is.
pub async fn verify_own_code(app: &App, user: &User, code: &str) -> anyhow::Result<Option<AuthMethod>> {
    let counters = [(own_counter_key(user), app.site().lockout)];
    verify_code(app, user, code, &counters).await
}

/// Spends a code: an authenticator code of a step later than the last one taken, or an unused
/// recovery code; the factors are replaced on the version read, so of two requests with one
/// code, one spends it and the other reads the spent record and is refused.
async fn spend_code(app: &App, user: &User, code: &str, now: Timestamp) -> anyhow::Result<Option<AuthMethod>> {
    for _ in 0..3 {
        let factors = app.factors.second_factors(&user.id).await?;
        let mut next = factors.next();
        let method = if RecoveryCodes::looks_like_one(code) {
            if !next.spend_recovery_code(code) {
                return Ok(None);
            }
            AuthMethod::RecoveryCode
        } else {
            let Some(totp) = next.totp.as_mut() else {
                return Ok(None);
            };
            match crate::domain::second_factor::totp::matching_step(&totp.secret, code, now.unix())? {
                Some(step) if step > totp.last_step => totp.last_step = step,
                _ => return Ok(None),
            }
            AuthMethod::AuthenticatorCode
        };
        if app.factors.save_second_factors(&user.id, &next).await? {
            if method == AuthMethod::RecoveryCode {
                tracing::warn!(user_id = %user.id, left = next.recovery_codes.len(), "a recovery code was used");
            }
            return Ok(Some(method));
        }
        // Another change came first: read again (a replay of this code now finds it spent).
    }
    anyhow::bail!("second factors kept changing while a code was checked")
}
