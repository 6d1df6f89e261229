//! Usernames: public, 2-30 characters of `[A-Za-z0-9_-]` (Open edX's rule), unique regardless of
//! case.

use std::fmt;

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Username(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("A username has 2 to 30 characters.")]
    Length,
    #[error("A username may only use letters, digits, _ and -.")]
    Characters,
}

impl Username {
    pub const MIN_LENGTH: usize = 2;
    pub const MAX_LENGTH: usize = 30;
    /// The allowed characters as a pattern (the form's `pattern` attribute; `-` escaped, as
    /// the `v` flag browsers use for it requires).
    pub const PATTERN: &'static str = r"[A-Za-z0-9_\-]+";

    pub fn parse(input: &str) -> Result<Self, UsernameError> {
        let input = input.trim();
        if !(Self::MIN_LENGTH..=Self::MAX_LENGTH).contains(&input.chars().count()) {
            return Err(UsernameError::Length);
        }
        if !input.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(UsernameError::Characters);
        }
        Ok(Self(input.to_owned()))
    }

    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl AsRef<str> for Username {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_the_allowed_alphabet() {
        assert_eq!(Username::parse(" Ada_L-1 ").unwrap().as_ref(), "Ada_L-1");
        assert_eq!(Username::parse("Ada").unwrap().key(), "ada");
    }

    #[test]
    fn refuses_bad_usernames() {
        assert_eq!(Username::parse("a"), Err(UsernameError::Length));
        assert_eq!(Username::parse(&"a".repeat(31)), Err(UsernameError::Length));
        assert_eq!(Username::parse("ada lovelace"), Err(UsernameError::Characters));
        assert_eq!(Username::parse("adä"), Err(UsernameError::Characters));
        assert_eq!(Username::parse("a<b"), Err(UsernameError::Characters));
    }

    proptest! {
        #[test]
        fn never_panics_and_is_idempotent(input in "\\PC{0,40}") {
            if let Ok(name) = Username::parse(&input) {
                prop_assert_eq!(Username::parse(name.as_ref()).unwrap(), name);
            }
        }
    }
}
