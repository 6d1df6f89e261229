//! Passkeys (WebAuthn, with `webauthn-rs`): registered from the settings page, used to sign in
//! on their own (discoverable credentials: the passkey says whose account it is), as the second
//! step after a password, and to confirm a signed-in user's sensitive action.
//!
//! Every ceremony is two requests: the options (a WebAuthn challenge, its state kept in a
//! single-use `Challenge` for 10 minutes, the browser holding its token) and the answer, which
//! takes that challenge once; a second answer with the same token finds nothing.
//!
//! Who could abuse it, and how:
//! - A phishing site relays the ceremony: the browser signs the origin it is on into the
//!   answer, and only this site's origin (`LEARNERS_SITE_URL`) and relying-party id (its host)
//!   are accepted.
//! - A cloned authenticator: the signature counter is kept per passkey; an answer whose counter
//!   did not move past the stored one is refused (`webauthn-rs` checks it) and the stored one
//!   is updated after every use.
//! - Lockout abuse: a passkey sign-in consults no password counter and changes none, so
//!   strangers who lock the password cannot lock the passkey out; nothing is guessable in it
//!   (a signature, not a secret typed). As a second step after a password, or to confirm an
//!   action, a failure counts where a wrong code would (the same counters).
//! - A credential id registered to two accounts: a sign-in reads the account from the passkey's
//!   user handle first, then looks the id up among that account's passkeys only.

use crate::domain::{
    AuthMethod, Challenge, ChallengePurpose, DeviceRecord, PasskeyFactor, SecondFactors, Timestamp, Token, User,
    UserId, MAX_PASSKEYS, MAX_PASSKEY_NAME_CHARS,
};
use crate::flows::second_factor::{finish, pending, pending_counters, Pending, SecondFactorError};
use crate::flows::signin::{
    forget_failures, own_counter_key, record_failures, reserve_all, start_session, Client, SignedIn,
};
use crate::App;
use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
};

#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// The name is empty or too long.
    #[error("give the passkey a name of 1 to {MAX_PASSKEY_NAME_CHARS} characters")]
    InvalidName,
    #[error("an account keeps at most {MAX_PASSKEYS} passkeys; remove one first")]
    TooMany,
    /// The ceremony failed: an unknown, used or expired challenge, a malformed or forged answer,
    /// an unknown passkey, a counter that went back, an account that is not active. One answer
    /// for all (nothing tells whether an account exists).
    #[error("the passkey was not accepted")]
    Refused,
    /// The site's address cannot be a WebAuthn relying party (an IP address, say).
    #[error("passkeys are not available on this site")]
    Unavailable,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// The options of a ceremony, for the browser: the token of its challenge and what
/// `navigator.credentials.create`/`get` take (as `webauthn-rs` writes them).
pub struct Ceremony {
    pub token: Token,
    pub options: serde_json::Value,
}

/// What a `PasskeyAuthentication` challenge keeps, by what it is for: an answer made for one use
/// (a sign-in) is not taken for another (a confirmation).
#[derive(Serialize, Deserialize)]
#[serde(tag = "for", rename_all = "snake_case")]
enum AuthenticationState {
    /// A sign-in with a passkey alone (no account yet: the passkey names it).
    SignIn { state: DiscoverableAuthentication },
    /// The second step of a sign-in whose password was verified.
    SecondStep { state: PasskeyAuthentication },
    /// A signed-in user's confirmation.
    Confirmation { state: PasskeyAuthentication },
}

/// The relying party of a site URL: its id is the URL's host, its one origin the URL. Built
/// once per site URL in a process (a test process runs several sites).
fn relying_party(app: &App) -> Result<Arc<Webauthn>, PasskeyError> {
    static BUILT: OnceLock<Mutex<HashMap<String, Arc<Webauthn>>>> = OnceLock::new();
    let site = app.config.site_url.as_str();
    let built = BUILT.get_or_init(Default::default);
    let mut built = built.lock().map_err(|_| anyhow::anyhow!("the relying-party cache was poisoned"))?;
    if let Some(webauthn) = built.get(site) {
        return Ok(webauthn.clone());
    }
    let webauthn = build_relying_party(site, &app.site().site_name).map_err(|e| {
        tracing::error!(error = format!("{e:#}"), "LEARNERS_SITE_URL cannot be a WebAuthn relying party");
        PasskeyError::Unavailable
    })?;
    let webauthn = Arc::new(webauthn);
    built.insert(site.to_owned(), webauthn.clone());
    Ok(webauthn)
}

