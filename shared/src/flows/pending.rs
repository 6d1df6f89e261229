//! The beginning of a sign-in's wait for its second factor, apart from `second_factor` (which
//! ends it and uses `signin`'s counters and sessions) so that `signin` can begin it without an
//! import cycle.

use crate::domain::{
    AuthMethod, Challenge, ChallengePurpose, DeviceRecord, PendingSignIn, SecondFactors, Timestamp, Token, User,
    CHALLENGE_SECONDS,
};
use crate::App;
use anyhow::Context;

/// A sign-in whose password was right, waiting for the second factor.
pub struct SecondFactorNeeded {
    pub user: User,
    /// The raw token of the pending sign-in (its cookie only).
    pub token: Token,
    pub lifetime_seconds: i64,
    /// What the account can answer with.
    pub totp: bool,
    pub passkeys: bool,
    pub recovery_codes: bool,
}

/// Begins the wait for a second factor, after the password (`signin::sign_in_from`).
pub(crate) async fn begin_pending(
    app: &App,
    user: User,
    device: Option<&DeviceRecord>,
    factors: &SecondFactors,
    now: Timestamp,
) -> anyhow::Result<SecondFactorNeeded> {
    let state = PendingSignIn {
        auth_epoch: user.auth_epoch,
        device: device.map(|d| d.hash.as_str().to_owned()),
        methods: vec![AuthMethod::Password],
    };
    let state = serde_json::to_string(&state).context("encoding a pending sign-in")?;
    let (token, challenge) = Challenge::mint(ChallengePurpose::SignIn, Some(&user.id), state, now);
    app.factors.put_challenge(&challenge).await?;
    tracing::info!(user_id = %user.id, "password verified; second factor awaited");
    Ok(SecondFactorNeeded {
        user,
        token,
        lifetime_seconds: CHALLENGE_SECONDS,
        totp: factors.totp.is_some(),
        passkeys: !factors.passkeys.is_empty(),
        recovery_codes: !factors.recovery_codes.is_empty(),
    })
}
