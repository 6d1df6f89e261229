//! Passwords: the policy a new password must meet (OWASP ASVS 5.0 / NIST SP 800-63B-4: length,
//! not common or breached, not the user's own data; no composition rules) and argon2id hashing.
//!
//! Every password is taken in Unicode NFKC before it is checked, hashed or verified: the same
//! typed password arrives composed or decomposed depending on the browser, keyboard and
//! operating system (`é` as one code point or two; a full-width `Ａ` from an East Asian input
//! method), and NIST SP 800-63B-4 asks for normalisation so that it matches however it came.

use anyhow::Context;
use argon2::password_hash::{rand_core::OsRng, Output, ParamsString, Salt, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::fmt;
use unicode_normalization::UnicodeNormalization;

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
    #[error("This password, or one too like it, is among the most common or breached ones; choose another.")]
    TooCommon,
    #[error("This password has appeared in a data breach, so attackers try it first; choose another.")]
    Breached,
    #[error("A password cannot contain your username, your email address or your name.")]
    ContainsPersonalData,
}

/// NIST SP 800-63B-4: a password that is the only factor has at least 15 characters...
pub const MIN_LENGTH_SINGLE_FACTOR: usize = 15;
/// ... and one with a second factor beside it at least 8, the floor of either setting.
pub const MIN_LENGTH_WITH_SECOND_FACTOR: usize = 8;

/// What protects the account besides its password: the minimum length depends on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Factors {
    /// The password is the only factor (every account, until second factors exist).
    PasswordOnly,
    /// A second factor is enrolled.
    WithSecondFactor,
}

#[derive(Clone, Copy, Debug)]
pub struct PasswordPolicy {
    pub min_length: usize,
}

impl Default for PasswordPolicy {
    /// The policy for a password that is the only factor, at the default length.
    fn default() -> Self {
        Self { min_length: MIN_LENGTH_SINGLE_FACTOR }
    }
}

/// `candidate` in Unicode NFKC (see the module doc).
pub fn normalise(candidate: &str) -> String {
    candidate.nfkc().collect()
}

impl PasswordPolicy {
    /// The policy for an account with these `factors`, from the configured minimums.
    pub fn for_factors(factors: Factors, single_factor_min: usize, second_factor_min: usize) -> Self {
        let min_length = match factors {
            Factors::PasswordOnly => single_factor_min,
            Factors::WithSecondFactor => second_factor_min,
        };
        Self { min_length }
    }

    /// Checks a new password as typed, after NFKC (no trimming, no case change), and returns it
    /// in that form. `personal` holds the account's username, email local part and name, which
    /// the password may not contain. The breach corpus (an I/O call) is asked apart, by
    /// `App::refuse_breached`; the local list is asked here.
    pub fn check(&self, candidate: &str, personal: &[&str]) -> Result<Password, PasswordError> {
        let candidate = normalise(candidate);
        let length = candidate.chars().count();
        if length < self.min_length {
            return Err(PasswordError::TooShort(self.min_length));
        }
        if length > MAX_LENGTH {
            return Err(PasswordError::TooLong);
        }
        let lower = candidate.to_lowercase();
        if super::password_list::is_listed(&candidate) {
            return Err(PasswordError::TooCommon);
        }
        if contains_personal_data(&lower, personal) {
            return Err(PasswordError::ContainsPersonalData);
        }
        Ok(Password(candidate))
    }
}

/// How long a part of the personal data (a word of the name; the username and the email's local
/// part are one word each) must be to count wherever it appears in a password: 4 characters. A part of 3
/// counts only as a whole word of the password; shorter ones not at all.
///
/// Why: a short part turns up inside ordinary words by chance ("ann" in "planning", "lee" in
/// "sleep", "tom" in "tomorrow"), and refusing those refused good passphrases for no gain. The
/// systems this is measured against compare whole parts too: Django's
/// `UserAttributeSimilarityValidator` splits each attribute on non-word characters and refuses
/// a password *similar* to a whole part (a short part inside a long password never is);
/// zxcvbn puts the user's inputs in its dictionary as whole words. NIST SP 800-63B-4 asks to
/// refuse context-specific words (the username and its derivatives): the name, its long parts
/// and the parts run together are such words; a 3-letter fragment of one is not.
pub const NAME_PART_MIN_LENGTH: usize = 4;

