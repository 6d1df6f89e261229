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
        if is_common(candidate) || is_common(&lower) {
            return Err(PasswordError::TooCommon);
        }
        if personal_fragments(personal).any(|fragment| lower.contains(&fragment)) {
            return Err(PasswordError::ContainsPersonalData);
        }
        Ok(Password(candidate.to_owned()))
    }
}

/// The blocklist: 99,838 common passwords (the `passwords` crate's table, version 3.1.19), one
/// a line, sorted by bytes, each line ending in `\n`. One string, not a table of string slices:
/// a `&[&str]` of this size costs 99,838 relocations at every cold start, one string costs none.
static COMMON_PASSWORDS: &str = include_str!("../../data/common-passwords.txt");

/// Whether `candidate` is a whole line of the blocklist: a binary search over byte offsets, each
/// probe widened to the line it falls in, so no index of line starts is ever built.
fn is_common(candidate: &str) -> bool {
    let list = COMMON_PASSWORDS.as_bytes();
    let wanted = candidate.as_bytes();
    // Invariant: `low` and `high` are line starts, and the candidate's line, if listed, lies
    // between them. Every probe moves `low` past `mid` or `high` to `mid` or before.
    let (mut low, mut high) = (0, list.len());
    while low < high {
        let mid = low + (high - low) / 2;
        let start = list[low..mid].iter().rposition(|&b| b == b'\n').map_or(low, |i| low + i + 1);
        let end = list[start..high].iter().position(|&b| b == b'\n').map_or(high, |i| start + i);
        match list[start..end].cmp(wanted) {
            std::cmp::Ordering::Equal => return true,
            std::cmp::Ordering::Less => low = end + 1,
            std::cmp::Ordering::Greater => high = start,
        }
    }
    false
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
    fn the_blocklist_is_one_sorted_line_per_password() {
        let lines: Vec<&str> = COMMON_PASSWORDS.split_terminator('\n').collect();
        assert_eq!(lines.len(), 99_838);
        assert!(COMMON_PASSWORDS.ends_with('\n'));
        assert!(lines.iter().all(|line| !line.is_empty() && !line.contains('\r')));
        // Strictly increasing by bytes: the binary search depends on it.
        assert!(lines.windows(2).all(|pair| pair[0].as_bytes() < pair[1].as_bytes()));
        // Every entry is found, the first and the last included.
        assert!(lines.iter().all(|line| is_common(line)), "an entry of the list was not found");
    }

    #[test]
    fn the_blocklist_matches_whole_entries_only() {
        for listed in ["!", "12345678", "iloveyou", "sunshine", "P@ssw0rd", "123456й", "zzzzzz", "ячсмить"] {
            assert!(is_common(listed), "{listed} is listed");
        }
        // Prefixes, extensions and neighbours of listed entries are not listed.
        for unlisted in
            ["", " ", "\n", "iloveyo", "sunshin", "sunshinex", "P@ssw0r", "12345678\n", "ячсмитьx", "ячсмиц"]
        {
            assert!(!is_common(unlisted), "{unlisted:?} is not listed");
        }
    }

    #[test]
    fn refuses_common_passwords_in_any_case_and_accepts_good_ones() {
        for common in ["iloveyou", "ILOVEYOU", "Sunshine", "baseball", "P@ssw0rd", "p@ssw0rd", "1qaz2wsx"] {
            assert_eq!(policy().check(common, &[]).unwrap_err(), PasswordError::TooCommon, "{common}");
        }
        for good in ["sunshine-on-a-tuesday", "iloveyou but not you", "Tr0ub4dor&3-staple"] {
            assert!(policy().check(good, &[]).is_ok(), "{good}");
        }
        // A prefix of a listed password, long enough for the policy, is not refused by accident.
        assert!(PasswordPolicy { min_length: 7 }.check("sunshin", &[]).is_ok());
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
