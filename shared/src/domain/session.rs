//! Sessions and the brute-force lockout's counter.

use super::{Timestamp, TokenHash, UserId};

/// A signed-in browser. The cookie holds the raw token; only its hash is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub hash: TokenHash,
    pub user_id: UserId,
    /// The user's `auth_epoch` when the session began: a raised epoch ends the session.
    pub auth_epoch: u64,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// Begun by an account with the operator role: shorter, with an idle limit, and the only
    /// kind of session the operator console takes.
    pub operator: bool,
    /// The last request of the session, as recorded (at most once a minute for a learner):
    /// its idle limit counts from here.
    pub last_seen_at: Timestamp,
    /// How long the session may go without a request: `OPERATOR_IDLE_SECONDS` for an
    /// operator's, `LEARNERS_SESSION_IDLE_SECONDS` for a learner's (fixed when it begins).
    pub idle_seconds: i64,
    /// When a factor was last proven in this session (at sign-in, or to confirm an operator's
    /// sensitive action: the password, or the second factor where one is required).
    pub password_at: Timestamp,
    /// How the sign-in that began the session was proven (OpenID Connect's `amr`), in order.
    /// A session stored before second factors existed reads as `[Password]`.
    pub methods: Vec<super::AuthMethod>,
    /// The coarse name of the browser that signed in ("Firefox on Linux", `domain::browser_label`),
    /// for the learner's list of where they are signed in. Empty for a session stored before it
    /// was recorded (shown as an unknown browser).
    pub browser: String,
}

/// A browser that signed in to an account before (OWASP's device cookie): its own failures
/// count apart from everyone else's, so an attacker's lock does not lock it out. The cookie
/// holds the raw token; only its hash is stored. It counts only while the account is in the
/// same `auth_epoch` as when it was made: a reset, an operator's new password or "sign out
/// everywhere" makes every older device an unknown browser again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRecord {
    pub hash: TokenHash,
    pub user_id: UserId,
    /// The user's `auth_epoch` when the browser signed in.
    pub auth_epoch: u64,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// How long a browser stays known after its last successful sign-in.
pub const DEVICE_TTL_SECONDS: i64 = 365 * 86_400;

/// The most devices an account keeps: a sign-in past it forgets the oldest.
pub const DEVICES_PER_ACCOUNT: usize = 5;

/// All the device counters of an account together allow this many times the policy's
/// `max_failures` per lock window (an account-wide counter), so N devices do not give N times
/// the attempts.
pub const DEVICE_FAILURES_FACTOR: u32 = 2;

/// An operator session ends after this long without a console request.
pub const OPERATOR_IDLE_SECONDS: i64 = 1800;

/// A learner session's default idle limit (`LEARNERS_SESSION_IDLE_SECONDS`): a week.
pub const LEARNER_IDLE_SECONDS: i64 = 7 * 86_400;

/// A learner session's `last_seen_at` is written again only when older than this: one write a
/// minute at most, not one per request.
pub const TOUCH_INTERVAL_SECONDS: i64 = 60;

/// Sensitive operator actions ask for the password again unless it was typed this recently.
pub const REAUTHENTICATION_SECONDS: i64 = 300;

impl SessionRecord {
    pub fn is_expired(&self, now: Timestamp) -> bool {
        now >= self.expires_at || now.unix() - self.last_seen_at.unix() >= self.idle_seconds
    }

    /// Is the recorded last request old enough to be written again?
    pub fn needs_touch(&self, now: Timestamp) -> bool {
        now.unix() - self.last_seen_at.unix() >= TOUCH_INTERVAL_SECONDS
    }

    /// Was the session begun with more than a password (a second factor, or a passkey)?
    pub fn is_multi_factor(&self) -> bool {
        super::is_multi_factor(&self.methods)
    }

    /// How the learner's list of sessions names this one in its forms: derived from the stored
    /// hash (never the hash itself, nor anything that opens the session), and only ever looked
    /// up among the sessions of the signed-in account, so it ends nobody else's.
    pub fn public_id(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!("listed-session#{}", self.hash.as_str()).as_bytes());
        digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
    }

    /// The browser's name as a learner reads it.
    pub fn browser_label(&self) -> &str {
        match self.browser.as_str() {
            "" => super::UNKNOWN_BROWSER,
            label => label,
        }
    }

    /// Was the password typed in this session recently enough for a sensitive action?
    pub fn password_is_recent(&self, now: Timestamp) -> bool {
        now.unix() - self.password_at.unix() < REAUTHENTICATION_SECONDS
    }
}

/// How many failures lock an account, and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockoutPolicy {
    pub max_failures: u32,
    pub lockout_seconds: i64,
}

/// Whether a sign-in attempt may verify a password. Attempts are reserved before verifying,
/// so no more than `max_failures` verifications run per window, however many arrive at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reservation {
    Granted,
    /// Locked (until the given time), or every allowed attempt is already under way.
    Refused {
        locked_until: Option<Timestamp>,
    },
}

/// The counter as an operator sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LockoutState {
    pub failures: u32,
    pub locked_until: Option<Timestamp>,
}

/// A failure that locked the account: the one caller that gets it mails the owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockedNow {
    pub failures: u32,
    pub until: Timestamp,
}
