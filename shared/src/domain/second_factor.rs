//! Second factors: authenticator codes (TOTP, RFC 6238), passkeys (WebAuthn) and recovery codes,
//! kept together per account in one record (`SecondFactors`) that is only ever replaced whole,
//! on the version that was read (optimistic concurrency): a code used twice at once, or a
//! recovery code spent by two requests, changes the record once and the other write is refused.
//!
//! And how a person proved who they are (`AuthMethod`), which sessions and ID tokens record
//! (OpenID Connect's `amr`, RFC 8176).

use super::{Timestamp, Token, TokenHash, UserId};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One way a person proved who they are in a sign-in or a confirmation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    Password,
    /// A code from an authenticator app (TOTP).
    AuthenticatorCode,
    /// One of the account's single-use recovery codes.
    RecoveryCode,
    /// A passkey, with user verification (the device's PIN or biometric): two factors in one.
    Passkey,
}

impl AuthMethod {
    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::AuthenticatorCode => "authenticator_code",
            Self::RecoveryCode => "recovery_code",
            Self::Passkey => "passkey",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Password, Self::AuthenticatorCode, Self::RecoveryCode, Self::Passkey]
            .into_iter()
            .find(|m| m.as_str() == value)
    }

    /// Is it a second factor (something the person has), beside a password?
    pub fn is_second_factor(self) -> bool {
        !matches!(self, Self::Password)
    }
}

/// Did these methods together prove more than a password: a second factor beside it, or a
/// passkey (possession and user verification)?
pub fn is_multi_factor(methods: &[AuthMethod]) -> bool {
    methods.iter().any(|m| m.is_second_factor())
}

/// The OpenID Connect `amr` values (RFC 8176) of a sign-in's methods, in a stable order: `pwd`
/// (a password), `otp` (an authenticator or a recovery code), `hwk` and `user` (a passkey: a
/// key held by a device, unlocked by the user's verification), and `mfa` when more than one
/// factor was proven.
pub fn amr_values(methods: &[AuthMethod]) -> Vec<&'static str> {
    let mut values = Vec::new();
    let mut push = |value: &'static str| {
        if !values.contains(&value) {
            values.push(value);
        }
    };
    for method in methods {
        match method {
            AuthMethod::Password => push("pwd"),
            AuthMethod::AuthenticatorCode | AuthMethod::RecoveryCode => push("otp"),
            AuthMethod::Passkey => {
                push("hwk");
                push("user");
            }
        }
    }
    if is_multi_factor(methods) {
        values.push("mfa");
    }
    values
}

/// Every second factor of one account, replaced whole on the version read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecondFactors {
    /// 0 for an account that never had one stored; every save stores the next.
    pub version: u64,
    pub totp: Option<TotpFactor>,
    pub passkeys: Vec<PasskeyFactor>,
    /// The SHA-256 of every recovery code not used yet (`RecoveryCodes`).
    pub recovery_codes: Vec<String>,
}

/// The most passkeys an account keeps (each record holds a public key of a few hundred bytes).
pub const MAX_PASSKEYS: usize = 10;

/// The longest name its owner may give a passkey (characters, after trimming).
pub const MAX_PASSKEY_NAME_CHARS: usize = 64;

impl SecondFactors {
    /// Is a second factor enrolled (an authenticator or a passkey; recovery codes alone are not
    /// one: they stand in for one)?
    pub fn is_enrolled(&self) -> bool {
        self.totp.is_some() || !self.passkeys.is_empty()
    }

    /// The record to save after this one: the same factors, the next version.
    pub fn next(&self) -> Self {
        Self { version: self.version + 1, ..self.clone() }
    }

    /// Spends a recovery code: true (and the code is gone from `self`) when it was one of them.
    pub fn spend_recovery_code(&mut self, typed: &str) -> bool {
        let hash = RecoveryCodes::hash(typed);
        let before = self.recovery_codes.len();
        self.recovery_codes.retain(|stored| *stored != hash);
        self.recovery_codes.len() < before
    }
}

/// An authenticator app's shared secret, and the last time step a code was accepted for (a code
/// of that step or an earlier one is refused: RFC 6238 §5.2, a code works once).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotpFactor {
    /// The shared secret, base32 (RFC 4648) as authenticator apps take it.
    pub secret: String,
    pub last_step: u64,
    pub created_at: i64,
}

impl std::fmt::Debug for TotpFactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpFactor").field("last_step", &self.last_step).finish_non_exhaustive()
    }
}

/// Authenticator codes: 6 digits, 30-second steps, HMAC-SHA-1 (what every authenticator app
/// reads from a QR code), and one step of clock drift either way.
pub mod totp {
    use totp_rs::{Algorithm, Builder, Secret, Totp};

    pub const DIGITS: u8 = 6;
    pub const STEP_SECONDS: u64 = 30;
    /// 160 bits, RFC 4226's recommendation.
    pub const SECRET_BYTES: usize = 20;

    /// A new random secret, base32.
    pub fn new_secret() -> String {
        let bytes: [u8; SECRET_BYTES] = rand::random();
        Secret::from(bytes.to_vec()).to_base32()
    }

