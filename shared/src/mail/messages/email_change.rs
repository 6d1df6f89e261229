//! The mails of a learner's own change of email (`mail::dispatch::email_change`).

use super::{compose, greeting, Mail};
use crate::domain::{human_duration, Email, User};
use crate::look::{Href, Html};
use crate::ports::OutgoingMail;
use crate::Config;

/// To the new address, not proven yet: it names nobody (the account's name would be text the
/// requester chose, carried to an address of their choice).
pub(crate) struct EmailChangeLink<'a> {
    pub site_name: &'a str,
    pub link: Href<'a>,
    pub valid_for: String,
}
parts!(EmailChangeLink, "mail/email_change_link.txt", "mail/email_change_link.html");

impl EmailChangeLink<'_> {
    fn subject_line(&self) -> String {
        format!("Confirm your new email for {}", self.site_name)
    }
}

pub fn email_change_link(config: &Config, to: &Email, link: &str, valid_seconds: i64) -> OutgoingMail {
    let mail = EmailChangeLink {
        site_name: &config.site_name,
        link: Href::new(link),
        valid_for: human_duration(valid_seconds),
    };
    compose(config, to, &mail)
}

/// To the owner of an address another account asked to move to: no link, nothing changed.
pub(crate) struct EmailChangeTaken<'a> {
    pub name: Option<&'a str>,
    pub site_name: &'a str,
}
parts!(EmailChangeTaken, "mail/email_change_taken.txt", "mail/email_change_taken.html");

impl EmailChangeTaken<'_> {
    fn subject_line(&self) -> String {
        format!("Someone asked to move a {} account to your address", self.site_name)
    }
}

pub fn email_change_taken(config: &Config, owner: &User) -> OutgoingMail {
    compose(config, &owner.email, &EmailChangeTaken { name: greeting(owner), site_name: &config.site_name })
}

/// To the old address once a change is confirmed, with "This was not me".
pub(crate) struct EmailChanged<'a> {
    pub name: Option<&'a str>,
    pub site_name: &'a str,
    pub new_email: &'a str,
    pub link: Href<'a>,
    pub valid_for: String,
}
parts!(EmailChanged, "mail/email_changed.txt", "mail/email_changed.html");

impl EmailChanged<'_> {
    fn subject_line(&self) -> String {
        format!("The email of your {} account was changed", self.site_name)
    }
}

pub fn email_changed(config: &Config, user: &User, old: &Email, link: &str, valid_seconds: i64) -> OutgoingMail {
    let mail = EmailChanged {
        name: greeting(user),
        site_name: &config.site_name,
        new_email: user.email.as_ref(),
        link: Href::new(link),
        valid_for: human_duration(valid_seconds),
    };
    compose(config, old, &mail)
}