fn build_relying_party(site: &str, name: &str) -> anyhow::Result<Webauthn> {
    let origin = Url::parse(site).context("parsing the site URL")?;
    let host = origin.domain().context("the site URL has no domain name (WebAuthn refuses IP addresses)")?.to_owned();
    WebauthnBuilder::new(&host, &origin)
        .and_then(|builder| builder.rp_name(name).build())
        .map_err(|e| anyhow::anyhow!("building the relying party: {e:?}"))
}

/// A passkey name as typed: trimmed, 1 to 64 characters, no control characters.
pub fn passkey_name(typed: &str) -> Result<String, PasskeyError> {
    let name = typed.trim();
    let length = name.chars().count();
    if length == 0 || length > MAX_PASSKEY_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(PasskeyError::InvalidName);
    }
    Ok(name.to_owned())
}

/// The account's passkeys, oldest first.
pub async fn passkeys(app: &App, user: &User) -> anyhow::Result<Vec<PasskeyFactor>> {
    Ok(app.factors.second_factors(&user.id).await?.passkeys)
}

/// The WebAuthn user handle of an account: its id, a UUID.
fn user_handle(user: &User) -> anyhow::Result<Uuid> {
    Uuid::parse_str(user.id.as_str()).context("a user id that is no UUID")
}

fn credential_id(passkey: &Passkey) -> String {
    URL_SAFE_NO_PAD.encode(passkey.cred_id())
}

fn stored_passkey(factor: &PasskeyFactor) -> anyhow::Result<Passkey> {
    serde_json::from_str(&factor.credential).context("decoding a stored passkey")
}

async fn put_challenge(
    app: &App,
    purpose: ChallengePurpose,
    user: Option<&User>,
    state: String,
) -> anyhow::Result<Token> {
    let (token, challenge) = Challenge::mint(purpose, user.map(|u| &u.id), state, app.clock.now());
    app.factors.put_challenge(&challenge).await?;
    Ok(token)
}

/// Takes a challenge (once) if it is live, for `purpose`, and bound to `user` (or to nobody).
async fn take_challenge(
    app: &App,
    raw_token: &str,
    purpose: ChallengePurpose,
    user: Option<&UserId>,
) -> anyhow::Result<Option<Challenge>> {
    let Some(token) = Token::parse(raw_token) else {
        return Ok(None);
    };
    let Some(challenge) = app.factors.take_challenge(&token.hash(), app.clock.now()).await? else {
        return Ok(None);
    };
    Ok((challenge.purpose == purpose && challenge.user_id.as_ref() == user).then_some(challenge))
}

/// Begins adding a passkey to a signed-in user's account: the browser is told not to make one
/// again on an authenticator that holds one of the account's already.
pub async fn start_registration(app: &App, user: &User, name: &str) -> Result<Ceremony, PasskeyError> {
    passkey_name(name)?;
    let webauthn = relying_party(app)?;
    let factors = app.factors.second_factors(&user.id).await?;
    if factors.passkeys.len() >= MAX_PASSKEYS {
        return Err(PasskeyError::TooMany);
    }
    let mut exclude = Vec::with_capacity(factors.passkeys.len());
    for factor in &factors.passkeys {
        exclude.push(stored_passkey(factor)?.cred_id().clone());
    }
    let (options, state) = webauthn
        .start_passkey_registration(user_handle(user)?, user.email.as_ref(), user.name.as_ref(), Some(exclude))
        .map_err(|e| anyhow::anyhow!("starting a passkey registration: {e:?}"))?;
    let state = serde_json::to_string(&state).context("encoding a registration state")?;
    let token = put_challenge(app, ChallengePurpose::PasskeyRegistration, Some(user), state).await?;
    let options = serde_json::to_value(options).context("encoding registration options")?;
    Ok(Ceremony { token, options })
}