/// Does `lower` (the password, lower-cased) contain any of `personal`: a value whole or its
/// parts run together (from 4 characters), a part of at least `NAME_PART_MIN_LENGTH`
/// characters anywhere, or a part of 3 as a whole word?
fn contains_personal_data(lower: &str, personal: &[&str]) -> bool {
    let is_separator = |c: char| !c.is_alphanumeric();
    let words: Vec<&str> = lower.split(is_separator).filter(|word| !word.is_empty()).collect();
    personal.iter().any(|value| {
        let value = normalise(value).to_lowercase();
        // The words of a value (a name's given and family names); a username or an address is
        // one word, whole, as before.
        let parts: Vec<&str> = value
            .split_whitespace()
            .map(|part| part.trim_matches(is_separator))
            .filter(|part| !part.is_empty())
            .collect();
        let joined = parts.concat();
        let whole = [value.trim(), joined.as_str()];
        whole.iter().any(|whole| whole.chars().count() >= NAME_PART_MIN_LENGTH && lower.contains(whole))
            || parts.iter().any(|part| match part.chars().count() {
                n if n >= NAME_PART_MIN_LENGTH => lower.contains(part),
                3 => words.contains(part),
                _ => false,
            })
    })
}

impl Password {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A password that skipped the policy (in NFKC all the same): for adapters and their tests.
    pub(crate) fn unchecked(candidate: &str) -> Self {
        Self(normalise(candidate))
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
    /// it runs on tokio's blocking pool and never stalls the request loop. Its 19 MiB of working
    /// memory is kept for the next hash (`memory`).
    pub async fn of(password: &Password) -> anyhow::Result<Self> {
        let secret = password.0.clone();
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            let hasher = hasher();
            let output = output(&hasher, secret.as_bytes(), salt.as_salt(), Params::DEFAULT_OUTPUT_LEN)
                .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))?;
            let params =
                ParamsString::try_from(hasher.params()).map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
            let hash = argon2::PasswordHash {
                algorithm: Algorithm::Argon2id.ident(),
                version: Some(Version::V0x13.into()),
                params,
                salt: Some(salt.as_salt()),
                hash: Some(output),
            };
            Ok(Self(hash.to_string()))
        })
        .await
        .context("password hashing task")?
    }

    /// Verifies a candidate as typed, after NFKC. A hash made before passwords were
    /// normalised holds the password as it was typed then: when the normalised candidate fails
    /// and typing it changed under NFKC (never for ASCII), the candidate as typed is tried too.
    /// A malformed stored hash verifies nothing.
    pub async fn verify(&self, candidate: &str) -> anyhow::Result<bool> {
        let phc = self.0.clone();
        let normalised = normalise(candidate);
        let as_typed = (normalised != candidate).then(|| candidate.to_owned());
        tokio::task::spawn_blocking(move || {
            let Ok(parsed) = argon2::PasswordHash::new(&phc) else {
                return false;
            };
            std::iter::once(normalised).chain(as_typed).any(|candidate| matches(&parsed, candidate.as_bytes()))
        })
        .await
        .context("password verification task")
    }
}

/// Whether `candidate` hashes to `stored` under the stored hash's own algorithm, version,
/// parameters and salt, on kept working memory; the two outputs are compared in constant time
/// (`Output`'s equality). What `argon2`'s `verify_password` does, but for the memory.
fn matches(stored: &argon2::PasswordHash, candidate: &[u8]) -> bool {
    let (Some(expected), Some(salt)) = (stored.hash, stored.salt) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (Algorithm::try_from(stored.algorithm), Params::try_from(stored)) else {
        return false;
    };
    let Ok(version) = stored.version.map_or(Ok(Version::default()), Version::try_from) else {
        return false;
    };
    let hasher = Argon2::new(algorithm, version, params);
    output(&hasher, candidate, salt, expected.len()).is_ok_and(|computed| computed == expected)
}

