//! The texts of the emails, plain and HTML.

use crate::domain::{Timestamp, User};
use crate::ports::OutgoingMail;
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

pub fn activation(site_name: &str, site_url: &str, user: &User, link: &str, valid_hours: i64) -> OutgoingMail {
    let name = user.name.as_ref();
    OutgoingMail {
        to: user.email.to_string(),
        subject: format!("Activate your {site_name} account"),
        text: format!(
            "Hello {name},\n\nThank you for registering at {site_name}. Open this link to activate your account:\n\n{link}\n\nThe link works once, for {valid_hours} hours. If you did not register, ignore this email.\n\n{site_url}\n"
        ),
        html: format!(
            "<p>Hello {name},</p><p>Thank you for registering at {site}. Follow this link to activate your account:</p><p><a href=\"{href}\">Activate my account</a></p><p>The link works once, for {valid_hours} hours. If you did not register, ignore this email.</p>",
            name = text(name),
            site = text(site_name),
            href = attr(link),
        ),
    }
}

/// To the owner of an address someone tried to register again. It carries no token.
pub fn registration_attempt_notice(site_name: &str, site_url: &str, user: &User) -> OutgoingMail {
    let login = format!("{site_url}/login");
    let reset = format!("{site_url}/password-reset");
    OutgoingMail {
        to: user.email.to_string(),
        subject: format!("Someone tried to register at {site_name} with your address"),
        text: format!(
            "Hello {name},\n\nSomeone tried to create a {site_name} account with this email address, which already has an account.\n\nIf it was you, sign in at {login} or reset your password at {reset}.\nIf it was not you, you can ignore this email: nothing has changed.\n",
            name = user.name.as_ref()
        ),
        html: format!(
            "<p>Hello {name},</p><p>Someone tried to create a {site} account with this email address, which already has an account.</p><p>If it was you, <a href=\"{login}\">sign in</a> or <a href=\"{reset}\">reset your password</a>. If it was not you, you can ignore this email: nothing has changed.</p>",
            name = text(user.name.as_ref()),
            site = text(site_name),
            login = attr(&login),
            reset = attr(&reset),
        ),
    }
}

/// To the owner of an account whose sign-in was just paused.
pub fn lockout(site_name: &str, site_url: &str, user: &User, failures: u32, until: Timestamp) -> OutgoingMail {
    let reset = format!("{site_url}/password-reset");
    let until = until.to_rfc3339();
    OutgoingMail {
        to: user.email.to_string(),
        subject: format!("Sign-in to your {site_name} account is paused"),
        text: format!(
            "Hello {name},\n\nAfter {failures} failed sign-in attempts, sign-in to your {site_name} account is paused until {until} (UTC). It resumes by itself.\n\nIf these attempts were not yours, someone may be guessing your password: reset it at {reset} (this works while sign-in is paused).\n",
            name = user.name.as_ref()
        ),
        html: format!(
            "<p>Hello {name},</p><p>After {failures} failed sign-in attempts, sign-in to your {site} account is paused until {until} (UTC). It resumes by itself.</p><p>If these attempts were not yours, someone may be guessing your password: <a href=\"{reset}\">reset it</a> (this works while sign-in is paused).</p>",
            name = text(user.name.as_ref()),
            site = text(site_name),
            reset = attr(&reset),
        ),
    }
}

pub fn password_reset(site_name: &str, user: &User, link: &str, valid_minutes: i64) -> OutgoingMail {
    let name = user.name.as_ref();
    OutgoingMail {
        to: user.email.to_string(),
        subject: format!("Reset your {site_name} password"),
        text: format!(
            "Hello {name},\n\nSomeone (we hope you) asked to reset the password of your {site_name} account. Open this link to choose a new one:\n\n{link}\n\nThe link works once, for {valid_minutes} minutes. If you did not ask, ignore this email: your password stays as it is.\n"
        ),
        html: format!(
            "<p>Hello {name},</p><p>Someone (we hope you) asked to reset the password of your {site} account.</p><p><a href=\"{href}\">Choose a new password</a></p><p>The link works once, for {valid_minutes} minutes. If you did not ask, ignore this email: your password stays as it is.</p>",
            name = text(name),
            site = text(site_name),
            href = attr(link),
        ),
    }
}

/// After any password change: NIST SP 800-63B-4 wants every recovery notified.
pub fn password_changed(site_name: &str, site_url: &str, user: &User, by_operator: bool) -> OutgoingMail {
    let who = if by_operator {
        "An administrator of the site has set a new password for"
    } else {
        "The password was changed for"
    };
    let reset = format!("{site_url}/password-reset");
    OutgoingMail {
        to: user.email.to_string(),
        subject: format!("Your {site_name} password was changed"),
        text: format!(
            "Hello {name},\n\n{who} your {site_name} account. Every device signed in to it has been signed out.\n\nIf this was not expected, reset your password at {reset} and contact the site's support.\n",
            name = user.name.as_ref()
        ),
        html: format!(
            "<p>Hello {name},</p><p>{who} your {site} account. Every device signed in to it has been signed out.</p><p>If this was not expected, <a href=\"{reset}\">reset your password</a> and contact the site's support.</p>",
            name = text(user.name.as_ref()),
            site = text(site_name),
            reset = attr(&reset),
        ),
    }
}

/// To a learner who asked for their account to be removed.
pub fn removal_requested(site_name: &str, user: &User) -> OutgoingMail {
    OutgoingMail {
        to: user.email.to_string(),
        subject: format!("Your {site_name} account is being deleted"),
        text: format!(
            "Hello {name},\n\nAs you asked, your {site_name} account is being deleted, with your name, username, email address and sign-in data. Every device signed in to it has been signed out. This cannot be undone.\n\nIf you did not ask for this, contact the site's support at once.\n",
            name = user.name.as_ref()
        ),
        html: format!(
            "<p>Hello {name},</p><p>As you asked, your {site} account is being deleted, with your name, username, email address and sign-in data. Every device signed in to it has been signed out. This cannot be undone.</p><p>If you did not ask for this, contact the site's support at once.</p>",
            name = text(user.name.as_ref()),
            site = text(site_name),
        ),
    }
}
