//! The settings reader every function holds: the site settings in force (`SettingsStore`),
//! read again when the copy is older than `SETTINGS_CACHE_SECONDS` (30 s), so that a support
//! person's change reaches every function within that time, without a restart or a deployment;
//! and the stack's parameters (`Config`) where none was ever saved.
//!
//! A request, or a batch of queue messages, calls `refresh` once at its start (the handlers'
//! one entry, `handlers::answer`, and the workers'), then reads the copy without waiting:
//! `App::site()` is the configuration with the settings put in place of the stack's values, so
//! every place that read a parameter reads the setting the same way. A failed read keeps the
//! copy it had (and tries again at the next request): the site goes on with the values it
//! knew, never without any.

use crate::domain::{Settings, StoredSettings, Timestamp, MIN_LENGTH_SINGLE_FACTOR};
use crate::look::Look;
use crate::ports::SettingsStore;
use crate::Config;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

/// How long a function uses its copy of the settings before reading them again.
pub const SETTINGS_CACHE_SECONDS: i64 = 30;

/// The settings in force, as a function sees them: the configuration with the settings in
/// place (`Deref` to it), their version (0: the stack's parameters), and the settings.
#[derive(Debug)]
pub struct Site {
    pub version: u64,
    pub settings: Settings,
    pub config: Config,
}

impl std::ops::Deref for Site {
    type Target = Config;

    fn deref(&self) -> &Config {
        &self.config
    }
}

pub struct SettingsReader {
    pub store: Arc<dyn SettingsStore>,
    base: Arc<Config>,
    max_age_seconds: AtomicI64,
    cached: RwLock<(Arc<Site>, Option<Timestamp>)>,
}

impl SettingsReader {
    pub fn new(store: Arc<dyn SettingsStore>, base: Arc<Config>) -> Self {
        let first = Arc::new(site(&base, 0, defaults(&base)));
        Self {
            store,
            base,
            max_age_seconds: AtomicI64::new(SETTINGS_CACHE_SECONDS),
            cached: RwLock::new((first, None)),
        }
    }

    /// The stack's parameters as settings: the values in force until a support person saves.
    pub fn defaults(&self) -> Settings {
        defaults(&self.base)
    }

    /// Changes how long the copy is used (tests: 0 reads on every request).
    pub fn set_max_age(&self, seconds: i64) {
        self.max_age_seconds.store(seconds.max(0), Ordering::Relaxed);
    }

    /// The copy in force (read at the last `refresh`).
    pub fn current(&self) -> Arc<Site> {
        self.cached.read().unwrap_or_else(|poisoned| poisoned.into_inner()).0.clone()
    }

    /// Reads the settings again when the copy is older than the cache time at `now`.
    pub async fn refresh(&self, now: Timestamp) {
        let fresh = {
            let cached = self.cached.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            cached.1.is_some_and(|at| now.unix() - at.unix() < self.max_age_seconds.load(Ordering::Relaxed))
        };
        if fresh {
            return;
        }
        match self.store.current_settings().await {
            Ok(stored) => {
                let next = Arc::new(self.site_of(stored));
                *self.cached.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = (next, Some(now));
            }
            Err(error) => {
                tracing::warn!(error = format!("{error:#}"), "reading the site settings failed; the last copy stays")
            }
        }
    }

    /// What a function makes of stored settings (None: the stack's parameters).
    pub fn site_of(&self, stored: Option<StoredSettings>) -> Site {
        match stored {
            Some(stored) => site(&self.base, stored.version, stored.settings),
            None => site(&self.base, 0, defaults(&self.base)),
        }
    }
}

