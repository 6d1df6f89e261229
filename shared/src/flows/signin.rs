//! Sign-in with brute-force lockout, sessions, and sign-out.
//!
//! An attempt is reserved in the failure counter (one atomic conditional write) before any
//! password is verified, so however many requests arrive at once, at most `max_failures`
//! verifications run per lock window (Keycloak #31726 counted only after verifying). The counter
//! is per canonical email, known or not, and an unknown email is verified against a dummy hash:
//! unknown, wrong, locked and being-removed answers cannot be told apart, by content or timing.
//!
//! The counters, each changed by atomic conditional writes only: the account's (browsers it
//! does not know), one per known browser and one over all of them (`DEVICE_FAILURES_FACTOR`),
//! one per network (an hour's failures across accounts), and one per user for confirmations
//! typed in a session (`verify_own_password`).

use crate::domain::{
    AuthMethod, DeviceRecord, Email, LockedNow, LockoutPolicy, PasswordHash, Reservation, SessionRecord, Timestamp,
    Token, User, UserStatus, DEVICES_PER_ACCOUNT, DEVICE_FAILURES_FACTOR, DEVICE_TTL_SECONDS, OPERATOR_IDLE_SECONDS,
};
use crate::flows::outbox::{send_later, MailRequest};
use crate::flows::pending::{begin_pending, SecondFactorNeeded};
use crate::metrics::Metric;
use crate::App;
use anyhow::Context;

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
    /// Too many failures from the caller's network (whatever the account): try again later.
    /// Not an answer about the account, so it may differ from `InvalidCredentials`.
    #[error("too many failed sign-ins from this network")]
    Throttled { retry_after_seconds: i64 },
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Where a verified password leads: a session, or (the account has a second factor) the
/// second-factor step.
pub enum SignInStep {
    SignedIn(SignedIn),
    SecondFactor(SecondFactorNeeded),
}

impl SignInStep {
    /// The session, when the password alone began one.
    pub fn signed_in(self) -> Option<SignedIn> {
        match self {
            Self::SignedIn(signed_in) => Some(signed_in),
            Self::SecondFactor(_) => None,
        }
    }
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

/// What else a sign-in comes with: the browser's device and session cookies and the source IP.
#[derive(Clone, Copy, Debug, Default)]
pub struct Client<'a> {
    pub device: Option<&'a str>,
    /// The session cookie the browser holds, if any: a sign-in ends it (a new token every
    /// time, so a token planted or seen before the sign-in is worth nothing after it).
    pub session: Option<&'a str>,
    pub ip: Option<&'a str>,
    /// The browser's `User-Agent`: its coarse name (`domain::browser_label`) is kept with the
    /// session, for the learner's list of where they are signed in.
    pub user_agent: Option<&'a str>,
}

/// The counters a sign-in's failures count on (a password's or a second factor's): a known
/// browser of the account in its current epoch has its own and the ceiling over all of them;
/// any other browser counts on the account's.
pub(crate) fn sign_in_counters(
    app: &App,
    email: &Email,
    device: Option<&DeviceRecord>,
) -> anyhow::Result<Vec<(String, LockoutPolicy)>> {
    let policy = app.site().lockout;
    let account_key = app.counter_key(email)?;
    Ok(match device {
        Some(device) => vec![
            (device_counter_key(&device.hash), policy),
            (devices_counter_key(&account_key), device_ceiling(policy)),
        ],
        None => vec![(account_key, policy)],
    })
}

/// The counter of one known browser: its failures lock that browser only.
pub(crate) fn device_counter_key(device: &crate::domain::TokenHash) -> String {
    format!("device-{}", device.as_str())
}

/// The account-wide counter over all its known browsers' failures (`DEVICE_FAILURES_FACTOR`).
fn devices_counter_key(account_key: &str) -> String {
    format!("devices-{account_key}")
}

/// The counter of a signed-in user's own confirmations (`verify_own_password`).
pub(crate) fn own_counter_key(user: &User) -> String {
    format!("own-{}", user.id)
}

/// The network a source address counts for (`domain::network_of`); a value that is not an
/// address counts as itself.
fn network_of(ip: &str) -> String {
    crate::domain::network_of(ip).unwrap_or_else(|| ip.to_owned())
}