    fn totp(secret: &str, issuer: &str, account: &str) -> anyhow::Result<Totp> {
        let secret = Secret::try_from_base32(secret).map_err(|e| anyhow::anyhow!("a stored TOTP secret: {e:?}"))?;
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(DIGITS)
            .with_skew(1)
            .with_step_duration(STEP_SECONDS)
            .with_secret(secret)
            .with_issuer(Some(issuer))
            .with_account_name(account)
            .build()
            .map_err(|e| anyhow::anyhow!("TOTP parameters: {e:?}"))
    }

    /// The `otpauth://` URI an authenticator app reads from the QR code.
    pub fn provisioning_uri(secret: &str, issuer: &str, account: &str) -> anyhow::Result<String> {
        totp(secret, issuer, account)?.to_url().map_err(|e| anyhow::anyhow!("TOTP URI: {e:?}"))
    }

    /// The time step a typed code is valid for at `unix` (the current one or a neighbour), if
    /// any. Spaces in the code are ignored; anything but 6 digits matches nothing.
    pub fn matching_step(secret: &str, typed: &str, unix: i64) -> anyhow::Result<Option<u64>> {
        let code: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != usize::from(DIGITS) || !code.chars().all(|c| c.is_ascii_digit()) {
            return Ok(None);
        }
        let unix = u64::try_from(unix).unwrap_or(0);
        Ok(totp(secret, "-", "-")?.check(&code, unix))
    }

    /// The code of a secret at a time (tests, and the bench's clients).
    pub fn code_at(secret: &str, unix: i64) -> anyhow::Result<String> {
        Ok(totp(secret, "-", "-")?.generate(u64::try_from(unix).unwrap_or(0)).to_string())
    }
}

/// A registered passkey: its id, the name its owner gave it, and webauthn-rs's record of it
/// (public key, counter, flags) as JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasskeyFactor {
    /// The credential id, base64url.
    pub id: String,
    pub name: String,
    /// `webauthn_rs::prelude::Passkey`, serialised.
    pub credential: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// Ten single-use codes, shown once when made; only their SHA-256 is stored. Each has 59
/// random bits (12 characters of a 31-letter alphabet without look-alikes: no `i`, `l`, `o`,
/// `0`, `1`), so a copy of the table does not give them away.
pub struct RecoveryCodes;

impl RecoveryCodes {
    pub const COUNT: usize = 10;
    const ALPHABET: &'static [u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

    /// Ten new codes (`xxxx-xxxx-xxxx`), to show once, and their hashes, to store.
    pub fn generate() -> (Vec<String>, Vec<String>) {
        let mut rng = rand::rngs::OsRng;
        let codes: Vec<String> = (0..Self::COUNT)
            .map(|_| {
                let letters: String =
                    (0..12).map(|_| char::from(Self::ALPHABET[rng.gen_range(0..Self::ALPHABET.len())])).collect();
                format!("{}-{}-{}", &letters[..4], &letters[4..8], &letters[8..])
            })
            .collect();
        let hashes = codes.iter().map(|c| Self::hash(c)).collect();
        (codes, hashes)
    }

    /// The stored form of a code as typed: lower case, without spaces or dashes.
    pub fn hash(typed: &str) -> String {
        let canonical: String =
            typed.chars().filter(|c| !c.is_whitespace() && *c != '-').flat_map(char::to_lowercase).collect();
        Sha256::digest(canonical.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Could this be a recovery code (rather than an authenticator's 6 digits)?
    pub fn looks_like_one(typed: &str) -> bool {
        typed.chars().filter(|c| !c.is_whitespace() && *c != '-').count() == 12
    }
}

/// What a ceremony of two requests keeps between them, single-use and short-lived: a sign-in
/// waiting for its second factor, a passkey registration or authentication under way (the
/// WebAuthn challenge and its state), or an authenticator being set up (its new secret, until
/// a code confirms it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// The SHA-256 of the token the browser holds (a cookie or a form field).
    pub hash: TokenHash,
    pub purpose: ChallengePurpose,
    /// The account it is for (none: a passkey sign-in, before the passkey says whose it is).
    pub user_id: Option<UserId>,
    /// The purpose's own state, as JSON.
    pub state: String,
    pub expires_at: Timestamp,
}

impl Challenge {
    /// A new challenge for `purpose`, live for `CHALLENGE_SECONDS` from `now`, and the raw token
    /// that names it (for the browser only; the challenge keeps its hash).
    pub fn mint(purpose: ChallengePurpose, user_id: Option<&UserId>, state: String, now: Timestamp) -> (Token, Self) {
        let token = Token::generate();
        let challenge = Self {
            hash: token.hash(),
            purpose,
            user_id: user_id.cloned(),
            state,
            expires_at: now.plus_seconds(CHALLENGE_SECONDS),
        };
        (token, challenge)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChallengePurpose {
    /// A password was verified; the second factor is awaited (`PendingSignIn`).
    SignIn,
    PasskeyRegistration,
    PasskeyAuthentication,
    TotpEnrolment,
}

impl ChallengePurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignIn => "sign_in",
            Self::PasskeyRegistration => "passkey_registration",
            Self::PasskeyAuthentication => "passkey_authentication",
            Self::TotpEnrolment => "totp_enrolment",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::SignIn, Self::PasskeyRegistration, Self::PasskeyAuthentication, Self::TotpEnrolment]
            .into_iter()
            .find(|p| p.as_str() == value)
    }
}

/// How long a ceremony may take between its two requests.
pub const CHALLENGE_SECONDS: i64 = 600;

/// A sign-in whose password was verified, waiting for the second factor (the state of a
/// `ChallengePurpose::SignIn` challenge).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingSignIn {
    /// The account's `auth_epoch` when the password was verified: a reset since ends it.
    pub auth_epoch: u64,
    /// The hash of the account's known browser that signed in (its device cookie), if it was
    /// one: second-factor failures count on its counters, as password failures do.
    pub device: Option<String>,
    /// The methods proven so far (the password).
    pub methods: Vec<AuthMethod>,
}

