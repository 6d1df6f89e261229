//! Full names: stored exactly as given (after trimming), but never markup or a link, which is
//! what Open edX refuses too.

use std::fmt;

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FullName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FullNameError {
    #[error("Enter your full name.")]
    Empty,
    #[error("A name has at most 255 characters.")]
    TooLong,
    #[error("A name cannot contain control characters.")]
    ControlCharacter,
    #[error("A name cannot contain <, > or a link.")]
    Markup,
}

impl FullName {
    /// In characters.
    pub const MAX_LENGTH: usize = 255;

    pub fn parse(input: &str) -> Result<Self, FullNameError> {
        let name = input.trim();
        if name.is_empty() {
            return Err(FullNameError::Empty);
        }
        if name.chars().count() > Self::MAX_LENGTH {
            return Err(FullNameError::TooLong);
        }
        if name.chars().any(char::is_control) {
            return Err(FullNameError::ControlCharacter);
        }
        if name.contains('<') || name.contains('>') || name.contains("://") {
            return Err(FullNameError::Markup);
        }
        Ok(Self(name.to_owned()))
    }
}

impl AsRef<str> for FullName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FullName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keeps_names_as_given() {
        assert_eq!(FullName::parse("  Zoë O'Brien-Núñez ").unwrap().as_ref(), "Zoë O'Brien-Núñez");
        assert_eq!(FullName::parse("=HYPERLINK(1)").unwrap().as_ref(), "=HYPERLINK(1)");
    }

    #[test]
    fn refuses_bad_names() {
        assert_eq!(FullName::parse("  "), Err(FullNameError::Empty));
        assert_eq!(FullName::parse(&"é".repeat(256)), Err(FullNameError::TooLong));
        assert_eq!(FullName::parse("a\u{0}b"), Err(FullNameError::ControlCharacter));
        assert_eq!(FullName::parse("a\nb"), Err(FullNameError::ControlCharacter));
        assert_eq!(FullName::parse("<script>"), Err(FullNameError::Markup));
        assert_eq!(FullName::parse("see https://evil.example"), Err(FullNameError::Markup));
    }

    proptest! {
        #[test]
        fn never_panics_and_is_idempotent(input in "\\PC{0,300}") {
            if let Ok(name) = FullName::parse(&input) {
                prop_assert_eq!(FullName::parse(name.as_ref()).unwrap(), name);
            }
        }
    }
}
