//! Site settings: what the support team changes at run time, without a deployment (issue 25).
//! The seed's "you can request the eduNEXT support team to configure your site with a larger
//! number of permitted failed logins" and "self-removal is disabled by default, but you can
//! request the eduNEXT support team to enable it" become values in the table, read by every
//! function through a short cache (`app::settings`). The stack's parameters are their first
//! values, until a support person saves.
//!
//! Every value is checked here, in one place, whoever sends it (the console's form, the admin
//! API's JSON, `learnerctl settings set`): a value arrives as text, by name, and comes out typed
//! or with the reason beside its name. Secrets and infrastructure (the table, queues, keys,
//! domain, sender address) are not settings: they stay stack parameters.

use super::{FieldErrors, LockoutPolicy, Timestamp, MIN_LENGTH_SINGLE_FACTOR, MIN_LENGTH_WITH_SECOND_FACTOR};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// WCAG 2.x AA: normal text needs 4.5:1 against its background (white text on the brand
/// colour).
pub const MIN_CONTRAST: f64 = 4.5;

/// Longest site name and sender's display name.
pub const MAX_NAME_CHARS: usize = 64;

/// The values, typed and checked. Field names are the API's and `learnerctl`'s.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub max_failed_logins: u32,
    pub lockout_seconds: i64,
    pub max_failed_logins_per_ip: u32,
    pub self_removal_enabled: bool,
    pub activation_ttl_seconds: i64,
    pub reset_ttl_seconds: i64,
    pub resend_interval_seconds: i64,
    pub password_min_length: usize,
    pub password_min_length_second_factor: usize,
    /// The support person confirmed that a password alone may be shorter than 15 characters
    /// (NIST SP 800-63B-4's minimum for a single factor).
    pub short_passwords_accepted: bool,
    pub session_ttl_seconds: i64,
    pub session_idle_seconds: i64,
    pub operator_session_ttl_seconds: i64,
    pub site_name: String,
    /// Empty: no logo.
    pub logo_url: String,
    pub brand_color: String,
    /// The display name mail is sent under (`"<name>" <address>`); empty: the address alone.
    pub mail_from_name: String,
}

/// What kind of value a setting takes, and its limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A whole number from `min` to `max`, in `unit` ("seconds", "characters", "").
    Number {
        min: i64,
        max: i64,
        unit: &'static str,
    },
    Flag,
    Text,
    /// An https URL, or empty.
    Url,
    /// `#rgb` or `#rrggbb`, dark enough for white text.
    Color,
}

/// One setting: its name, its label on the console, what it does in one line, and its kind.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub name: &'static str,
    pub label: &'static str,
    pub explanation: &'static str,
    pub kind: Kind,
}

const fn number(min: i64, max: i64, unit: &'static str) -> Kind {
    Kind::Number { min, max, unit }
}

const DAY: i64 = 86_400;