/// `hasher`'s output of `length` bytes for `password` and `salt`, computed on kept working
/// memory (`memory`).
fn output(
    hasher: &Argon2<'_>,
    password: &[u8],
    salt: Salt<'_>,
    length: usize,
) -> argon2::password_hash::Result<Output> {
    let mut salt_bytes = [0u8; Salt::MAX_LENGTH];
    let salt = salt.decode_b64(&mut salt_bytes)?;
    memory::with(hasher.params().block_count(), |blocks| {
        Output::init_with(length, |out| {
            hasher.hash_password_into_with_memory(password, salt, out, blocks).map_err(Into::into)
        })
    })
}

/// argon2's working memory (19 MiB at our parameters), kept between hashes instead of handed
/// back to the allocator and asked for again: each hash or verification takes a kept block list
/// if there is one, and gives it back after. At most one list per core is kept (the adapter runs
/// at most one hash per core at a time), so the process holds what its busiest moment needed
/// and no more; nothing is faulted in again. This lets the functions run on the system
/// allocator: glibc's, asked for 19 MiB and given it back over and over, grew tenfold or (tuned
/// back) faulted the memory in at every hash (`docs/benchmarks.md`, "The allocator").
mod memory {
    use argon2::Block;
    use std::sync::{Mutex, OnceLock, PoisonError};

