//! The texts of the emails, plain and HTML. The HTML part is a whole document with the site's
//! stylesheet and name, like the pages. Durations are written as people write them.

use crate::domain::{human_duration, Email, FullName, User, UserStatus, NEW_ACTIVATION_LINK};
use crate::ports::OutgoingMail;
use crate::Config;
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

/// The HTML part: the site's header and stylesheet around `body`.
fn document(config: &Config, title: &str, body: &str) -> String {
    config.look.document(title, &config.site_url, body, false)
}

fn mail(config: &Config, user: &User, subject: String, text_body: String, html_body: String) -> OutgoingMail {
    mail_to(config, &user.email, subject, text_body, html_body)
}

fn mail_to(config: &Config, to: &Email, subject: String, text_body: String, html_body: String) -> OutgoingMail {
    OutgoingMail { to: to.to_string(), html: document(config, &subject, &html_body), subject, text: text_body }
}

pub fn activation(config: &Config, user: &User, link: &str) -> OutgoingMail {
    let site_name = &config.site_name;
    let site_url = &config.site_url;
    let name = user.name.as_ref();
    let valid_for = human_duration(config.activation_ttl_seconds);
    mail(
        config,
        user,
        format!("Activate your {site_name} account"),
        format!(
            "Hello {name},\n\nThank you for registering at {site_name}. Open this link to activate your account:\n\n{link}\n\nThe link works once, for {valid_for}. If you did not register, ignore this email.\n\n{site_url}\n"
        ),
        format!(
            "<p>Hello {name},</p><p>Thank you for registering at {site}. Follow this link to activate your account:</p><p><a href=\"{href}\">Activate my account</a></p><p>The link works once, for {valid_for}. If you did not register, ignore this email.</p>",
            name = text(name),
            site = text(site_name),
            href = attr(link),
        ),
    )
}

/// To the owner of an address someone tried to register again. It carries no token, and
/// says what the account's state allows: a pending account is pointed at a new activation
/// link (signing in would be refused), an active one at signing in or resetting.
pub fn registration_attempt_notice(config: &Config, user: &User) -> OutgoingMail {
    let site_name = &config.site_name;
    let site_url = &config.site_url;
    let name = user.name.as_ref();
    let (next_text, next_html) = if user.status == UserStatus::PendingActivation {
        let resend = format!("{site_url}{NEW_ACTIVATION_LINK}");
        (
            format!("If it was you: your account is waiting for activation. Follow the link in the activation email we sent you, or ask for a new one at {resend}."),
            format!(
                "If it was you: your account is waiting for activation. Follow the link in the activation email we sent you, or <a href=\"{}\">ask for a new activation link</a>.",
                attr(&resend)
            ),
        )
    } else {
        let login = format!("{site_url}/login");
        let reset = format!("{site_url}/password-reset");
        (
            format!("If it was you, sign in at {login} or reset your password at {reset}."),
            format!(
                "If it was you, <a href=\"{}\">sign in</a> or <a href=\"{}\">reset your password</a>.",
                attr(&login),
                attr(&reset)
            ),
        )
    };
    mail(
        config,
        user,
        format!("Someone tried to register at {site_name} with your address"),
        format!(
            "Hello {name},\n\nSomeone tried to create a {site_name} account with this email address, which already has an account.\n\n{next_text}\nIf it was not you, you can ignore this email: nothing has changed.\n"
        ),
        format!(
            "<p>Hello {name},</p><p>Someone tried to create a {site} account with this email address, which already has an account.</p><p>{next_html}</p><p>If it was not you, you can ignore this email: nothing has changed.</p>",
            name = text(name),
            site = text(site_name),
        ),
    )
}