/// The counter of one network's failed sign-ins across accounts (password spraying), keyed
/// under the counter key (`domain::network_hmac`).
fn network_counter_key(app: &App, ip: &str) -> anyhow::Result<String> {
    let key =
        app.config.counter_key.as_deref().context("LEARNERS_COUNTER_KEY is not set: no sign-in counter can be kept")?;
    Ok(format!("ip-failures#{}", crate::domain::network_hmac(key, "network#", &network_of(ip))))
}

/// An hour: the lock of a network past its limit.
const IP_WINDOW_SECONDS: i64 = 3600;

/// When a network's attempts are all under way (none failed yet), try again this soon.
const IP_BUSY_RETRY_SECONDS: i64 = 60;

fn network_policy(app: &App) -> LockoutPolicy {
    LockoutPolicy { max_failures: app.site().max_failed_logins_per_ip, lockout_seconds: IP_WINDOW_SECONDS }
}

/// Reserves one attempt of the network's quota (an atomic conditional write, before anything
/// is verified): `Ok(None)` when no network is counted, `Throttled` when it is used up.
async fn reserve_network(app: &App, key: Option<String>, now: Timestamp) -> Result<Option<String>, SignInError> {
    let Some(key) = key else {
        return Ok(None);
    };
    match app.attempts.reserve(&key, now, network_policy(app)).await? {
        Reservation::Granted => Ok(Some(key)),
        Reservation::Refused { locked_until } => {
            tracing::warn!("sign-in refused: too many failures from this network");
            app.metrics.count(Metric::LockedSignIns);
            let retry = locked_until.map_or(IP_BUSY_RETRY_SECONDS, |until| (until.unix() - now.unix()).max(1));
            Err(SignInError::Throttled { retry_after_seconds: retry })
        }
    }
}

/// A network's reserved attempt failed: it stays counted (and the failure at the limit locks).
async fn network_failed(app: &App, key: Option<&str>, now: Timestamp) -> anyhow::Result<SignInError> {
    if let Some(key) = key {
        if app.attempts.record_failure(key, now, network_policy(app)).await?.is_some() {
            tracing::warn!("a network reached its limit of failed sign-ins");
        }
    }
    Ok(SignInError::InvalidCredentials)
}

pub async fn sign_in(app: &App, raw_email: &str, password: &str) -> Result<SignInStep, SignInError> {
    sign_in_from(app, raw_email, password, Client::default()).await
}

