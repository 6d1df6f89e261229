//! An authenticator app (TOTP) from the settings page: its setup, confirmed by one code; its
//! removal; and the ten recovery codes, made at the first setup and renewable, shown once.
//!
//! The new secret waits in a single-use `TotpEnrolment` challenge bound to the signed-in user
//! (10 minutes) until a code from the app confirms that the app holds it: a setup never stored
//! is a secret nobody can use, and a half-done setup cannot lock its owner out. The confirming
//! code's time step is recorded, so that code does not sign in afterwards (a code works once).
//! Removal and renewal ask for the password again (`signin::verify_own_password`, on the user's
//! own confirmation counter): a session left open is not enough to drop the second factor or to
//! read new recovery codes.

use crate::domain::second_factor::totp;
use crate::domain::{Challenge, ChallengePurpose, RecoveryCodes, Token, TotpFactor, User};
use crate::flows::signin::verify_own_password;
use crate::App;
use anyhow::Context;
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum TotpError {
    /// The setup is over (expired, finished, or another account's).
    #[error("the setup has expired")]
    SetupExpired,
    #[error("the code is not right")]
    InvalidCode,
    #[error("the password is not right")]
    InvalidPassword,
    /// An authenticator app is set up already (remove it first).
    #[error("an authenticator app is set up already")]
    AlreadySetUp,
    /// No second factor to renew codes for, or no app to remove.
    #[error("no authenticator app is set up")]
    NotSetUp,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// A setup under way: the token of its challenge (a hidden form field), the secret, and the
/// `otpauth://` URI its QR code shows.
pub struct Setup {
    pub token: String,
    pub secret: String,
    pub uri: String,
}

/// The state of a `TotpEnrolment` challenge.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetupState {
    secret: String,
}

/// The app's label for the account: the site's name and the learner's email.
fn uri_of(app: &App, user: &User, secret: &str) -> anyhow::Result<String> {
    totp::provisioning_uri(secret, &app.site().site_name, user.email.as_ref())
}

/// Begins a setup: a new secret, kept in a challenge bound to the user.
pub async fn begin_setup(app: &App, user: &User) -> Result<Setup, TotpError> {
    if app.factors.second_factors(&user.id).await?.totp.is_some() {
        return Err(TotpError::AlreadySetUp);
    }
    let secret = totp::new_secret();
    let state = serde_json::to_string(&SetupState { secret: secret.clone() }).context("encoding a setup")?;
    let (token, challenge) = Challenge::mint(ChallengePurpose::TotpEnrolment, Some(&user.id), state, app.clock.now());
    app.factors.put_challenge(&challenge).await?;
    let uri = uri_of(app, user, &secret)?;
    Ok(Setup { token: token.as_str().to_owned(), secret, uri })
}

/// The setup a form's token names, if it is this user's and still live.
pub async fn setup_in_progress(app: &App, user: &User, raw_token: &str) -> anyhow::Result<Option<Setup>> {
    let Some(token) = Token::parse(raw_token) else {
        return Ok(None);
    };
    let Some(challenge) = app.factors.challenge(&token.hash(), app.clock.now()).await? else {
        return Ok(None);
    };
    if challenge.purpose != ChallengePurpose::TotpEnrolment || challenge.user_id.as_ref() != Some(&user.id) {
        return Ok(None);
    }
    let state: SetupState = serde_json::from_str(&challenge.state).context("decoding a setup")?;
    let uri = uri_of(app, user, &state.secret)?;
    Ok(Some(Setup { token: raw_token.to_owned(), secret: state.secret, uri }))
}

/// Confirms a setup with a code from the app: the app is stored (with the code's time step
/// used) and, at the first setup (no recovery codes yet), ten recovery codes are made; those
/// are returned, to be shown once.
pub async fn confirm_setup(
    app: &App,
    user: &User,
    raw_token: &str,
    code: &str,
) -> Result<Option<Vec<String>>, TotpError> {
    let now = app.clock.now();
    let Some(setup) = setup_in_progress(app, user, raw_token).await? else {
        return Err(TotpError::SetupExpired);
    };
    let Some(step) = totp::matching_step(&setup.secret, code, now.unix())? else {
        return Err(TotpError::InvalidCode);
    };
    let Some(token) = Token::parse(raw_token) else {
        return Err(TotpError::SetupExpired);
    };
    // Taken once: of two confirmations at once, one stores the app.
    if app.factors.take_challenge(&token.hash(), now).await?.is_none() {
        return Err(TotpError::SetupExpired);
    }
    for _ in 0..3 {
        let factors = app.factors.second_factors(&user.id).await?;
        if factors.totp.is_some() {
            return Err(TotpError::AlreadySetUp);
        }
        let mut next = factors.next();
        next.totp = Some(TotpFactor { secret: setup.secret.clone(), last_step: step, created_at: now.unix() });
        let codes = match next.recovery_codes.is_empty() {
            true => {
                let (codes, hashes) = RecoveryCodes::generate();
                next.recovery_codes = hashes;
                Some(codes)
            }
            false => None,
        };
        if app.factors.save_second_factors(&user.id, &next).await? {
            tracing::info!(user_id = %user.id, recovery_codes_made = codes.is_some(), "authenticator app set up");
            return Ok(codes);
        }
        // Another change came first (a passkey added, a code spent): read again.
    }
    Err(anyhow::anyhow!("second factors kept changing while an authenticator was set up").into())
}

/// New recovery codes (the old ones stop working), after the password: shown once.
pub async fn renew_recovery_codes(app: &App, user: &User, password: &str) -> Result<Vec<String>, TotpError> {
    if !verify_own_password(app, user, password).await? {
        return Err(TotpError::InvalidPassword);
    }
    for _ in 0..3 {
        let factors = app.factors.second_factors(&user.id).await?;
        if !factors.is_enrolled() {
            return Err(TotpError::NotSetUp);
        }
        let mut next = factors.next();
        let (codes, hashes) = RecoveryCodes::generate();
        next.recovery_codes = hashes;
        if app.factors.save_second_factors(&user.id, &next).await? {
            tracing::info!(user_id = %user.id, "recovery codes renewed");
            return Ok(codes);
        }
    }
    Err(anyhow::anyhow!("second factors kept changing while recovery codes were renewed").into())
}

/// Removes the authenticator app, after the password. With no second factor left, the
/// recovery codes go too (they stand in for one).
pub async fn remove_authenticator(app: &App, user: &User, password: &str) -> Result<(), TotpError> {
    if !verify_own_password(app, user, password).await? {
        return Err(TotpError::InvalidPassword);
    }
    for _ in 0..3 {
        let factors = app.factors.second_factors(&user.id).await?;
        if factors.totp.is_none() {
            return Err(TotpError::NotSetUp);
        }
        let mut next = factors.next();
        next.totp = None;
        if !next.is_enrolled() {
            next.recovery_codes.clear();
        }
        if app.factors.save_second_factors(&user.id, &next).await? {
            tracing::info!(user_id = %user.id, "authenticator app removed");
            return Ok(());
        }
    }
    Err(anyhow::anyhow!("second factors kept changing while an authenticator was removed").into())
}