/// To the owner of an account whose sign-in was just paused.
pub fn lockout(config: &Config, user: &User, failures: u32, until: crate::domain::Timestamp) -> OutgoingMail {
    let site_name = &config.site_name;
    let reset = format!("{}/password-reset", config.site_url);
    let paused_for = human_duration(config.lockout.lockout_seconds);
    let until = until.to_rfc3339();
    mail(
        config,
        user,
        format!("Sign-in to your {site_name} account is paused"),
        format!(
            "Hello {name},\n\nAfter {failures} failed sign-in attempts, sign-in to your {site_name} account is paused for {paused_for}, until {until} (UTC). It resumes by itself.\n\nIf these attempts were not yours, someone may be guessing your password: reset it at {reset} (this works while sign-in is paused).\n",
            name = user.name.as_ref()
        ),
        format!(
            "<p>Hello {name},</p><p>After {failures} failed sign-in attempts, sign-in to your {site} account is paused for {paused_for}, until {until} (UTC). It resumes by itself.</p><p>If these attempts were not yours, someone may be guessing your password: <a href=\"{reset}\">reset it</a> (this works while sign-in is paused).</p>",
            name = text(user.name.as_ref()),
            site = text(site_name),
            reset = attr(&reset),
        ),
    )
}

pub fn password_reset(config: &Config, user: &User, link: &str) -> OutgoingMail {
    let site_name = &config.site_name;
    let name = user.name.as_ref();
    let valid_for = human_duration(config.reset_ttl_seconds);
    mail(
        config,
        user,
        format!("Reset your {site_name} password"),
        format!(
            "Hello {name},\n\nSomeone (we hope you) asked to reset the password of your {site_name} account. Open this link to choose a new one:\n\n{link}\n\nThe link works once, for {valid_for}. If you did not ask, ignore this email: your password stays as it is.\n"
        ),
        format!(
            "<p>Hello {name},</p><p>Someone (we hope you) asked to reset the password of your {site} account.</p><p><a href=\"{href}\">Choose a new password</a></p><p>The link works once, for {valid_for}. If you did not ask, ignore this email: your password stays as it is.</p>",
            name = text(name),
            site = text(site_name),
            href = attr(link),
        ),
    )
}

/// After any password change: NIST SP 800-63B-4 wants every recovery notified.
pub fn password_changed(config: &Config, user: &User, by_operator: bool) -> OutgoingMail {
    let site_name = &config.site_name;
    let who = if by_operator {
        "An administrator of the site has set a new password for"
    } else {
        "The password was changed for"
    };
    let reset = format!("{}/password-reset", config.site_url);
    mail(
        config,
        user,
        format!("Your {site_name} password was changed"),
        format!(
            "Hello {name},\n\n{who} your {site_name} account. Every device signed in to it has been signed out.\n\nIf this was not expected, reset your password at {reset} and contact the site's support.\n",
            name = user.name.as_ref()
        ),
        format!(
            "<p>Hello {name},</p><p>{who} your {site} account. Every device signed in to it has been signed out.</p><p>If this was not expected, <a href=\"{reset}\">reset your password</a> and contact the site's support.</p>",
            name = text(user.name.as_ref()),
            site = text(site_name),
            reset = attr(&reset),
        ),
    )
}

/// To a learner who asked for their account to be removed.
/// To the address the account had: the worker may find the account already deleted.
pub fn removal_requested(config: &Config, email: &Email, name: &FullName) -> OutgoingMail {
    let site_name = &config.site_name;
    mail_to(
        config,
        email,
        format!("Your {site_name} account is being deleted"),
        format!(
            "Hello {name},\n\nAs you asked, your {site_name} account is being deleted, with your name, username, email address and sign-in data. Every device signed in to it has been signed out. This cannot be undone.\n\nIf you did not ask for this, contact the site's support at once.\n",
            name = name.as_ref()
        ),
        format!(
            "<p>Hello {name},</p><p>As you asked, your {site} account is being deleted, with your name, username, email address and sign-in data. Every device signed in to it has been signed out. This cannot be undone.</p><p>If you did not ask for this, contact the site's support at once.</p>",
            name = text(name.as_ref()),
            site = text(site_name),
        ),
    )
}
