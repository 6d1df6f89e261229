//! The local list of breached and common passwords, and the folding that makes one entry
//! stand for its trivial variants.
//!
//! An entry stands for every password with the same *skeleton*: NFKC, lower case, the common
//! look-alike substitutions undone (`@4`→a, `3`→e, `1l`→i, `0`→o, `$5`→s, `7`→t) and the runs
//! of digits and symbols at either end dropped. So `Pa$$word1234567`, `P@ssw0rd!!!!!!!!` and
//! `!!PASSWORD2024` all fold to `password`, and a 15-character minimum cannot be met by padding
//! a listed password. Two skeletons are taken of every password, one stripping the ends before
//! undoing substitutions (`Pa$$word1234567` keeps no `1`→i) and one after (`4dmin!!!` keeps its
//! `4`→a); a password is refused when either of its skeletons is one of the list's. A skeleton of
//! fewer than 4 characters says too little, and a password without letters has nothing to
//! fold: such a password (all digits, say) is listed only exactly, in lower case.
//!
//! The list is stored as the first 4 bytes of the SHA-256 of every skeleton, big-endian,
//! sorted, without repeats (`shared/data/breached-skeletons.bin`, made by
//! `cargo run -p learners --example breached_skeletons`; its sources are in
//! `shared/data/README.md`). 4 bytes an entry, no relocation and no work at start: the bytes
//! stay in the binary's read-only data and are paged in on the first search. A good password
//! is refused by chance when its fingerprint collides with an entry's: about 1 in 14,000 (the
//! list's entries over 2^32), which costs a user a second choice and nothing else.

use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;

/// The fingerprints, 4 bytes each; see the module doc.
static SKELETONS: &[u8] = include_bytes!("../../data/breached-skeletons.bin");

/// Skeletons shorter than this say too little to stand for variants.
const MIN_SKELETON: usize = 4;

/// Whether `password` or one of its trivial variants is on the list.
pub fn is_listed(password: &str) -> bool {
    skeletons(password).iter().any(|skeleton| contains(fingerprint(skeleton)))
}

/// The two skeletons of a password (equal for most); see the module doc.
pub fn skeletons(password: &str) -> [String; 2] {
    let lower: String = password.nfkc().collect::<String>().to_lowercase();
    if !lower.chars().any(char::is_alphabetic) {
        // No letter to stand for: digits and symbols are listed as they are.
        return [lower.clone(), lower];
    }
    let ends = |c: char| !c.is_alphabetic();
    let strip_then_undo: String = lower.trim_matches(ends).chars().map(undo_substitution).collect();
    let undo_then_strip = lower.chars().map(undo_substitution).collect::<String>().trim_matches(ends).to_owned();
    [strip_then_undo, undo_then_strip].map(|skeleton| {
        if skeleton.chars().count() < MIN_SKELETON {
            lower.clone()
        } else {
            skeleton
        }
    })
}

/// The look-alikes a person types for a letter, and the letters that look alike (`l`, `1`, `i`).
fn undo_substitution(c: char) -> char {
    match c {
        '@' | '4' => 'a',
        '3' => 'e',
        '1' | 'l' | '|' => 'i',
        '0' => 'o',
        '$' | '5' => 's',
        '7' | '+' => 't',
        other => other,
    }
}

/// The stored form of a skeleton: the first 4 bytes of its SHA-256.
pub fn fingerprint(skeleton: &str) -> u32 {
    let digest = Sha256::digest(skeleton.as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Binary search of the sorted fingerprints.
fn contains(wanted: u32) -> bool {
    let entry = |i: usize| {
        u32::from_be_bytes([SKELETONS[4 * i], SKELETONS[4 * i + 1], SKELETONS[4 * i + 2], SKELETONS[4 * i + 3]])
    };
    let (mut low, mut high) = (0, SKELETONS.len() / 4);
    while low < high {
        let mid = low + (high - low) / 2;
        match entry(mid).cmp(&wanted) {
            std::cmp::Ordering::Equal => return true,
            std::cmp::Ordering::Less => low = mid + 1,
            std::cmp::Ordering::Greater => high = mid,
        }
    }
    false
}

/// How many fingerprints the list holds.
pub fn len() -> usize {
    SKELETONS.len() / 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_whole_sorted_fingerprints_without_repeats() {
        assert_eq!(SKELETONS.len() % 4, 0);
        assert_eq!(len(), 206_683, "224,188 passwords, larger than the old list of 99,838");
        let entries: Vec<u32> =
            SKELETONS.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect();
        assert!(entries.windows(2).all(|pair| pair[0] < pair[1]), "strictly increasing: the search depends on it");
        // The first and the last entries are found.
        assert!(contains(entries[0]) && contains(entries[entries.len() - 1]));
        assert!(!contains(entries[0].wrapping_sub(1)) || entries[0] == 0);
    }

    #[test]
    fn trivial_variants_share_a_skeleton() {
        for variant in ["Pa$$word1234567", "P@ssw0rd!!!!!!!!", "!!PASSWORD2024", "password", "pa55w0rd", "PASSWORD."] {
            assert!(skeletons(variant).contains(&"password".to_owned()), "{variant}: {:?}", skeletons(variant));
        }
        assert!(skeletons("4dmin!!!").contains(&"admin".to_owned()));
        // Letters inside are kept, and a short skeleton stands only for the exact password.
        assert_eq!(skeletons("correct horse battery staple")[0], "correct horse battery stapie");
        assert_eq!(skeletons("123456789012345"), ["123456789012345".to_owned(), "123456789012345".to_owned()]);
        assert_eq!(skeletons("ab1234567890123")[0], "ab1234567890123");
    }

    #[test]
    fn listed_passwords_and_their_variants_are_found_and_passphrases_are_not() {
        for listed in ["password", "iloveyou", "sunshine", "P@ssw0rd", "1qaz2wsx", "123456", "qwertyuiop", "trustno1"] {
            assert!(is_listed(listed), "{listed} is listed");
        }
        for variant in
            ["Pa$$word1234567", "P@ssw0rd!!!!!!!!", "Sunshine2024!!!!", "iloveyou12345678", "!!Trustno1!!!!!!"]
        {
            assert!(is_listed(variant), "{variant} is a variant of a listed password");
        }
        for good in [
            "correct horse battery staple",
            "violet kettle drums 42",
            "sunshine-on-a-tuesday",
            "Tr0ub4dor&3-staple",
            "7 quiet lanterns under snow",
            "123456789012345x7q",
        ] {
            assert!(!is_listed(good), "{good} is not listed");
        }
    }
}