/// Finishes adding a passkey: the challenge is taken (once), the browser's answer verified
/// against it, and the passkey stored under `name`.
pub async fn finish_registration(
    app: &App,
    user: &User,
    raw_token: &str,
    credential_json: &str,
    name: &str,
) -> Result<PasskeyFactor, PasskeyError> {
    let name = passkey_name(name)?;
    let webauthn = relying_party(app)?;
    let Some(challenge) = take_challenge(app, raw_token, ChallengePurpose::PasskeyRegistration, Some(&user.id)).await?
    else {
        return Err(PasskeyError::Refused);
    };
    let state: PasskeyRegistration = serde_json::from_str(&challenge.state).context("decoding a registration")?;
    let Ok(credential) = serde_json::from_str::<RegisterPublicKeyCredential>(credential_json) else {
        return Err(PasskeyError::Refused);
    };
    let passkey = match webauthn.finish_passkey_registration(&credential, &state) {
        Ok(passkey) => passkey,
        Err(e) => {
            tracing::info!(user_id = %user.id, reason = ?e, "a passkey registration was refused");
            return Err(PasskeyError::Refused);
        }
    };
    let now = app.clock.now();
    let factor = PasskeyFactor {
        id: credential_id(&passkey),
        name,
        credential: serde_json::to_string(&passkey).context("encoding a passkey")?,
        created_at: now.unix(),
        last_used_at: None,
    };
    let added = factor.clone();
    update_factors(app, user, |factors| {
        if factors.passkeys.iter().any(|p| p.id == added.id) {
            return Err(PasskeyError::Refused);
        }
        if factors.passkeys.len() >= MAX_PASSKEYS {
            return Err(PasskeyError::TooMany);
        }
        factors.passkeys.push(added.clone());
        Ok(())
    })
    .await?;
    tracing::info!(user_id = %user.id, "a passkey was added");
    Ok(factor)
}

/// Removes one of the account's passkeys (the caller has confirmed who is asking): false when
/// it has none by that id.
pub async fn remove(app: &App, user: &User, id: &str) -> Result<bool, PasskeyError> {
    let mut found = false;
    update_factors(app, user, |factors| {
        let before = factors.passkeys.len();
        factors.passkeys.retain(|p| p.id != id);
        found = factors.passkeys.len() < before;
        Ok(())
    })
    .await?;
    if found {
        tracing::info!(user_id = %user.id, "a passkey was removed");
    }
    Ok(found)
}

/// Changes the account's factors with `change` and saves them on the version read; when another
/// change came first, reads again and applies `change` to what is stored now.
async fn update_factors(
    app: &App,
    user: &User,
    mut change: impl FnMut(&mut SecondFactors) -> Result<(), PasskeyError>,
) -> Result<(), PasskeyError> {
    for _ in 0..3 {
        let mut next = app.factors.second_factors(&user.id).await?.next();
        change(&mut next)?;
        if app.factors.save_second_factors(&user.id, &next).await? {
            return Ok(());
        }
    }
    Err(anyhow::anyhow!("second factors kept changing while a passkey was saved").into())
}

/// Options for a sign-in with a passkey alone: any passkey of this site the authenticator
/// holds (discoverable), user verification required.
pub async fn start_sign_in(app: &App) -> Result<Ceremony, PasskeyError> {
    let webauthn = relying_party(app)?;
    let (mut options, state) = webauthn
        .start_discoverable_authentication()
        .map_err(|e| anyhow::anyhow!("starting a discoverable authentication: {e:?}"))?;
    // A person pressed "Sign in with a passkey": the browser's own dialog, not autofill.
    options.mediation = None;
    let state = serde_json::to_string(&AuthenticationState::SignIn { state }).context("encoding a sign-in state")?;
    let token = put_challenge(app, ChallengePurpose::PasskeyAuthentication, None, state).await?;
    Ok(Ceremony { token, options: serde_json::to_value(options).context("encoding sign-in options")? })
}

/// Signs in with a passkey alone: the passkey names the account (its user handle), which must
/// be active and hold that passkey; the session records `AuthMethod::Passkey`. No password
/// counter is read or changed.
pub async fn finish_sign_in(
    app: &App,
    raw_token: &str,
    credential_json: &str,
    client: Client<'_>,
) -> Result<SignedIn, PasskeyError> {
    let webauthn = relying_party(app)?;
    let Some(challenge) = take_challenge(app, raw_token, ChallengePurpose::PasskeyAuthentication, None).await? else {
        return Err(PasskeyError::Refused);
    };
    let AuthenticationState::SignIn { state } = decode_authentication(&challenge)? else {
        return Err(PasskeyError::Refused);
    };
    let Ok(credential) = serde_json::from_str::<PublicKeyCredential>(credential_json) else {
        return Err(PasskeyError::Refused);
    };
    let Ok((handle, raw_id)) = webauthn.identify_discoverable_authentication(&credential) else {
        return Err(PasskeyError::Refused);
    };
    let id = URL_SAFE_NO_PAD.encode(raw_id);
    let Some(user_id) = UserId::parse(&handle.to_string()) else {
        return Err(PasskeyError::Refused);
    };
    let Some(user) = app.store.user_by_id(&user_id).await? else {
        return Err(PasskeyError::Refused);
    };
    if !user.may_sign_in() {
        tracing::info!(user_id = %user.id, "a passkey sign-in of an account that is not active or disabled");
        return Err(PasskeyError::Refused);
    }
    let factors = app.factors.second_factors(&user.id).await?;
    let Some(factor) = factors.passkeys.iter().find(|p| p.id == id) else {
        tracing::info!(user_id = %user.id, "a passkey sign-in with a passkey the account does not have");
        return Err(PasskeyError::Refused);
    };
    let passkey = stored_passkey(factor)?;
    let result = match webauthn.finish_discoverable_authentication_v2(&credential, state, &passkey) {
        Ok(result) if result.user_verified() => result,
        outcome => {
            tracing::info!(user_id = %user.id, reason = ?outcome.err(), "a passkey sign-in was refused");
            return Err(PasskeyError::Refused);
        }
    };
    record_use(app, &user, &result).await?;
    let now = app.clock.now();
    let device = own_device(app, &user, client.device, now).await?;
    Ok(start_session(app, user, device.as_ref(), client, now, vec![AuthMethod::Passkey]).await?)
}

