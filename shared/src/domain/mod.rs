//! Validating newtypes and records of the domain. Every constructor that takes outside input
//! returns an error instead of building an invalid value.

mod audit;
mod browser;
mod directory;
mod email;
mod full_name;
mod job;
mod network;
pub mod oidc;
pub(crate) mod password;
pub mod password_list;
mod retirement;
pub mod second_factor;
mod session;
pub mod settings;
mod time;
mod token;
mod user;
mod username;

pub use audit::{audit_cursor, exports_subject, Actor, AuditEntry, AuditPage, AuditQuery, LEARNER_LABEL};

/// Field name -> what is wrong with it: what a flow refuses of a form, before any page or JSON
/// says it.
pub type FieldErrors = std::collections::BTreeMap<String, String>;

/// The site's page for a new activation link: pages and mails both point learners to it.
pub const NEW_ACTIVATION_LINK: &str = "/activation-email";
pub use browser::{browser_label, UNKNOWN_BROWSER};
pub use directory::{user_shard, BadCursor, Cursor, StatusFilter, UserPage, UserQuery, PAGE_SIZE, USER_SHARDS};
pub use email::{Email, EmailError};
pub use full_name::{FullName, FullNameError};
pub use job::{
    block_of, block_rows, shard_of, Counts, Idempotency, JobKind, JobProgress, JobStatus, RowJob, RowOutcome,
    RowResult, INTAKE_DEADLINE_SECONDS, JOB_RETENTION_SECONDS, ROWS_PER_BLOCK, ROW_SHARDS,
};
pub use network::{network_hmac, network_of};
pub use password::{
    Factors, Password, PasswordError, PasswordHash, PasswordPolicy, MIN_LENGTH_SINGLE_FACTOR,
    MIN_LENGTH_WITH_SECOND_FACTOR,
};
pub use retirement::{email_hmac, Retirement, DELETED_EMAIL};
pub use second_factor::{
    amr_values, is_multi_factor, AuthMethod, Challenge, ChallengePurpose, PasskeyFactor, PendingSignIn, RecoveryCodes,
    SecondFactors, TotpFactor, CHALLENGE_SECONDS, MAX_PASSKEYS, MAX_PASSKEY_NAME_CHARS,
};
pub use session::{
    DeviceRecord, LockedNow, LockoutPolicy, LockoutState, Reservation, SessionRecord, DEVICES_PER_ACCOUNT,
    DEVICE_FAILURES_FACTOR, DEVICE_TTL_SECONDS, LEARNER_IDLE_SECONDS, OPERATOR_IDLE_SECONDS, REAUTHENTICATION_SECONDS,
    TOUCH_INTERVAL_SECONDS,
};
pub use settings::{Settings, StoredSettings};
pub use time::{human_duration, Timestamp};
pub use token::{Token, TokenHash, TokenPurpose, TokenRecord};
pub use user::{MailRefusal, MailRefusalKind, User, UserId, UserSource, UserStatus, UserView};
pub use username::{Username, UsernameError};