fn defaults(base: &Config) -> Settings {
    Settings {
        max_failed_logins: base.lockout.max_failures,
        lockout_seconds: base.lockout.lockout_seconds,
        max_failed_logins_per_ip: base.max_failed_logins_per_ip,
        self_removal_enabled: base.self_removal_enabled,
        activation_ttl_seconds: base.activation_ttl_seconds,
        reset_ttl_seconds: base.reset_ttl_seconds,
        resend_interval_seconds: base.resend_interval_seconds,
        password_min_length: base.password_min_length,
        password_min_length_second_factor: base.password_min_length_second_factor,
        // The stack's own value was accepted by whoever deployed it.
        short_passwords_accepted: base.password_min_length < MIN_LENGTH_SINGLE_FACTOR,
        session_ttl_seconds: base.session_ttl_seconds,
        session_idle_seconds: base.session_idle_seconds,
        operator_session_ttl_seconds: base.operator_session_ttl_seconds,
        site_name: base.site_name.clone(),
        logo_url: base.look.logo_url.clone().unwrap_or_default(),
        brand_color: base.look.brand_color.clone(),
        mail_from_name: base.mail_from_name.clone(),
    }
}

/// The configuration with `settings` in place of the stack's values.
fn site(base: &Config, version: u64, settings: Settings) -> Site {
    let mut config = base.clone();
    config.lockout = settings.lockout();
    config.max_failed_logins_per_ip = settings.max_failed_logins_per_ip;
    config.self_removal_enabled = settings.self_removal_enabled;
    config.activation_ttl_seconds = settings.activation_ttl_seconds;
    config.reset_ttl_seconds = settings.reset_ttl_seconds;
    config.resend_interval_seconds = settings.resend_interval_seconds;
    config.password_min_length = settings.password_min_length;
    config.password_min_length_second_factor = settings.password_min_length_second_factor;
    config.session_ttl_seconds = settings.session_ttl_seconds;
    config.session_idle_seconds = settings.session_idle_seconds;
    config.operator_session_ttl_seconds = settings.operator_session_ttl_seconds;
    config.site_name = settings.site_name.clone();
    config.mail_from_name = settings.mail_from_name.clone();
    let logo = Some(settings.logo_url.as_str()).filter(|url| !url.is_empty());
    match Look::new(&settings.site_name, Some(&settings.brand_color), logo) {
        Ok(look) => config.look = look,
        // Saved settings were checked (`Settings::parse`); a stored value that fails all the
        // same leaves the stack's look, never a page without one.
        Err(error) => tracing::error!(error = format!("{error:#}"), "stored look refused; the stack's stays"),
    }
    Site { version, settings, config }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::MemoryStore;
    use crate::domain::{AuditEntry, UserId};

    fn stored(version: u64, failures: &str) -> StoredSettings {
        let base = Config::from_pairs(&[("LEARNERS_SITE_URL", "https://x.org")]).unwrap();
        let changes = std::collections::BTreeMap::from([("max_failed_logins".to_owned(), failures.to_owned())]);
        let settings = defaults(&base).with_values(&changes).unwrap();
        StoredSettings { version, settings, saved_by: "test".into(), saved_at: Timestamp::from_unix(0) }
    }

    fn audit(n: u64) -> AuditEntry {
        AuditEntry {
            id: format!("a{n}"),
            at: Timestamp::from_unix(n as i64),
            operator: "test".into(),
            action: "change_settings".into(),
            user_id: UserId::parse("00000000-0000-0000-0000-000000000000").unwrap(),
            outcome: "done".into(),
        }
    }

    #[tokio::test]
    async fn a_saved_change_is_read_once_the_copy_is_older_than_the_cache_time() {
        let store = Arc::new(MemoryStore::new());
        let base = Arc::new(Config::from_pairs(&[("LEARNERS_SITE_URL", "https://x.org")]).unwrap());
        let reader = SettingsReader::new(store.clone(), base);
        let t0 = Timestamp::from_unix(1_000);
        reader.refresh(t0).await;
        assert_eq!((reader.current().version, reader.current().lockout.max_failures), (0, 6), "the stack's");
        assert!(store.save_settings(&stored(1, "3"), &audit(1)).await.unwrap());
        reader.refresh(t0.plus_seconds(SETTINGS_CACHE_SECONDS - 1)).await;
        assert_eq!(reader.current().lockout.max_failures, 6, "the copy is used for the cache time");
        reader.refresh(t0.plus_seconds(SETTINGS_CACHE_SECONDS)).await;
        assert_eq!((reader.current().version, reader.current().lockout.max_failures), (1, 3));
    }
}