/// The browser's device record, if its device cookie names one of this account's browsers.
async fn own_device(
    app: &App,
    user: &User,
    raw_device: Option<&str>,
    now: Timestamp,
) -> anyhow::Result<Option<DeviceRecord>> {
    let Some(token) = raw_device.and_then(Token::parse) else {
        return Ok(None);
    };
    Ok(app.sessions.device(&token.hash(), now).await?.filter(|d| d.user_id == user.id))
}

fn decode_authentication(challenge: &Challenge) -> anyhow::Result<AuthenticationState> {
    serde_json::from_str(&challenge.state).context("decoding an authentication state")
}

/// After a verified use: the passkey's counter (and backup state) as the authenticator reported
/// them, and when it was used.
async fn record_use(
    app: &App,
    user: &User,
    result: &webauthn_rs::prelude::AuthenticationResult,
) -> Result<(), PasskeyError> {
    let id = URL_SAFE_NO_PAD.encode(result.cred_id());
    let now = app.clock.now().unix();
    update_factors(app, user, |factors| {
        // Removed in between: the use was verified all the same; nothing to update.
        let Some(factor) = factors.passkeys.iter_mut().find(|p| p.id == id) else {
            return Ok(());
        };
        let mut passkey = stored_passkey(factor)?;
        passkey.update_credential(result);
        factor.credential = serde_json::to_string(&passkey).context("encoding a passkey")?;
        factor.last_used_at = Some(now);
        Ok(())
    })
    .await
}

/// Options for the second step of a pending sign-in: one of the account's passkeys.
pub async fn start_second_step(app: &App, pending: &Pending) -> Result<Ceremony, PasskeyError> {
    let (options, state) = start_account_authentication(app, &pending.factors)?;
    let state = AuthenticationState::SecondStep { state };
    let state = serde_json::to_string(&state).context("encoding a second-step state")?;
    let token = put_challenge(app, ChallengePurpose::PasskeyAuthentication, Some(&pending.user), state).await?;
    Ok(Ceremony { token, options })
}

/// Ends a pending sign-in with one of the account's passkeys. A failure counts on the sign-in's
/// counters as a wrong code does (and while they are locked nothing is verified).
pub async fn finish_second_step(
    app: &App,
    raw_pending: &str,
    raw_token: &str,
    credential_json: &str,
    client: Client<'_>,
) -> Result<SignedIn, SecondFactorError> {
    let now = app.clock.now();
    let Some(pending) = pending(app, raw_pending).await? else {
        return Err(SecondFactorError::Expired);
    };
    let (device, counters) = pending_counters(app, &pending, now).await?;
    if !reserve_all(app, &counters, now).await? {
        return Err(SecondFactorError::InvalidCode);
    }
    let verified = verify_account_passkey(app, &pending.user, raw_token, credential_json, |state| match state {
        AuthenticationState::SecondStep { state } => Some(state),
        _ => None,
    })
    .await;
    match verified {
        Ok(()) => {
            forget_failures(app, &counters).await?;
            finish(app, pending, device.as_ref(), client, AuthMethod::Passkey).await
        }
        Err(PasskeyError::Unexpected(e)) => Err(SecondFactorError::Unexpected(e)),
        Err(PasskeyError::Unavailable) => Err(anyhow::anyhow!("passkeys are unavailable on this site").into()),
        Err(_) => {
            record_failures(app, &pending.user.email, &counters, now).await?;
            Err(SecondFactorError::InvalidCode)
        }
    }
}

