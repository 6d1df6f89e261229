//! The learner's own account pages beyond the settings page (`pages::account_settings`):
//! "Change my name", "Change my password", "Where you're signed in". Same rules as `pages`:
//! templates escape by construction, every input has its label and its error, constraints come
//! from the domain.

use super::pages::{Input, Page};
use super::FieldErrors;
use crate::domain::{FullName, PasswordPolicy, SessionRecord, Timestamp};
use askama::Template;

#[derive(Template)]
#[template(path = "pages/account_name.html")]
struct AccountName<'a> {
    name: Input<'a>,
}

/// "Change my name", filled with `value` (the name now, or what was typed and refused).
pub fn change_name(value: &str, errors: &FieldErrors) -> Page {
    let name = Input::new("name", "Full name", "text", "name", errors).value(value).length(None, FullName::MAX_LENGTH);
    Page::new("Change my name", &AccountName { name })
}

#[derive(Template)]
#[template(path = "pages/account_password.html")]
struct AccountPassword<'a> {
    current: Input<'a>,
    new: Input<'a>,
}

/// "Change my password": the current password, and the new one under the account's policy.
pub fn change_password(policy: PasswordPolicy, errors: &FieldErrors) -> Page {
    let page = AccountPassword {
        current: Input::current_password("current_password", "Current password", errors),
        new: Input::new_password("new_password", "New password", policy, errors),
    };
    Page::new("Change my password", &page)
}

/// One line of "Where you're signed in".
pub struct SessionLine {
    pub id: String,
    pub browser: String,
    pub started: String,
    pub last_used: String,
    pub this_browser: bool,
}

impl SessionLine {
    pub fn of(session: &SessionRecord, current: &SessionRecord) -> Self {
        Self {
            id: session.public_id(),
            browser: session.browser_label().to_owned(),
            started: when(session.created_at),
            last_used: when(session.last_seen_at),
            this_browser: session.hash == current.hash,
        }
    }
}

/// A time as a person reads it: `2026-12-06 07:55 UTC`.
fn when(at: Timestamp) -> String {
    let text = at.to_rfc3339();
    match text.get(..16) {
        Some(minutes) if text.len() >= 20 => format!("{} UTC", minutes.replace('T', " ")),
        _ => text,
    }
}

#[derive(Template)]
#[template(path = "pages/account_sessions.html")]
struct AccountSessions<'a> {
    notice: Option<&'a str>,
    sessions: &'a [SessionLine],
    others: bool,
}

/// "Where you're signed in": every live session, this browser's marked, with a button to end
/// each other one and "Sign out everywhere else" while there is another.
pub fn sessions(sessions: &[SessionLine], notice: Option<&str>) -> Page {
    let others = sessions.iter().any(|s| !s.this_browser);
    Page::new("Where you're signed in", &AccountSessions { notice, sessions, others })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_to_the_minute_in_utc() {
        assert_eq!(when(Timestamp::from_unix(1_800_000_000)), "2027-01-15 08:00 UTC");
    }
}
