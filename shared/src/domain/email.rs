//! Email addresses as this service accepts them.
//!
//! The local part must be an ASCII dot-atom: an address whose local part only *looks* like
//! another one (dotless i, fullwidth letters) is refused outright rather than folded onto it,
//! which is how Django (CVE-2019-19844) and GitHub sent reset mail to the wrong mailbox.
//! Internationalised domains are accepted and kept as punycode.

use std::fmt;

const MAX_LEN: usize = 254;
const MAX_LOCAL_LEN: usize = 64;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("Enter an email address.")]
    Empty,
    #[error("An email address has at most 254 characters.")]
    TooLong,
    #[error("The part before the @ has at most 64 characters.")]
    LocalPartTooLong,
    #[error("Email addresses cannot contain spaces, commas or line breaks.")]
    ForbiddenCharacter,
    #[error("An email address has exactly one @.")]
    NotOneAt,
    #[error("The part before the @ may only use letters a-z, digits and !#$%&'*+/=?^_`{{|}}~.-")]
    InvalidLocalPart,
    #[error("The part after the @ is not a valid domain name.")]
    InvalidDomain,
}

impl Email {
    /// The longest address accepted, in bytes.
    pub const MAX_LENGTH: usize = MAX_LEN;
}

impl Email {
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.chars().any(|c| c.is_whitespace() || c.is_control() || c == ',') {
            return Err(EmailError::ForbiddenCharacter);
        }
        let mut parts = trimmed.split('@');
        let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(EmailError::NotOneAt);
        };
        if local.len() > MAX_LOCAL_LEN {
            return Err(EmailError::LocalPartTooLong);
        }
        if !is_dot_atom(local) {
            return Err(EmailError::InvalidLocalPart);
        }
        let domain = ascii_domain(domain)?;
        let email = format!("{local}@{domain}");
        if email.len() > MAX_LEN {
            return Err(EmailError::TooLong);
        }
        Ok(Self(email))
    }

    /// The key that makes addresses unique: ASCII-lowercase of the whole address. `+tags` are
    /// kept: they are the learner's own way of telling addresses apart.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }

    pub fn local_part(&self) -> &str {
        self.0.split('@').next().unwrap_or_default()
    }
}

fn is_dot_atom(local: &str) -> bool {
    const SPECIALS: &str = "!#$%&'*+/=?^_`{|}~-";
    !local.is_empty()
        && local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(|c| c.is_ascii_alphanumeric() || SPECIALS.contains(c)))
}

fn ascii_domain(domain: &str) -> Result<String, EmailError> {
    if domain.is_empty() || domain.len() > MAX_LEN {
        return Err(EmailError::InvalidDomain);
    }
    let ascii = idna::domain_to_ascii_strict(domain).map_err(|_| EmailError::InvalidDomain)?;
    let labels: Vec<&str> = ascii.split('.').collect();
    // A mail domain needs at least two labels and a top-level label that is not all digits.
    let valid = labels.len() >= 2
        && labels.iter().all(|l| !l.is_empty() && l.len() <= 63)
        && labels.last().is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()));
    if valid {
        Ok(ascii)
    } else {
        Err(EmailError::InvalidDomain)
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Addresses are personal data: debug output (and so logs) shows only the domain.
        let domain = self.0.split('@').nth(1).unwrap_or_default();
        write!(f, "Email(…@{domain})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_and_keeps_plain_addresses() {
        let email = Email::parse("  Mike+lms@Example.com ").unwrap();
        assert_eq!(email.as_ref(), "Mike+lms@example.com");
        assert_eq!(email.key(), "mike+lms@example.com");
        assert_eq!(email.local_part(), "Mike+lms");
    }

    #[test]
    fn stores_international_domains_as_punycode() {
        let email = Email::parse("anna@bücher.example").unwrap();
        assert_eq!(email.as_ref(), "anna@xn--bcher-kva.example");
    }

    #[test]
    fn refuses_lookalike_local_parts() {
        assert_eq!(Email::parse("mıke@example.com"), Err(EmailError::InvalidLocalPart));
        assert_eq!(Email::parse("ｍｉｋｅ@example.com"), Err(EmailError::InvalidLocalPart));
    }

    #[test]
    fn refuses_malformed_addresses() {
        for (input, error) in [
            ("", EmailError::Empty),
            ("a b@example.com", EmailError::ForbiddenCharacter),
            ("a@example.com\r\nBcc: x@evil.example", EmailError::ForbiddenCharacter),
            ("a\0@example.com", EmailError::ForbiddenCharacter),
            ("a,b@example.com", EmailError::ForbiddenCharacter),
            ("a@b@example.com", EmailError::NotOneAt),
            ("example.com", EmailError::NotOneAt),
            ("@example.com", EmailError::InvalidLocalPart),
            ("a..b@example.com", EmailError::InvalidLocalPart),
            (".a@example.com", EmailError::InvalidLocalPart),
            ("a@localhost", EmailError::InvalidDomain),
            ("a@", EmailError::InvalidDomain),
            ("a@exa_mple.com", EmailError::InvalidDomain),
            ("a@1.2.3.4", EmailError::InvalidDomain),
        ] {
            assert_eq!(Email::parse(input), Err(error), "{input:?}");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert_eq!(Email::parse(&long_local), Err(EmailError::LocalPartTooLong));
        let long = format!("{}@{}.com", "a".repeat(64), vec!["b".repeat(60); 4].join("."));
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
    }

    #[test]
    fn debug_output_hides_the_local_part() {
        let email = Email::parse("secret.person@example.com").unwrap();
        assert_eq!(format!("{email:?}"), "Email(…@example.com)");
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_is_idempotent(input in "\\PC{0,80}") {
            if let Ok(email) = Email::parse(&input) {
                let again = Email::parse(email.as_ref()).unwrap();
                prop_assert_eq!(&again, &email);
                prop_assert_eq!(again.key(), email.key());
                prop_assert!(email.as_ref().len() <= MAX_LEN);
            }
        }

        #[test]
        fn key_is_case_insensitive(local in "[a-zA-Z0-9]{1,20}", domain in "[a-zA-Z]{1,10}\\.(com|org)") {
            let lower = Email::parse(&format!("{}@{}", local.to_lowercase(), domain)).unwrap();
            let upper = Email::parse(&format!("{}@{}", local.to_uppercase(), domain.to_uppercase())).unwrap();
            prop_assert_eq!(lower.key(), upper.key());
        }
    }
}