/// Options for a signed-in user's confirmation with one of their passkeys.
pub async fn start_confirmation(app: &App, user: &User) -> Result<Ceremony, PasskeyError> {
    let factors = app.factors.second_factors(&user.id).await?;
    let (options, state) = start_account_authentication(app, &factors)?;
    let state =
        serde_json::to_string(&AuthenticationState::Confirmation { state }).context("encoding a confirmation state")?;
    let token = put_challenge(app, ChallengePurpose::PasskeyAuthentication, Some(user), state).await?;
    Ok(Ceremony { token, options })
}

/// A signed-in user's passkey, to confirm a sensitive action: `Some(AuthMethod::Passkey)` when
/// one of the account's passkeys answered the user's confirmation challenge. Counted on the
/// user's own confirmation counter (`signin::verify_own_password`'s): reserved first, a failure
/// counts, a success forgets; while it is locked nothing is verified.
pub async fn verify_own_passkey(
    app: &App,
    user: &User,
    challenge_token: &str,
    credential_json: &str,
) -> anyhow::Result<Option<AuthMethod>> {
    let now = app.clock.now();
    let counters = [(own_counter_key(user), app.site().lockout)];
    if !reserve_all(app, &counters, now).await? {
        return Ok(None);
    }
    let verified = verify_account_passkey(app, user, challenge_token, credential_json, |state| match state {
        AuthenticationState::Confirmation { state } => Some(state),
        _ => None,
    })
    .await;
    match verified {
        Ok(()) => {
            forget_failures(app, &counters).await?;
            Ok(Some(AuthMethod::Passkey))
        }
        Err(PasskeyError::Unexpected(e)) => Err(e),
        Err(PasskeyError::Unavailable) => Err(anyhow::anyhow!("passkeys are unavailable on this site")),
        Err(_) => {
            record_failures(app, &user.email, &counters, now).await?;
            Ok(None)
        }
    }
}

fn start_account_authentication(
    app: &App,
    factors: &SecondFactors,
) -> Result<(serde_json::Value, PasskeyAuthentication), PasskeyError> {
    let webauthn = relying_party(app)?;
    if factors.passkeys.is_empty() {
        return Err(PasskeyError::Refused);
    }
    let passkeys = factors.passkeys.iter().map(stored_passkey).collect::<anyhow::Result<Vec<_>>>()?;
    let (options, state) = webauthn
        .start_passkey_authentication(&passkeys)
        .map_err(|e| anyhow::anyhow!("starting a passkey authentication: {e:?}"))?;
    Ok((serde_json::to_value(options).context("encoding authentication options")?, state))
}

/// Verifies an answer to an account-bound authentication challenge (taken once) with one of the
/// account's passkeys, and records the use.
async fn verify_account_passkey(
    app: &App,
    user: &User,
    raw_token: &str,
    credential_json: &str,
    wanted: impl FnOnce(AuthenticationState) -> Option<PasskeyAuthentication>,
) -> Result<(), PasskeyError> {
    let webauthn = relying_party(app)?;
    let Some(challenge) =
        take_challenge(app, raw_token, ChallengePurpose::PasskeyAuthentication, Some(&user.id)).await?
    else {
        return Err(PasskeyError::Refused);
    };
    let Some(state) = wanted(decode_authentication(&challenge)?) else {
        return Err(PasskeyError::Refused);
    };
    let Ok(credential) = serde_json::from_str::<PublicKeyCredential>(credential_json) else {
        return Err(PasskeyError::Refused);
    };
    match webauthn.finish_passkey_authentication(&credential, &state) {
        Ok(result) if result.user_verified() => record_use(app, user, &result).await,
        outcome => {
            tracing::info!(user_id = %user.id, reason = ?outcome.err(), "a passkey was refused");
            Err(PasskeyError::Refused)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_1_to_64_characters() {
        assert_eq!(passkey_name("  Phone  ").unwrap(), "Phone");
        assert_eq!(passkey_name(&"é".repeat(64)).unwrap().chars().count(), 64);
        for bad in ["", "   ", &"a".repeat(65), "a\nb"] {
            assert!(matches!(passkey_name(bad), Err(PasskeyError::InvalidName)), "{bad:?}");
        }
    }

    #[test]
    fn the_relying_party_is_the_site_host_and_an_ip_address_is_refused() {
        assert!(build_relying_party("https://learn.example.org", "Learn").is_ok());
        assert!(build_relying_party("http://localhost:8080", "Learn").is_ok());
        assert!(build_relying_party("http://127.0.0.1:8080", "Learn").is_err());
        assert!(build_relying_party("not a url", "Learn").is_err());
    }
}