impl PendingSignIn {
    pub fn device_hash(&self) -> Option<TokenHash> {
        self.device.clone().map(TokenHash::from_stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_ten_distinct_and_match_as_typed() {
        let (codes, hashes) = RecoveryCodes::generate();
        assert_eq!(codes.len(), 10);
        let distinct: std::collections::HashSet<_> = hashes.iter().collect();
        assert_eq!(distinct.len(), 10);
        for code in &codes {
            assert!(RecoveryCodes::looks_like_one(code), "{code}");
            assert_eq!(code.len(), 14);
        }
        let mut factors = SecondFactors { recovery_codes: hashes, ..Default::default() };
        let typed = format!(" {} ", codes[3].to_uppercase().replace('-', " "));
        assert!(factors.spend_recovery_code(&typed));
        assert!(!factors.spend_recovery_code(&codes[3]), "a code works once");
        assert_eq!(factors.recovery_codes.len(), 9);
        assert!(!factors.spend_recovery_code("abcd-efgh-jkmn"));
    }

    #[test]
    fn totp_codes_match_their_step_and_its_neighbours_only() {
        let secret = totp::new_secret();
        assert_eq!(secret.len(), 32, "160 bits in base32");
        let now = 1_800_000_015;
        let code = totp::code_at(&secret, now).unwrap();
        assert_eq!(totp::matching_step(&secret, &code, now).unwrap(), Some(60_000_000));
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert_eq!(totp::matching_step(&secret, &spaced, now).unwrap(), Some(60_000_000));
        assert_eq!(totp::matching_step(&secret, &code, now + 30).unwrap(), Some(60_000_000), "a step of drift");
        assert_eq!(totp::matching_step(&secret, &code, now + 90).unwrap(), None, "two steps late");
        assert_eq!(totp::matching_step(&secret, "12345", now).unwrap(), None);
        assert_eq!(totp::matching_step(&secret, "abcdef", now).unwrap(), None);
        let uri = totp::provisioning_uri(&secret, "Learn Example", "ada@example.org").unwrap();
        assert!(uri.starts_with("otpauth://totp/"), "{uri}");
        assert!(uri.contains(&secret), "{uri}");
    }

    #[test]
    fn amr_names_the_methods_and_multi_factor() {
        assert_eq!(amr_values(&[AuthMethod::Password]), ["pwd"]);
        assert_eq!(amr_values(&[AuthMethod::Password, AuthMethod::AuthenticatorCode]), ["pwd", "otp", "mfa"]);
        assert_eq!(amr_values(&[AuthMethod::Password, AuthMethod::RecoveryCode]), ["pwd", "otp", "mfa"]);
        assert_eq!(amr_values(&[AuthMethod::Passkey]), ["hwk", "user", "mfa"]);
        assert_eq!(amr_values(&[AuthMethod::Password, AuthMethod::Passkey]), ["pwd", "hwk", "user", "mfa"]);
        for method in
            [AuthMethod::Password, AuthMethod::AuthenticatorCode, AuthMethod::RecoveryCode, AuthMethod::Passkey]
        {
            assert_eq!(AuthMethod::parse(method.as_str()), Some(method));
        }
    }

    #[test]
    fn factors_round_trip_as_json_and_refuse_unknown_fields() {
        let factors = SecondFactors {
            version: 3,
            totp: Some(TotpFactor { secret: totp::new_secret(), last_step: 7, created_at: 1 }),
            passkeys: vec![],
            recovery_codes: vec!["ab".into()],
        };
        let json = serde_json::to_string(&factors).unwrap();
        assert_eq!(serde_json::from_str::<SecondFactors>(&json).unwrap(), factors);
        assert!(serde_json::from_str::<SecondFactors>(
            r#"{"version":1,"totp":null,"passkeys":[],"recovery_codes":[],"x":1}"#
        )
        .is_err());
        assert!(!format!("{factors:?}").contains(&factors.totp.as_ref().unwrap().secret), "Debug hides the secret");
    }
}