/// Every setting, in the order the console shows them.
pub const FIELDS: [Field; 17] = [
    Field {
        name: "max_failed_logins",
        label: "Failed sign-ins before a lock",
        explanation: "Wrong passwords in a row that lock an account's sign-in (Open edX: 6; at most 100, NIST).",
        kind: number(1, 100, ""),
    },
    Field {
        name: "lockout_seconds",
        label: "Lock duration",
        explanation: "How long a locked account waits before it may try again (Open edX: 15 to 30 minutes).",
        kind: number(60, DAY, "seconds"),
    },
    Field {
        name: "max_failed_logins_per_ip",
        label: "Failed sign-ins per network address",
        explanation: "Failures an hour from one network across accounts (password spraying); 0 switches it off.",
        kind: number(0, 100_000, ""),
    },
    Field {
        name: "self_removal_enabled",
        label: "Learners may remove their own account",
        explanation: "Shows the removal form on the account page; off, its address answers as an unknown one.",
        kind: Kind::Flag,
    },
    Field {
        name: "activation_ttl_seconds",
        label: "Activation link lifetime",
        explanation: "How long an emailed activation link works.",
        kind: number(60, 30 * DAY, "seconds"),
    },
    Field {
        name: "reset_ttl_seconds",
        label: "Password reset link lifetime",
        explanation: "How long an emailed reset link works (at most 24 hours, NIST SP 800-63B-4).",
        kind: number(60, DAY, "seconds"),
    },
    Field {
        name: "resend_interval_seconds",
        label: "Resend interval",
        explanation: "Least time between two activation mails to one account (never 0: mail bombing).",
        kind: number(60, DAY, "seconds"),
    },
    Field {
        name: "password_min_length",
        label: "Password minimum length",
        explanation: "Least characters of a password that is the account's only factor (NIST: 15; never under 8).",
        kind: number(MIN_LENGTH_WITH_SECOND_FACTOR as i64, super::password::MAX_LENGTH as i64, "characters"),
    },
    Field {
        name: "password_min_length_second_factor",
        label: "Password minimum length with a second factor",
        explanation: "Least characters where the account has a second factor (NIST: 8).",
        kind: number(MIN_LENGTH_WITH_SECOND_FACTOR as i64, super::password::MAX_LENGTH as i64, "characters"),
    },
    Field {
        name: "short_passwords_accepted",
        label: "I accept the risk of passwords under 15 characters without a second factor",
        explanation: "Needed for a minimum under 15: such a password alone is weak (NIST SP 800-63B-4).",
        kind: Kind::Flag,
    },
    Field {
        name: "session_ttl_seconds",
        label: "Session lifetime",
        explanation: "How long a learner stays signed in at most.",
        kind: number(300, 90 * DAY, "seconds"),
    },
    Field {
        name: "session_idle_seconds",
        label: "Session idle time",
        explanation: "A learner's session ends after this long without a request.",
        kind: number(120, 30 * DAY, "seconds"),
    },
    Field {
        name: "operator_session_ttl_seconds",
        label: "Operator session lifetime",
        explanation: "How long an operator stays signed in at most (sessions begun after the change).",
        kind: number(300, DAY, "seconds"),
    },
    Field {
        name: "site_name",
        label: "Site name",
        explanation: "In every page's header and title, and in every mail.",
        kind: Kind::Text,
    },
    Field {
        name: "logo_url",
        label: "Logo URL",
        explanation: "An https:// image shown in the header; empty for none.",
        kind: Kind::Url,
    },
    Field {
        name: "brand_color",
        label: "Brand colour",
        explanation: "Header, buttons and links, as #rrggbb: white text on it needs a contrast of 4.5:1.",
        kind: Kind::Color,
    },
    Field {
        name: "mail_from_name",
        label: "Mail sender's display name",
        explanation: "The name mail comes from (the address stays the stack's); empty for the address alone.",
        kind: Kind::Text,
    },
];

/// The setting called `name`.
pub fn field(name: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.name == name)
}

impl Settings {
    /// The value of `name` as text (flags as `true`/`false`), as forms and `learnerctl` show it.
    pub fn value_of(&self, name: &str) -> String {
        match name {
            "max_failed_logins" => self.max_failed_logins.to_string(),
            "lockout_seconds" => self.lockout_seconds.to_string(),
            "max_failed_logins_per_ip" => self.max_failed_logins_per_ip.to_string(),
            "self_removal_enabled" => self.self_removal_enabled.to_string(),
            "activation_ttl_seconds" => self.activation_ttl_seconds.to_string(),
            "reset_ttl_seconds" => self.reset_ttl_seconds.to_string(),
            "resend_interval_seconds" => self.resend_interval_seconds.to_string(),
            "password_min_length" => self.password_min_length.to_string(),
            "password_min_length_second_factor" => self.password_min_length_second_factor.to_string(),
            "short_passwords_accepted" => self.short_passwords_accepted.to_string(),
            "session_ttl_seconds" => self.session_ttl_seconds.to_string(),
            "session_idle_seconds" => self.session_idle_seconds.to_string(),
            "operator_session_ttl_seconds" => self.operator_session_ttl_seconds.to_string(),
            "site_name" => self.site_name.clone(),
            "logo_url" => self.logo_url.clone(),
            "brand_color" => self.brand_color.clone(),
            "mail_from_name" => self.mail_from_name.clone(),
            _ => String::new(),
        }
    }

    /// Every value as text, by name.
    pub fn values(&self) -> BTreeMap<String, String> {
        FIELDS.iter().map(|f| (f.name.to_owned(), self.value_of(f.name))).collect()
    }

