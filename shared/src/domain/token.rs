//! Single-use secrets sent by email (activation, password reset) and session tokens: 256 random
//! bits, base64url in links and cookies; only their SHA-256 is ever stored.

use super::{Email, Timestamp, UserId};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::fmt;

/// The raw secret. `Debug` never shows it.
pub struct Token(String);

/// SHA-256 of the secret, in hex: the only form that is stored or may be logged.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(String);

impl Token {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Reads a token from a link or a request. Anything that is not exactly 32 base64url bytes
    /// is no token at all (so it is refused without a store read).
    pub fn parse(input: &str) -> Option<Self> {
        let decoded = URL_SAFE_NO_PAD.decode(input.trim()).ok()?;
        (decoded.len() == 32 && input.trim().len() == 43).then(|| Self(input.trim().to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash(hex(&Sha256::digest(self.0.as_bytes())))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl TokenHash {
    pub fn from_stored(hex: String) -> Self {
        Self(hex)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({}…)", &self.0[..self.0.len().min(8)])
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenPurpose {
    Activation,
    PasswordReset,
    /// Mailed to a new address: confirms that the account's email becomes it (the record's
    /// `address`).
    EmailChange,
    /// Mailed to the old address once a change is confirmed ("This was not me"): brings the
    /// account's email back to it (the record's `address`) and ends every session.
    EmailRevert,
    /// Mailed to a bulk-registered learner when the operator chose invitations for the upload:
    /// choosing a password with it (the reset page's form) spends it and activates the account.
    Invitation,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Activation => "activation",
            Self::PasswordReset => "password_reset",
            Self::EmailChange => "email_change",
            Self::EmailRevert => "email_revert",
            Self::Invitation => "invitation",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "activation" => Some(Self::Activation),
            "password_reset" => Some(Self::PasswordReset),
            "email_change" => Some(Self::EmailChange),
            "email_revert" => Some(Self::EmailRevert),
            "invitation" => Some(Self::Invitation),
            _ => None,
        }
    }
}

/// What the store keeps of an emailed token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    pub hash: TokenHash,
    pub purpose: TokenPurpose,
    pub user_id: UserId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
    /// The user's `auth_epoch` when the token was made: a reset link stops working when any
    /// password change (which raises the epoch) happens after it was sent.
    pub auth_epoch: u64,
    /// The address an email change or its revert is about (the new address for `EmailChange`,
    /// the old one for `EmailRevert`); `None` for the other purposes.
    pub address: Option<Email>,
}

impl TokenRecord {
    pub fn new(token: &Token, purpose: TokenPurpose, user: &super::User, now: Timestamp, ttl_seconds: i64) -> Self {
        Self {
            hash: token.hash(),
            purpose,
            user_id: user.id.clone(),
            created_at: now,
            expires_at: now.plus_seconds(ttl_seconds),
            used_at: None,
            auth_epoch: user.auth_epoch,
            address: None,
        }
    }

    /// The record, about `address` (see `address`).
    pub fn about(self, address: &Email) -> Self {
        Self { address: Some(address.clone()), ..self }
    }

    /// A fresh secret for `user` and the record to store for it.
    pub fn mint(purpose: TokenPurpose, user: &super::User, now: Timestamp, ttl_seconds: i64) -> (Token, Self) {
        let token = Token::generate();
        let record = Self::new(&token, purpose, user, now, ttl_seconds);
        (token, record)
    }

    /// A token works up to and including its expiry second.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        now > self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_256_bit_base64url() {
        let a = Token::generate();
        let b = Token::generate();
        assert_eq!(a.as_str().len(), 43);
        assert_ne!(a.as_str(), b.as_str());
        assert_eq!(Token::parse(a.as_str()).unwrap().hash(), a.hash());
        assert_eq!(a.hash().as_str().len(), 64);
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let token = Token::generate();
        assert!(Token::parse(&token.as_str()[..42]).is_none());
        assert!(Token::parse(&format!("{}A", token.as_str())).is_none());
        assert!(Token::parse("not a token").is_none());
        assert!(Token::parse("").is_none());
        assert!(!format!("{token:?}").contains(token.as_str()));
    }
}