    static KEPT: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());

    /// Runs `work` on `blocks` blocks of memory (their content is whatever the last hash left:
    /// argon2 writes every block before it reads one). Only lists of our own parameters' size
    /// are kept; a stored hash with other parameters gets memory of its own, as in `argon2`.
    pub fn with<T>(blocks: usize, work: impl FnOnce(&mut [Block]) -> T) -> T {
        if blocks != super::hasher().params().block_count() {
            return work(&mut vec![Block::default(); blocks]);
        }
        let kept = KEPT.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let mut memory = kept.unwrap_or_else(|| vec![Block::default(); blocks]);
        let done = work(&mut memory);
        let mut kept = KEPT.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() < most_kept() {
            kept.push(memory);
        }
        done
    }

    /// One list per core.
    fn most_kept() -> usize {
        static MOST: OnceLock<usize> = OnceLock::new();
        *MOST.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// How many lists are kept now (tests).
    #[cfg(test)]
    pub fn kept() -> usize {
        KEPT.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

fn hasher() -> Argon2<'static> {
    let params = Params::new(19_456, 2, 1, None).expect("constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
    fn a_single_factor_password_needs_15_characters_and_one_with_a_second_factor_8() {
        assert_eq!(MIN_LENGTH_SINGLE_FACTOR, 15);
        // 14 characters, nothing else wrong with it: refused for a password-only account.
        let fourteen = "violet kettle!";
        assert_eq!(fourteen.chars().count(), 14);
        assert_eq!(policy().check(fourteen, &[]).unwrap_err(), PasswordError::TooShort(15));
        assert!(policy().check("violet kettles!", &[]).is_ok(), "15 characters are enough");
        let single = PasswordPolicy::for_factors(Factors::PasswordOnly, 15, 8);
        let second = PasswordPolicy::for_factors(Factors::WithSecondFactor, 15, 8);
        assert_eq!(single.check(fourteen, &[]).unwrap_err(), PasswordError::TooShort(15));
        assert!(second.check(fourteen, &[]).is_ok(), "8 are enough beside a second factor");
        assert_eq!(second.check("vk!42dr", &[]).unwrap_err(), PasswordError::TooShort(8));
        assert_eq!(PasswordPolicy::for_factors(Factors::PasswordOnly, 20, 8).min_length, 20);
    }

    #[test]
    fn refuses_with_a_reason() {
        assert_eq!(policy().check("short", &[]).unwrap_err(), PasswordError::TooShort(15));
        assert_eq!(
            PasswordPolicy { min_length: 12 }.check("elevenchars", &[]).unwrap_err(),
            PasswordError::TooShort(12)
        );
        assert_eq!(policy().check(&"a".repeat(129), &[]).unwrap_err(), PasswordError::TooLong);
        assert_eq!(policy().check("password1234567", &[]).unwrap_err(), PasswordError::TooCommon);
        assert_eq!(policy().check("PASSWORD1234567", &[]).unwrap_err(), PasswordError::TooCommon);
        assert_eq!(
            policy().check("xx-adalove-xx-violet", &["AdaLove", "ada", "Ada Lovelace"]).unwrap_err(),
            PasswordError::ContainsPersonalData
        );
        assert_eq!(
            policy().check("lovelace-rules-9-kettle", &["ada_l", "ada", "Ada Lovelace"]).unwrap_err(),
            PasswordError::ContainsPersonalData
        );
    }

    #[test]
    fn short_name_parts_inside_words_do_not_count_but_the_name_and_long_parts_do() {
        let ann = ["annlee-42", "ann.lee", "Ann Lee"];
        // "ann" in "planning", "lee" in "sleep": fragments, not the name (issue 23).
        assert!(policy().check("planning to go sleep early", &ann).is_ok());
        assert!(policy().check("Tomorrow we fly to Piano Bay", &["tom_ian", "tom", "Tom Ian"]).is_ok());
        // The name itself, run together or as it is written, is refused...
        for password in ["ann lee forever and ever", "xx-annlee-xx-violet-kettle", "i am Ann Lee, hello there"] {
            assert_eq!(policy().check(password, &ann).unwrap_err(), PasswordError::ContainsPersonalData, "{password}");
        }
        // ... and so is a short part standing as a word of its own.
        assert_eq!(
            policy().check("ann walks to the violet kettle", &ann).unwrap_err(),
            PasswordError::ContainsPersonalData
        );
        // A part of 4 or more counts anywhere, also inside a word.
        let ada = ["ada_l", "ada.lovelace", "Ada Lovelace"];
        assert_eq!(policy().check("mylovelaces-are-violet-42", &ada).unwrap_err(), PasswordError::ContainsPersonalData);
        assert_eq!(NAME_PART_MIN_LENGTH, 4);
        // Parts of one or two characters never count (initials, "Jo").
        assert!(policy().check("j r and jo go to the violet sea", &["jrr", "j.r", "J. R. Jo"]).is_ok());
        // A password that is the name is refused (given a policy short enough to allow it).
        let short = PasswordPolicy { min_length: 8 };
        assert_eq!(
            short.check("Maximilian Ferdinand", &["mf", "mf", "Maximilian Ferdinand"]).unwrap_err(),
            PasswordError::ContainsPersonalData
        );
    }

    #[test]
    fn refuses_pa55word_variants_of_listed_passwords_at_any_length() {
        for variant in [
            "Pa$$word1234567",
            "P@ssw0rd!!!!!!!!",
            "P@$$W0RD2024!!!!",
            "iloveyou!!!!!!!!",
            "Sunshine12345678",
            "!!!Qwertyuiop!!!",
            "monkey1234567890",
        ] {
            assert_eq!(policy().check(variant, &[]).unwrap_err(), PasswordError::TooCommon, "{variant}");
        }
        for good in
            ["sunshine-on-a-tuesday", "iloveyou but not you", "Tr0ub4dor&3-staple", "correct horse battery staple"]
        {
            assert!(policy().check(good, &[]).is_ok(), "{good}");
        }
    }

    #[test]
    fn checks_and_keeps_the_nfkc_form() {
        // A full-width password from an East Asian input method is the ASCII one.
        let wide = "ｖｉｏｌｅｔ ｋｅｔｔｌｅ ｄｒｕｍｓ ４２";
        assert_eq!(policy().check(wide, &[]).unwrap().as_str(), "violet kettle drums 42");
        // A decomposed é (e + combining acute) counts, and is kept, as the one code point.
        let decomposed = "cre\u{301}me bru\u{302}le\u{301}e au four";
        assert_eq!(policy().check(decomposed, &[]).unwrap().as_str(), "créme brûlée au four");
        // Listed passwords are found however they were composed.
        assert_eq!(policy().check("Ｐａ＄＄ｗｏｒｄ１２３４５６７", &[]).unwrap_err(), PasswordError::TooCommon);
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

    #[tokio::test]
    async fn a_hash_made_before_normalisation_still_verifies_the_password_as_typed_then() {
        // Hashed as typed, decomposed, before passwords were normalised.
        let typed = "cre\u{301}me bru\u{302}le\u{301}e au four";
        let legacy = PasswordHash::of(&Password(typed.to_owned())).await.unwrap();
        assert!(legacy.verify(typed).await.unwrap());
        assert!(!legacy.verify("creme brulee au four").await.unwrap());
    }

    /// Strings built of pieces that NFKC composes or folds, so the property meets them often.
    fn composable() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("e\u{301}".to_owned()),
            Just("é".to_owned()),
            Just("ﬁ".to_owned()),
            Just("Ａ".to_owned()),
            Just("①".to_owned()),
            Just("\u{212B}".to_owned()),
            "[a-z0-9 ]{1,3}",
        ];
        proptest::collection::vec(piece, 1..6).prop_map(|pieces| pieces.concat())
    }

    /// Hashes made on kept memory are `argon2`'s own: the crate verifies ours and we verify
    /// the crate's, on memory a hash of another password has just used; a wrong password, a
    /// changed hash and a malformed one verify nothing.
    #[tokio::test]
    async fn hashes_on_kept_memory_are_argon2s_own() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let password = Password("violet kettle on the moor".into());
        let ours = PasswordHash::of(&password).await.unwrap();
        // The crate's verification of ours.
        let parsed = argon2::PasswordHash::new(ours.as_str()).unwrap();
        assert!(hasher().verify_password(password.as_str().as_bytes(), &parsed).is_ok());
        assert!(hasher().verify_password(b"violet kettle on the mood", &parsed).is_err());
        // Ours of the crate's (made with the same parameters), after the memory held another.
        let salt = SaltString::generate(&mut OsRng);
        let theirs = hasher().hash_password(b"a different passphrase", &salt).unwrap().to_string();
        let theirs = PasswordHash::from_phc(theirs);
        assert!(theirs.verify("a different passphrase").await.unwrap());
        assert!(!theirs.verify("a different passphrase!").await.unwrap());
        assert!(ours.verify("violet kettle on the moor").await.unwrap());
        assert!(!ours.verify("violet kettle on the mood").await.unwrap());
        // One character of the stored output changed; a hash that does not parse.
        let mut changed = ours.as_str().to_owned();
        let last = changed.pop().unwrap();
        changed.push(if last == 'A' { 'B' } else { 'A' });
        assert!(!PasswordHash::from_phc(changed).verify("violet kettle on the moor").await.unwrap());
        assert!(!PasswordHash::from_phc("$argon2id$v=19$m=19456".into()).verify("x").await.unwrap());
        // Other parameters (a stored hash from elsewhere) verify on memory of their own.
        let small = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(64, 1, 1, None).unwrap());
        let small = small.hash_password(b"small memory", &salt).unwrap().to_string();
        assert!(PasswordHash::from_phc(small).verify("small memory").await.unwrap());
    }

    /// However many hashes run at once, at most one memory list per core is kept afterwards.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_most_one_memory_list_per_core_is_kept() {
        let password = Password("violet kettle on the moor".into());
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let hashes = (0..cores + 3).map(|_| PasswordHash::of(&password));
        for hash in futures::future::join_all(hashes).await {
            hash.unwrap();
        }
        let kept = memory::kept();
        assert!(kept <= cores, "{kept} lists kept on {cores} cores");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

        /// NFKC-equivalent inputs hash and verify alike: a hash of one form verifies the other.
        #[test]
        fn nfkc_equivalent_passwords_verify_alike(input in composable()) {
            let other: String = input.nfd().collect();
            prop_assert_eq!(normalise(&input), normalise(&other));
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let hash = runtime.block_on(PasswordHash::of(&Password(normalise(&input)))).unwrap();
            prop_assert!(runtime.block_on(hash.verify(&other)).unwrap());
            prop_assert!(runtime.block_on(hash.verify(&input)).unwrap());
        }

        /// ASCII is unchanged by normalisation, so every hash made before it still verifies.
        #[test]
        fn ascii_is_unchanged(input in "[ -~]{0,64}") {
            prop_assert_eq!(normalise(&input), input);
        }

        /// Any input gets an answer, never a panic; what passes is in NFKC.
        #[test]
        fn any_input_gets_an_answer(input in "\\PC{0,40}") {
            if let Ok(password) = policy().check(&input, &["ada"]) {
                prop_assert_eq!(normalise(password.as_str()), password.as_str());
            }
        }
    }
}