    /// Settings from text values by name: every setting must be there, and no other name; each
    /// problem is told beside its name (all at once, so a form shows every one).
    pub fn parse(values: &BTreeMap<String, String>) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        for name in values.keys() {
            if field(name).is_none() {
                errors.insert(name.clone(), "Not a setting.".to_owned());
            }
        }
        let text = |name: &str, errors: &mut FieldErrors| -> String {
            match values.get(name) {
                Some(value) => value.trim().to_owned(),
                None => {
                    errors.insert(name.to_owned(), "Required: every setting is sent.".to_owned());
                    String::new()
                }
            }
        };
        let num = |name: &str, errors: &mut FieldErrors| -> i64 {
            let raw = text(name, errors);
            let Some(Field { kind: Kind::Number { min, max, unit }, .. }) = field(name) else {
                return 0;
            };
            match raw.parse::<i64>() {
                Ok(n) if (*min..=*max).contains(&n) => n,
                _ if errors.contains_key(name) => 0,
                _ => {
                    let unit = if unit.is_empty() { String::new() } else { format!(" {unit}") };
                    errors.insert(name.to_owned(), format!("A whole number from {min} to {max}{unit}."));
                    0
                }
            }
        };
        let settings_numbers = (
            num("max_failed_logins", &mut errors),
            num("lockout_seconds", &mut errors),
            num("max_failed_logins_per_ip", &mut errors),
            num("activation_ttl_seconds", &mut errors),
            num("reset_ttl_seconds", &mut errors),
            num("resend_interval_seconds", &mut errors),
            num("password_min_length", &mut errors),
            num("password_min_length_second_factor", &mut errors),
            num("session_ttl_seconds", &mut errors),
            num("session_idle_seconds", &mut errors),
            num("operator_session_ttl_seconds", &mut errors),
        );
        let flag = |name: &str, errors: &mut FieldErrors| -> bool {
            match text(name, errors).as_str() {
                "true" | "on" | "1" => true,
                "false" | "off" | "0" | "" => false,
                _ => {
                    errors.entry(name.to_owned()).or_insert_with(|| "Either true or false.".to_owned());
                    false
                }
            }
        };
        let self_removal_enabled = flag("self_removal_enabled", &mut errors);
        let short_passwords_accepted = flag("short_passwords_accepted", &mut errors);
        let site_name = text("site_name", &mut errors);
        if let Some(problem) = name_problem(&site_name, false) {
            errors.entry("site_name".to_owned()).or_insert(problem);
        }
        let mail_from_name = text("mail_from_name", &mut errors);
        if let Some(problem) = name_problem(&mail_from_name, true) {
            errors.entry("mail_from_name".to_owned()).or_insert(problem);
        }
        let logo_url = text("logo_url", &mut errors);
        if let Some(problem) = logo_url_problem(&logo_url) {
            errors.entry("logo_url".to_owned()).or_insert(problem);
        }
        let brand_color = text("brand_color", &mut errors).to_ascii_lowercase();
        if let Some(problem) = brand_color_problem(&brand_color) {
            errors.entry("brand_color".to_owned()).or_insert(problem);
        }
        let (failures, lockout, per_ip, activation, reset, resend, min, min_2fa, ttl, idle, operator_ttl) =
            settings_numbers;
        let settings = Settings {
            max_failed_logins: failures as u32,
            lockout_seconds: lockout,
            max_failed_logins_per_ip: per_ip as u32,
            self_removal_enabled,
            activation_ttl_seconds: activation,
            reset_ttl_seconds: reset,
            resend_interval_seconds: resend,
            password_min_length: min as usize,
            password_min_length_second_factor: min_2fa as usize,
            short_passwords_accepted,
            session_ttl_seconds: ttl,
            session_idle_seconds: idle,
            operator_session_ttl_seconds: operator_ttl,
            site_name,
            logo_url,
            brand_color,
            mail_from_name,
        };
        if !errors.contains_key("password_min_length")
            && settings.password_min_length < MIN_LENGTH_SINGLE_FACTOR
            && !settings.short_passwords_accepted
        {
            errors.insert(
                "password_min_length".to_owned(),
                format!(
                    "Under {MIN_LENGTH_SINGLE_FACTOR} characters, a password alone is weak (NIST SP 800-63B-4): \
                     tick \"I accept the risk\" below to allow it."
                ),
            );
        }
        if errors.is_empty() {
            Ok(settings)
        } else {
            Err(errors)
        }
    }

    /// `next` with the values `changes` names (as text) put in place of these: what
    /// `learnerctl settings set name=value` and a partial change start from.
    pub fn with_values(&self, changes: &BTreeMap<String, String>) -> Result<Self, FieldErrors> {
        let mut values = self.values();
        for (name, value) in changes {
            values.insert(name.clone(), value.clone());
        }
        Self::parse(&values)
    }

    /// The settings that differ from `next`'s: (name, this value, the next value).
    pub fn changes(&self, next: &Settings) -> Vec<(&'static str, String, String)> {
        FIELDS
            .iter()
            .map(|f| (f.name, self.value_of(f.name), next.value_of(f.name)))
            .filter(|(_, old, new)| old != new)
            .collect()
    }

    /// The brute-force lock of an account.
    pub fn lockout(&self) -> LockoutPolicy {
        LockoutPolicy { max_failures: self.max_failed_logins, lockout_seconds: self.lockout_seconds }
    }
}