/// Signs in, with the lockout split by browser (OWASP's device cookies): failures from browsers
/// the account does not know count on the account's counter and lock it for them; a browser
/// that signed in before (in the account's current `auth_epoch`) counts on its own counter, and
/// all of them together on one account-wide counter (`DEVICE_FAILURES_FACTOR`), so an
/// attacker's lock does not keep the owner out and many devices do not give many attempts.
///
/// And at most `LEARNERS_MAX_FAILED_LOGINS_PER_IP` failures from one network (an IPv4 address,
/// an IPv6 /64) across accounts before it is refused for an hour, with a `Retry-After`: the
/// attempt is reserved atomically before verifying and given back on success, so successes use
/// none of the quota. A browser holding a live device cookie of the account is not held to it:
/// thousands behind one campus or carrier address are not locked out by one sprayer.
///
/// An account with a second factor gets no session for its password: the sign-in waits for
/// the second factor (`flows::second_factor`), whose failures count on the same counters, and
/// the counters forget only when that succeeds (a correct password between guesses of a code
/// resets nothing).
pub async fn sign_in_from(
    app: &App,
    raw_email: &str,
    password: &str,
    client: Client<'_>,
) -> Result<SignInStep, SignInError> {
    let now = app.clock.now();
    let dummy = PasswordHash::from_phc(DUMMY_HASH.to_owned());
    let network = match client.ip.filter(|_| app.site().max_failed_logins_per_ip > 0) {
        Some(ip) => Some(network_counter_key(app, ip)?),
        None => None,
    };
    let Ok(email) = Email::parse(raw_email) else {
        // No account can have this address; it costs what a wrong password costs.
        let network = reserve_network(app, network, now).await?;
        app.passwords.verify(&dummy, password).await?;
        return Err(network_failed(app, network.as_deref(), now).await?);
    };
    let user = app.store.user_by_email_key(&email.key()).await?;
    // Looked up whatever the account, so that the work does not tell whether it exists.
    let device = match client.device.and_then(Token::parse) {
        Some(token) => app.sessions.device(&token.hash(), now).await?,
        None => None,
    };
    // A device counts for its own account only, and only in the epoch it was made in (an older
    // one is an unknown browser, replaced all the same if this sign-in succeeds).
    let own_device = device.filter(|d| user.as_ref().is_some_and(|u| u.id == d.user_id));
    let device = own_device.clone().filter(|d| user.as_ref().is_some_and(|u| u.auth_epoch == d.auth_epoch));
    let network = match &device {
        Some(_) => None,
        None => reserve_network(app, network, now).await?,
    };
    let counters = sign_in_counters(app, &email, device.as_ref())?;
    if !reserve_all(app, &counters, now).await? {
        return Err(network_failed(app, network.as_deref(), now).await?);
    }
    let hash = user.as_ref().and_then(|u| u.password_hash.clone());
    let verified = app.passwords.verify(hash.as_ref().unwrap_or(&dummy), password).await? && hash.is_some();
    match user {
        // A disabled account answers a correct password as a wrong one, and counts it as one:
        // whoever holds the password (a thief, the reason it may have been disabled) learns
        // nothing, not even that they were noticed. The owner is told by the disabling's mail.
        Some(user) if verified && user.status != UserStatus::RemovalRequested && !user.is_disabled() => {
            // Not a failure: the network's attempt is given back; the counters forget.
            if let Some(key) = &network {
                app.attempts.release(key).await?;
            }
            let factors = match user.status {
                UserStatus::Active => app.factors.second_factors(&user.id).await?,
                _ => Default::default(),
            };
            if factors.is_enrolled() {
                // Half-way: the attempt is given back, and nothing is forgotten until the
                // second factor is proven too.
                for (key, _) in &counters {
                    app.attempts.release(key).await?;
                }
                let pending = begin_pending(app, user, own_device.as_ref(), &factors, now).await?;
                return Ok(SignInStep::SecondFactor(pending));
            }
            forget_failures(app, &counters).await?;
            if user.status == UserStatus::PendingActivation {
                return Err(SignInError::NotActivated);
            }
            let methods = vec![AuthMethod::Password];
            Ok(SignInStep::SignedIn(start_session(app, user, own_device.as_ref(), client, now, methods).await?))
        }
        _ => {
            app.metrics.count(Metric::FailedSignIns);
            record_failures(app, &email, &counters, now).await?;
            Err(network_failed(app, network.as_deref(), now).await?)
        }
    }
}

/// A sign-in succeeded (both factors, where there are two): the first counter (the account's,
/// or the known browser's) forgets; the ceiling over the account's browsers gets its attempt
/// back.
pub(crate) async fn forget_failures(app: &App, counters: &[(String, LockoutPolicy)]) -> anyhow::Result<()> {
    if let Some((first, _)) = counters.first() {
        app.attempts.clear(first).await?;
    }
    if let Some((ceiling, _)) = counters.get(1) {
        app.attempts.release(ceiling).await?;
    }
    Ok(())
}

/// A reserved attempt failed (a password, or a second factor): every counter records it, and
/// the failure that locks mails the owner.
pub(crate) async fn record_failures(
    app: &App,
    email: &Email,
    counters: &[(String, LockoutPolicy)],
    now: Timestamp,
) -> anyhow::Result<()> {
    let mut locked = None;
    for (key, policy) in counters {
        let now_locked = app.attempts.record_failure(key, now, *policy).await?;
        locked = locked.or(now_locked.map(|l| (key, l)));
    }
    if let Some((key, locked)) = locked {
        tracing::warn!(failures = locked.failures, known_device = counters.len() > 1, "sign-in locked");
        app.metrics.count(Metric::Locks);
        // The counter says whose account it locks, for the console's "Locked now" (a counter
        // keeps no address; an address without an account is listed nowhere, with the same work).
        let user = app.store.user_by_email_key(&email.key()).await?;
        app.attempts.mark_locked(key, user.as_ref().map(|u| &u.id), locked.until).await?;
        // Queued whether or not the address has an account: the worker decides.
        notify_lockout(app, email, locked).await?;
    }
    Ok(())
}

