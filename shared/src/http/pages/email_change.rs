//! The pages of "Change my email" (`handlers::account_email`).

use super::{message, urlencode, FieldErrors, Input, Page};
use askama::Template;

/// What the "Change my email" page says above its form.
pub enum EmailChangeNotice<'a> {
    None,
    /// A request was taken: a link went to `new` (if it is free: the page never says).
    Sent {
        new: &'a str,
        old: &'a str,
    },
    /// Why the request was refused as a whole (the daily limit).
    Problem(&'a str),
}

#[derive(Template)]
#[template(path = "pages/email_change.html")]
struct EmailChangeForm<'a> {
    current: &'a str,
    sent: Option<(&'a str, &'a str)>,
    problem: Option<&'a str>,
    new_email: Input<'a>,
    password: Input<'a>,
    code: Option<Input<'a>>,
}

/// "Change my email": the new address, the current password and, for an account with an
/// authenticator or recovery codes, a code (either proves it is the learner; the password is
/// then optional). `new_email`: what was typed, to fill in again.
pub fn email_change_form(
    current: &str,
    new_email: &str,
    takes_code: bool,
    errors: &FieldErrors,
    notice: EmailChangeNotice<'_>,
) -> Page {
    let password = Input::current_password("password", "Current password", errors);
    let page = EmailChangeForm {
        current,
        sent: match notice {
            EmailChangeNotice::Sent { new, old } => Some((new, old)),
            _ => None,
        },
        problem: match notice {
            EmailChangeNotice::Problem(problem) => Some(problem),
            _ => None,
        },
        new_email: Input::email("new_email", "New email", "email", new_email, errors),
        password: if takes_code { password.optional() } else { password },
        code: takes_code.then(|| {
            Input::new("code", "Or a code from your app (or a recovery code)", "text", "one-time-code", errors)
                .optional()
                .length(None, 40)
        }),
    };
    Page::new("Change my email", &page)
}

#[derive(Template)]
#[template(path = "pages/email_link.html")]
struct EmailLink<'a> {
    paragraph: &'a str,
    action: String,
    button: &'a str,
    danger: bool,
}

/// The page a confirmation link opens (opening spends nothing): the new address and the
/// button "Confirm my new email".
pub fn email_change_confirm(token: &str, new_email: &str) -> Page {
    let paragraph = format!(
        "Press the button to make {new_email} the email of your account. You will sign in with it from then on."
    );
    let page = EmailLink {
        paragraph: &paragraph,
        action: format!("/account/email/confirm/{}", urlencode(token)),
        button: "Confirm my new email",
        danger: false,
    };
    Page { private_url: true, ..Page::new("Confirm your new email", &page) }
}

/// The page "This was not me" opens in the old address's mail (opening spends nothing).
pub fn email_change_revert(token: &str, old_email: &str) -> Page {
    let paragraph = format!(
        "If you did not change the email of your account, press the button: your account's email becomes {old_email} again, your account is signed out everywhere, and we send a link to {old_email} to choose a new password."
    );
    let page = EmailLink {
        paragraph: &paragraph,
        action: format!("/account/email/not-me/{}", urlencode(token)),
        button: "This was not me",
        danger: true,
    };
    Page { private_url: true, ..Page::new("This was not me", &page) }
}

pub fn email_changed(new_email: &str) -> Page {
    Page {
        private_url: true,
        ..message(
            "Your email is changed",
            &format!("The email of your account is now {new_email}. Sign in with it from now on."),
            Some(("/account/settings", "Account settings")),
        )
    }
}

pub fn email_change_taken(new_email: &str) -> Page {
    Page {
        private_url: true,
        ..message(
            "This address is taken",
            &format!("Another account now uses {new_email}, so your account cannot move to it. Nothing has changed: your email stays as it was."),
            Some(("/account/email", "Change my email")),
        )
    }
}

pub fn email_reverted(old_email: &str) -> Page {
    Page {
        private_url: true,
        ..message(
            "Your email is back",
            &format!("The email of your account is {old_email} again, and your account is signed out everywhere. We have sent a link to {old_email} to choose a new password."),
            Some(("/login", "Sign in")),
        )
    }
}

pub fn email_revert_taken(old_email: &str) -> Page {
    Page {
        private_url: true,
        ..message(
            "Your email could not be brought back",
            &format!("Another account now uses {old_email}, so your account cannot move back to it. Nothing has changed. Please contact the site's support."),
            None,
        )
    }
}

pub fn email_link_invalid() -> Page {
    Page {
        private_url: true,
        ..message(
            "This link cannot be used",
            "This link was used or has expired.",
            Some(("/account/settings", "Account settings")),
        )
    }
}