/// One saved version of the settings: who saved it and when. Version 1 is the first save; the
/// stack's parameters (before any) are version 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSettings {
    pub version: u64,
    pub settings: Settings,
    /// `Actor::to_record` of who saved it.
    pub saved_by: String,
    pub saved_at: Timestamp,
}

/// One kept version, as the history shows it: what it changed against the version before.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryLine {
    pub version: u64,
    /// Who saved it, as a person reads it (`Actor::label`).
    pub saved_by: String,
    pub saved_at: Timestamp,
    /// (setting, value before, value of this version).
    pub changes: Vec<(&'static str, String, String)>,
}

/// The subject of the audit entries of settings changes (they concern no account): the nil
/// UUID, which no account has (accounts get UUIDv7s).
pub fn audit_subject() -> super::UserId {
    super::UserId::parse("00000000-0000-0000-0000-000000000000").unwrap_or_else(super::UserId::generate)
}

/// The changes as one line of the audit: `name: old → new; ...` (text values only: no setting
/// is a secret).
pub fn describe_changes(changes: &[(&'static str, String, String)]) -> String {
    let shown = |v: &str| if v.is_empty() { "(none)".to_owned() } else { v.to_owned() };
    changes
        .iter()
        .map(|(name, old, new)| format!("{name}: {} → {}", shown(old), shown(new)))
        .collect::<Vec<_>>()
        .join("; ")
}

fn name_problem(name: &str, may_be_empty: bool) -> Option<String> {
    if name.is_empty() && !may_be_empty {
        return Some("Required.".to_owned());
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Some(format!("At most {MAX_NAME_CHARS} characters."));
    }
    // A display name goes into a mail header: no line breaks, quotes or angle brackets.
    if name.chars().any(|c| c.is_control() || matches!(c, '<' | '>' | '"' | '\\')) {
        return Some("No line breaks, quotes, backslashes or angle brackets.".to_owned());
    }
    None
}

/// Why a logo URL cannot be the site's (empty is fine: no logo): https only, with a host and
/// no credentials.
pub fn logo_url_problem(raw: &str) -> Option<String> {
    if raw.is_empty() {
        return None;
    }
    let Ok(url) = url::Url::parse(raw) else {
        return Some("Not a URL: give an https:// address, or leave it empty.".to_owned());
    };
    if url.scheme() != "https" || url.host_str().is_none() {
        return Some("Must be an https:// address (a page served over https cannot show an http image).".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Some("Must not carry a user name or password.".to_owned());
    }
    None
}

/// Why a brand colour cannot be the site's: not `#rgb`/`#rrggbb`, or too light for white
/// text (WCAG AA, 4.5:1).
pub fn brand_color_problem(raw: &str) -> Option<String> {
    let Some(rgb) = parse_color(raw) else {
        return Some("A colour as #rgb or #rrggbb (for example #1d4ed8).".to_owned());
    };
    let contrast = contrast_with_white(rgb);
    (contrast < MIN_CONTRAST).then(|| {
        format!("Too light for white text on it: contrast {contrast:.1}:1, and at least 4.5:1 is needed (WCAG AA).")
    })
}

pub fn parse_color(raw: &str) -> Option<(u8, u8, u8)> {
    let hex = raw.strip_prefix('#')?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let channel = |s: &str| u8::from_str_radix(s, 16).ok();
    match hex.len() {
        3 => {
            let double = |i: usize| channel(&hex[i..i + 1].repeat(2));
            Some((double(0)?, double(1)?, double(2)?))
        }
        6 => Some((channel(&hex[0..2])?, channel(&hex[2..4])?, channel(&hex[4..6])?)),
        _ => None,
    }
}

/// WCAG 2.x contrast ratio of white against the colour.
pub fn contrast_with_white((r, g, b): (u8, u8, u8)) -> f64 {
    let linear = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let luminance = 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
    1.05 / (luminance + 0.05)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Settings {
        Settings {
            max_failed_logins: 6,
            lockout_seconds: 1800,
            max_failed_logins_per_ip: 100,
            self_removal_enabled: false,
            activation_ttl_seconds: 259_200,
            reset_ttl_seconds: 3600,
            resend_interval_seconds: 900,
            password_min_length: 15,
            password_min_length_second_factor: 8,
            short_passwords_accepted: false,
            session_ttl_seconds: 1_209_600,
            session_idle_seconds: 3600,
            operator_session_ttl_seconds: 28_800,
            site_name: "Learners".into(),
            logo_url: String::new(),
            brand_color: "#1d4ed8".into(),
            mail_from_name: "Learners".into(),
        }
    }

    fn set(name: &str, value: &str) -> Result<Settings, FieldErrors> {
        sample().with_values(&BTreeMap::from([(name.to_owned(), value.to_owned())]))
    }

    #[test]
    fn every_value_goes_round_through_text() {
        assert_eq!(Settings::parse(&sample().values()), Ok(sample()));
        assert_eq!(set("max_failed_logins", "3").unwrap().lockout().max_failures, 3);
        assert!(set("self_removal_enabled", "true").unwrap().self_removal_enabled);
    }

    #[test]
    fn bad_values_are_refused_beside_their_name() {
        for (name, value, says) in [
            ("max_failed_logins", "0", "from 1 to 100"),
            ("max_failed_logins", "101", "from 1 to 100"),
            ("max_failed_logins", "three", "whole number"),
            ("brand_color", "#ffff00", "contrast"),
            ("brand_color", "#aaaaaa", "4.5:1"),
            ("brand_color", "blue", "#rrggbb"),
            ("logo_url", "http://cdn.example.org/logo.png", "https://"),
            ("logo_url", "javascript:alert(1)", "https://"),
            ("logo_url", "https://u:p@x.org/l.png", "password"),
            ("password_min_length", "7", "from 8"),
            ("password_min_length", "12", "I accept the risk"),
            ("resend_interval_seconds", "0", "from 60"),
            ("reset_ttl_seconds", "86401", "86400"),
            ("site_name", "", "Required"),
            ("mail_from_name", "Evil\r\nBcc: x@y.z", "line breaks"),
            ("colour", "#000", "Not a setting"),
        ] {
            let errors = set(name, value).unwrap_err();
            assert!(errors.get(name).is_some_and(|e| e.contains(says)), "{name}={value}: {errors:?}");
        }
    }

    #[test]
    fn a_short_minimum_needs_the_risk_accepted_and_never_goes_under_8() {
        let changes = BTreeMap::from([
            ("password_min_length".to_owned(), "10".to_owned()),
            ("short_passwords_accepted".to_owned(), "true".to_owned()),
        ]);
        assert_eq!(sample().with_values(&changes).unwrap().password_min_length, 10);
        let changes = BTreeMap::from([
            ("password_min_length".to_owned(), "7".to_owned()),
            ("short_passwords_accepted".to_owned(), "true".to_owned()),
        ]);
        assert!(sample().with_values(&changes).is_err());
    }

    #[test]
    fn a_missing_setting_is_refused_and_changes_are_listed() {
        let mut values = sample().values();
        values.remove("site_name");
        assert!(Settings::parse(&values).unwrap_err().contains_key("site_name"));
        let next = set("max_failed_logins", "3").unwrap();
        let changes = sample().changes(&next);
        assert_eq!(changes, vec![("max_failed_logins", "6".to_owned(), "3".to_owned())]);
        assert_eq!(describe_changes(&changes), "max_failed_logins: 6 → 3");
    }

    #[test]
    fn every_field_has_a_value_and_a_label() {
        let s = sample();
        for f in FIELDS {
            assert!(!f.label.is_empty() && !f.explanation.is_empty());
            assert!(s.values().contains_key(f.name));
        }
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json.as_object().unwrap().len(), FIELDS.len(), "the JSON has every field");
    }
}