/// Reserves an attempt on every counter: false (nothing to verify) when one is locked or
/// has every allowed attempt under way.
pub(crate) async fn reserve_all(
    app: &App,
    counters: &[(String, LockoutPolicy)],
    now: Timestamp,
) -> anyhow::Result<bool> {
    for (key, policy) in counters {
        if let Reservation::Refused { .. } = app.attempts.reserve(key, now, *policy).await? {
            app.metrics.count(Metric::LockedSignIns);
            return Ok(false);
        }
    }
    Ok(true)
}

/// The account-wide counter over its devices allows `DEVICE_FAILURES_FACTOR` times as many.
fn device_ceiling(policy: LockoutPolicy) -> LockoutPolicy {
    LockoutPolicy { max_failures: policy.max_failures.saturating_mul(DEVICE_FAILURES_FACTOR), ..policy }
}

/// After a verified sign-in (`methods`: how it was proven): ends the browser's previous
/// session (`client.session`), begins a new one named after the browser (`client.user_agent`),
/// and gives the browser a new device token (replacing the one it presented, or adding one and
/// forgetting the account's oldest past `DEVICES_PER_ACCOUNT`).
pub(crate) async fn start_session(
    app: &App,
    user: User,
    presented: Option<&DeviceRecord>,
    client: Client<'_>,
    now: Timestamp,
    methods: Vec<AuthMethod>,
) -> anyhow::Result<SignedIn> {
    if let Some(old) = client.session.and_then(Token::parse) {
        app.sessions.delete_session(&old.hash()).await?;
    }
    let token = Token::generate();
    // An operator's session is shorter, and ends sooner when idle.
    let (lifetime, idle) = if user.operator {
        (app.site().session_ttl_seconds.min(app.site().operator_session_ttl_seconds), OPERATOR_IDLE_SECONDS)
    } else {
        (app.site().session_ttl_seconds, app.site().session_idle_seconds)
    };
    let session = SessionRecord {
        hash: token.hash(),
        user_id: user.id.clone(),
        auth_epoch: user.auth_epoch,
        created_at: now,
        expires_at: now.plus_seconds(lifetime),
        operator: user.operator,
        last_seen_at: now,
        idle_seconds: idle,
        password_at: now,
        methods,
        browser: crate::domain::browser_label(client.user_agent.unwrap_or_default()),
    };
    app.sessions.create_session(&session).await?;
    // A new device token at every success (OWASP), the browser's from now on.
    let device = Token::generate();
    let record = DeviceRecord {
        hash: device.hash(),
        user_id: user.id.clone(),
        auth_epoch: user.auth_epoch,
        created_at: now,
        expires_at: now.plus_seconds(DEVICE_TTL_SECONDS),
    };
    app.sessions.create_device(&record).await?;
    match presented {
        Some(old) => app.sessions.delete_device(&old.user_id, &old.hash).await?,
        None => forget_oldest_devices(app, &user, now).await?,
    }
    tracing::info!(user_id = %user.id, operator = user.operator, methods = ?session.methods, "signed in");
    app.metrics.count(Metric::SignIns);
    Ok(SignedIn { user, token, lifetime_seconds: lifetime, device })
}

/// Keeps at most `DEVICES_PER_ACCOUNT` devices: the oldest go (with their counters).
async fn forget_oldest_devices(app: &App, user: &User, now: Timestamp) -> anyhow::Result<()> {
    let known = app.sessions.known_devices(&user.id, now).await?;
    let surplus = known.len().saturating_sub(DEVICES_PER_ACCOUNT);
    for hash in known.iter().take(surplus) {
        app.sessions.delete_device(&user.id, hash).await?;
        app.attempts.clear(&device_counter_key(hash)).await?;
    }
    Ok(())
}

/// What a support unlock clears: the account's counter (browsers it does not know), the ceiling
/// over all its known browsers, and the user's own confirmations. A known browser's own counter
/// ends with its lock, or with the browser's record at the next password change.
pub async fn clear_account_counters(app: &App, user: &User) -> anyhow::Result<()> {
    let account_key = app.counter_key(&user.email)?;
    app.attempts.clear(&account_key).await?;
    app.attempts.clear(&devices_counter_key(&account_key)).await?;
    app.attempts.clear(&own_counter_key(user)).await?;
    Ok(())
}

