//! What is kept of a deleted account: a record keyed by an HMAC of its email (so an operator who
//! knows the address can tell it was deleted, and when, and by whom), and nothing personal.

use super::{Email, Timestamp, UserId};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What a job row shows in place of the address of an account deleted since.
pub const DELETED_EMAIL: &str = "(deleted)";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retirement {
    /// HMAC-SHA256 of the canonical email under `LEARNERS_RETIREMENT_SECRET`, hex.
    pub email_hmac: String,
    pub user_id: UserId,
    pub retired_at: Timestamp,
    /// `self`, or the operator's identity.
    pub requested_by: String,
}

/// The keyed hash of an address: the same address always gives the same key, and without the
/// secret the key tells nothing about the address.
pub fn email_hmac(secret: &str, email: &Email) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(email.key().as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_depends_on_the_address_and_the_secret_not_on_case() {
        let a = Email::parse("Ada@Example.com").unwrap();
        let b = Email::parse("ada@example.com").unwrap();
        assert_eq!(email_hmac("s1", &a), email_hmac("s1", &b));
        assert_ne!(email_hmac("s1", &a), email_hmac("s2", &a));
        assert!(!email_hmac("s1", &a).contains("ada"));
    }
}
