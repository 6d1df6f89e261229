//! The bundle of ports a handler works with, built once per process. It names no adapter:
//! which adapter backs which port is decided in `crate::wiring`, outside the core.

use crate::domain::{Email, Factors, Password, PasswordError, PasswordPolicy};
use crate::metrics::Metrics;
use crate::ports::{AuditLog, Clock, JobQueue, LoginAttempts, Mailer, Passwords, RowJobs, SessionStore, UserStore};
use crate::ports::{BreachedPasswords, OidcStore, Sealer, SecondFactorStore, Signer, Uploads};
use crate::Config;
use std::sync::Arc;

mod settings;
pub use settings::{SettingsReader, Site, SETTINGS_CACHE_SECONDS};

#[derive(Clone)]
pub struct App {
    pub config: Arc<Config>,
    pub store: Arc<dyn UserStore>,
    pub sessions: Arc<dyn SessionStore>,
    pub attempts: Arc<dyn LoginAttempts>,
    pub passwords: Arc<dyn Passwords>,
    pub audit: Arc<dyn AuditLog>,
    /// Second factors (authenticator, passkeys, recovery codes) and ceremony challenges.
    pub factors: Arc<dyn SecondFactorStore>,
    pub jobs: Arc<dyn RowJobs>,
    pub mailer: Arc<dyn Mailer>,
    pub queue: Arc<dyn JobQueue>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    /// OpenID Connect: applications, codes and tokens; and the ID token signer.
    pub oidc: Arc<dyn OidcStore>,
    pub signer: Arc<dyn Signer>,
    /// Seals the passwords of bulk rows while they wait in the store.
    pub sealer: Arc<dyn Sealer>,
    /// The breach corpus a new password is checked against beyond the local list.
    pub breached: Arc<dyn BreachedPasswords>,
    /// Where bulk files are uploaded to, by pre-signed requests, and read back by the intake.
    pub uploads: Arc<dyn Uploads>,
    /// The site settings (issue 25): their store, and the copy in force (`site()`).
    pub settings: Arc<SettingsReader>,
}

impl App {
    /// The configuration with the site settings in force in place of the stack's values (read
    /// at the start of this request or batch, at most `SETTINGS_CACHE_SECONDS` old).
    pub fn site(&self) -> Arc<Site> {
        self.settings.current()
    }

    /// Reads the site settings again when this function's copy is older than the cache time:
    /// once at the start of every request and every batch of queue messages.
    pub async fn refresh_settings(&self) {
        self.settings.refresh(self.clock.now()).await;
    }

    /// The policy for a new password of an account protected by `factors`: a new account, or
    /// one without a second factor, is `Factors::PasswordOnly`; an existing account with one
    /// enrolled (`password_policy_of`) is `Factors::WithSecondFactor` (NIST SP 800-63B-4: 15
    /// characters alone, 8 beside a second factor).
    pub fn password_policy(&self, factors: Factors) -> PasswordPolicy {
        PasswordPolicy::for_factors(
            factors,
            self.site().password_min_length,
            self.site().password_min_length_second_factor,
        )
    }

    /// The policy for a new password of an existing account: with a second factor enrolled,
    /// the shorter minimum applies.
    pub async fn password_policy_of(&self, user_id: &crate::domain::UserId) -> anyhow::Result<PasswordPolicy> {
        let factors = match self.factors.second_factors(user_id).await?.is_enrolled() {
            true => Factors::WithSecondFactor,
            false => Factors::PasswordOnly,
        };
        Ok(self.password_policy(factors))
    }

    /// A new password for an existing account (a reset, an operator's, the learner's own
    /// change): the account's policy, none of its own names (username, the address's local
    /// part, the full name), and not in the breach corpus. The outer error is the store's.
    pub async fn acceptable_password(
        &self,
        user: &crate::domain::User,
        candidate: &str,
    ) -> anyhow::Result<Result<Password, PasswordError>> {
        let personal = [user.username.as_ref(), user.email.local_part(), user.name.as_ref()];
        Ok(match self.password_policy_of(&user.id).await?.check(candidate, &personal) {
            Ok(password) => self.refuse_breached(&password).await.map(|()| password),
            Err(reason) => Err(reason),
        })
    }

    /// Refuses a new password (one that met the policy) that the breach corpus knows. A corpus
    /// that cannot be asked (an outage, a timeout) refuses nothing: the local list, which the
    /// policy checked, is the fallback, and registration never waits on another service's
    /// availability.
    pub async fn refuse_breached(&self, password: &Password) -> Result<(), PasswordError> {
        match self.breached.is_breached(password).await {
            Ok(false) => Ok(()),
            Ok(true) => Err(PasswordError::Breached),
            Err(error) => {
                tracing::warn!(error = format!("{error:#}"), "breached-password check failed; the local list decides");
                Ok(())
            }
        }
    }

    /// The counter key of an address: an HMAC under `LEARNERS_COUNTER_KEY`, so a counter holds
    /// no address, and a copy of the table cannot be searched for one (an unkeyed hash could be
    /// checked against a list of addresses). It counts the failures of every browser the
    /// account does not know.
    pub fn counter_key(&self, email: &Email) -> anyhow::Result<String> {
        use anyhow::Context;
        let key = self
            .config
            .counter_key
            .as_deref()
            .context("LEARNERS_COUNTER_KEY is not set: no sign-in counter can be kept")?;
        Ok(crate::domain::email_hmac(key, email))
    }
}