/// Verifies the password of a signed-in user (to confirm a sensitive action) as sign-in does:
/// the attempt is reserved in a counter first, a failure counts toward its lock, and while
/// locked nothing is verified. The counter is the user's own (per user, not per session: a
/// thief holding several of the user's sessions still gets `max_failures` guesses in all), apart
/// from the sign-in counter that strangers fill: their failures do not block the owner's
/// confirmations, and the owner's (or a session thief's) do not open sign-in's.
pub async fn verify_own_password(app: &App, user: &User, password: &str) -> anyhow::Result<bool> {
    let now = app.clock.now();
    let policy = app.site().lockout;
    let key = own_counter_key(user);
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
pub(crate) async fn notify_lockout(app: &App, email: &Email, locked: LockedNow) -> anyhow::Result<()> {
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
    let live = user.auth_epoch == session.auth_epoch && user.may_sign_in();
    if !live {
        return Ok(None);
    }
    // A learner's idle limit counts from the last request, written at most once a minute (an
    // operator's is written by the console at each of its requests).
    let mut session = session;
    if !session.operator && session.needs_touch(now) {
        app.sessions.touch_session(&session.hash, now, session.password_at).await?;
        session.last_seen_at = now;
    }
    Ok(Some((user, session)))
}

pub async fn sign_out(app: &App, session: &SessionRecord) -> anyhow::Result<()> {
    app.sessions.delete_session(&session.hash).await?;
    tracing::info!(user_id = %session.user_id, "signed out");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_count_per_64_and_ipv4_as_they_are() {
        assert_eq!(network_of("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(network_of("2001:db8:1:2:ffff:ffff:ffff:ffff"), network_of("2001:db8:1:2::7"));
        assert_ne!(network_of("2001:db8:1:2::1"), network_of("2001:db8:1:3::1"));
        assert_eq!(network_of("192.0.2.7"), "192.0.2.7");
        assert_ne!(network_of("192.0.2.7"), network_of("192.0.2.8"));
        assert_eq!(network_of("::ffff:192.0.2.7"), "192.0.2.7", "an IPv4-mapped address is its IPv4 address");
        assert_eq!(network_of("not an address"), "not an address");
    }

    #[test]
    fn the_network_key_is_keyed_and_tells_no_address() {
        use crate::adapters::clock::ManualClock;
        use std::sync::Arc;
        let app_with = |key: &str| {
            let config = crate::Config::from_pairs(&[
                ("LEARNERS_SITE_URL", "https://learn.example.org"),
                ("LEARNERS_COUNTER_KEY", key),
            ])
            .unwrap();
            crate::wiring::in_memory(config, Arc::new(ManualClock::new())).0
        };
        let one = app_with("one-counter-key-0123456789abcdefghijklmnop");
        let other = app_with("another-counter-key-0123456789abcdefghijk");
        let key = network_counter_key(&one, "192.0.2.7").unwrap();
        assert_ne!(key, network_counter_key(&other, "192.0.2.7").unwrap(), "another key, another counter");
        assert_eq!(key, network_counter_key(&one, "192.0.2.7").unwrap());
        assert_ne!(key, network_counter_key(&one, "192.0.2.8").unwrap());
        assert_eq!(
            network_counter_key(&one, "2001:db8::1").unwrap(),
            network_counter_key(&one, "2001:db8::2").unwrap()
        );
        use sha2::{Digest, Sha256};
        let unkeyed: String = Sha256::digest(b"192.0.2.7").iter().map(|b| format!("{b:02x}")).collect();
        assert!(!key.contains(&unkeyed) && !key.contains("192"));
    }

    #[tokio::test]
    async fn the_dummy_hash_has_the_real_parameters_and_matches_nothing_simple() {
        let dummy = PasswordHash::from_phc(DUMMY_HASH.to_owned());
        assert!(DUMMY_HASH.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(argon2::PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!dummy.verify("").await.unwrap());
        assert!(!dummy.verify("password").await.unwrap());
    }
}
