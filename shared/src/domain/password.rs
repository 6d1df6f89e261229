//! Passwords: the policy a new password must meet (OWASP ASVS 5.0 / NIST SP 800-63B-4: length,
//! not common, not the user's own data; no composition rules) and argon2id hashing.

use anyhow::Context;
use argon2::password_hash::{rand_core::OsRng, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::fmt;

/// The most code points a password may have: long enough for any passphrase, short enough that
/// hashing it is no denial-of-service vector.
pub const MAX_LENGTH: usize = 128;

/// A password that met the policy. It is never printed: `Debug` shows a placeholder.
#[derive(Clone)]
pub struct Password(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("A password needs at least {0} characters.")]
    TooShort(usize),
    #[error("A password has at most 128 characters.")]
    TooLong,
    #[error("This password is among the most common ones; choose another.")]
    TooCommon,
    #[error("A password cannot contain your username, your email address or your name.")]
    ContainsPersonalData,
}

#[derive(Clone, Copy, Debug)]
pub struct PasswordPolicy {
    pub min_length: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self { min_length: 8 }
    }
}

impl PasswordPolicy {
    /// Checks a new password exactly as typed (no trimming, no case change). `personal` holds
    /// the account's username, email local part and name, which the password may not contain.
    pub fn check(&self, candidate: &str, personal: &[&str]) -> Result<Password, PasswordError> {
        let length = candidate.chars().count();
        if length < self.min_length {
            return Err(PasswordError::TooShort(self.min_length));
        }
        if length > MAX_LENGTH {
            return Err(PasswordError::TooLong);
        }
        let lower = candidate.to_lowercase();
        if passwords::analyzer::is_common_password(candidate) || passwords::analyzer::is_common_password(&lower) {
            return Err(PasswordError::TooCommon);
        }
        if personal_fragments(personal).any(|fragment| lower.contains(&fragment)) {
            return Err(PasswordError::ContainsPersonalData);
        }
        Ok(Password(candidate.to_owned()))
    }
}

/// The pieces of personal data worth refusing: each value whole, and each word of a name, when
/// at least 3 characters long (shorter ones would refuse good passwords by chance).
fn personal_fragments<'a>(personal: &'a [&'a str]) -> impl Iterator<Item = String> + 'a {
    personal
        .iter()
        .flat_map(|value| std::iter::once(*value).chain(value.split_whitespace()))
        .map(str::to_lowercase)
        .filter(|fragment| fragment.chars().count() >= 3)
}

impl Password {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// An argon2id hash in PHC string form.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

impl PasswordHash {
    /// Wraps a stored PHC string (read back from the store).
    pub fn from_phc(phc: String) -> Self {
        Self(phc)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// argon2id at OWASP's minimum parameters: m=19456 KiB, t=2, p=1. CPU-bound for ~34 ms, so
    /// it runs on tokio's blocking pool and never stalls the request loop.
    pub async fn of(password: &Password) -> anyhow::Result<Self> {
        let secret = password.0.clone();
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            hasher()
                .hash_password(secret.as_bytes(), &salt)
                .map(|hash| Self(hash.to_string()))
                .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))
        })
        .await
        .context("password hashing task")?
    }

    /// Verifies a candidate exactly as typed. A malformed stored hash verifies nothing.
    pub async fn verify(&self, candidate: &str) -> anyhow::Result<bool> {
        let phc = self.0.clone();
        let candidate = candidate.to_owned();
        tokio::task::spawn_blocking(move || {
            let Ok(parsed) = argon2::PasswordHash::new(&phc) else {
                return false;
            };
            hasher().verify_password(candidate.as_bytes(), &parsed).is_ok()
        })
        .await
        .context("password verification task")
    }
}

fn hasher() -> Argon2<'static> {
    let params = Params::new(19_456, 2, 1, None).expect("constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PasswordPolicy {
        PasswordPolicy::default()
    }

    #[test]
    fn accepts_long_unusual_passwords_exactly_as_typed() {
        let password = policy().check("  correct horse Battery staple ", &[]).unwrap();
        assert_eq!(password.as_str(), "  correct horse Battery staple ");
        assert!(policy().check(&"ü".repeat(128), &[]).is_ok());
    }

    #[test]
    fn refuses_with_a_reason() {
        assert_eq!(policy().check("short", &[]).unwrap_err(), PasswordError::TooShort(8));
        assert_eq!(
            PasswordPolicy { min_length: 12 }.check("elevenchars", &[]).unwrap_err(),
            PasswordError::TooShort(12)
        );
        assert_eq!(policy().check(&"a".repeat(129), &[]).unwrap_err(), PasswordError::TooLong);
        assert_eq!(policy().check("password1", &[]).unwrap_err(), PasswordError::TooCommon);
        assert_eq!(policy().check("PASSWORD1", &[]).unwrap_err(), PasswordError::TooCommon);
        assert_eq!(
            policy().check("xx-adalove-xx", &["AdaLove", "ada", "Ada Lovelace"]).unwrap_err(),
            PasswordError::ContainsPersonalData
        );
        assert_eq!(
            policy().check("lovelace-rules-9", &["ada_l", "ada", "Ada Lovelace"]).unwrap_err(),
            PasswordError::ContainsPersonalData
        );
    }

    #[test]
    fn never_prints_the_secret() {
        let password = policy().check("tr0ub4dor&3-staple", &[]).unwrap();
        assert!(!format!("{password:?}").contains("tr0ub4dor"));
    }

    #[tokio::test]
    async fn hashes_with_argon2id_owasp_parameters_and_verifies_exactly() {
        let password = policy().check("Tr0ub4dor&3-staple", &[]).unwrap();
        let hash = PasswordHash::of(&password).await.unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(hash.verify("Tr0ub4dor&3-staple").await.unwrap());
        assert!(!hash.verify("tr0ub4dor&3-staple").await.unwrap());
        assert!(!hash.verify("Tr0ub4dor&3-stapl").await.unwrap());
        assert!(!PasswordHash::from_phc("garbage".into()).verify("x").await.unwrap());
    }
}
