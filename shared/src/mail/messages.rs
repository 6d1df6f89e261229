//! The mails, one context each, rendered twice: a text part and an HTML part, from two
//! templates (`shared/templates/mail/<name>.txt` and `.html`) over that one context, so the two
//! cannot say different things. The HTML part is a whole document with the site's stylesheet
//! and name, like the pages. Durations are written as people write them.

use crate::domain::{human_duration, Email, FullName, Timestamp, User, UserStatus, NEW_ACTIVATION_LINK};
use crate::look::{Href, Html};
use crate::ports::OutgoingMail;
use crate::Config;

/// A mail's content: its subject, and the context its two templates render.
pub(crate) trait Mail {
    fn subject(&self) -> String;
    fn text(&self) -> String;
    fn html(&self) -> Html;
}

/// The text part's and the HTML part's templates over one context type. The text template
/// (`.txt`) is not HTML-escaped; the HTML one is.
macro_rules! parts {
    ($context:ident, $text:tt, $html:tt) => {
        const _: () = {
            #[derive(askama::Template)]
            #[template(path = $text)]
            struct Text<'t, 'a> {
                m: &'t $context<'a>,
            }

            #[derive(askama::Template)]
            #[template(path = $html)]
            struct HtmlPart<'t, 'a> {
                m: &'t $context<'a>,
            }

            impl Mail for $context<'_> {
                fn subject(&self) -> String {
                    self.subject_line()
                }

                fn text(&self) -> String {
                    askama::Template::render(&Text { m: self }).unwrap_or_else(|error| {
                        tracing::error!(error = %error, "a mail's text part failed to render");
                        String::new()
                    })
                }

                fn html(&self) -> Html {
                    Html::render(&HtmlPart { m: self })
                }
            }
        };
    };
}

mod email_change;
pub(crate) use email_change::*;

/// The mail to `to`: its subject, its text part, and its HTML part in the site's layout.
pub(crate) fn compose(config: &Config, to: &Email, mail: &impl Mail) -> OutgoingMail {
    let subject = mail.subject();
    let html = config.look.document(&subject, None, &config.site_url, &mail.html(), false);
    OutgoingMail { to: to.to_string(), from_name: config.mail_from_name.clone(), subject, text: mail.text(), html }
}

/// To an address not proven yet: it names nobody (the name is what the registrant typed, and the
/// registrant may not be the owner of the address).
pub(crate) struct Activation<'a> {
    pub site_name: &'a str,
    pub site_url: Href<'a>,
    pub link: Href<'a>,
    pub valid_for: String,
}
parts!(Activation, "mail/activation.txt", "mail/activation.html");

impl Activation<'_> {
    fn subject_line(&self) -> String {
        format!("Activate your {} account", self.site_name)
    }
}

pub fn activation(config: &Config, user: &User, link: &str) -> OutgoingMail {
    let mail = Activation {
        site_name: &config.site_name,
        site_url: Href::new(&config.site_url),
        link: Href::new(link),
        valid_for: human_duration(config.activation_ttl_seconds),
    };
    compose(config, &user.email, &mail)
}

/// To the owner of an address someone tried to register again. It carries no token, and
/// says what the account's state allows: a pending account is pointed at a new activation
/// link (signing in would be refused), an active one at signing in or resetting.
pub(crate) struct RegistrationAttempt<'a> {
    /// None for an account not activated yet (see `greeting`).
    pub name: Option<&'a str>,
    pub site_name: &'a str,
    pub pending: bool,
    pub resend: Href<'a>,
    pub login: Href<'a>,
    pub reset: Href<'a>,
}
parts!(RegistrationAttempt, "mail/registration_attempt.txt", "mail/registration_attempt.html");

impl RegistrationAttempt<'_> {
    fn subject_line(&self) -> String {
        format!("Someone tried to register at {} with your address", self.site_name)
    }
}

pub fn registration_attempt_notice(config: &Config, user: &User) -> OutgoingMail {
    let links = SiteLinks::new(config);
    let mail = RegistrationAttempt {
        name: greeting(user),
        site_name: &config.site_name,
        pending: user.status == UserStatus::PendingActivation,
        resend: Href::new(&links.resend),
        login: Href::new(&links.login),
        reset: Href::new(&links.reset),
    };
    compose(config, &user.email, &mail)
}

/// The name a mail to `user` greets: none while the account waits for activation, as the name
/// is then only what someone typed into the form, and the address is not proven to be theirs
/// (issue 21: "Hello {name}" made the site a carrier of anyone's text to any address).
fn greeting(user: &User) -> Option<&str> {
    (user.status != UserStatus::PendingActivation).then_some(user.name.as_ref())
}

/// The site's pages a mail points to, as absolute URLs.
struct SiteLinks {
    resend: String,
    login: String,
    reset: String,
}

impl SiteLinks {
    fn new(config: &Config) -> Self {
        let site = &config.site_url;
        Self {
            resend: format!("{site}{NEW_ACTIVATION_LINK}"),
            login: format!("{site}/login"),
            reset: format!("{site}/password-reset"),
        }
    }
}

/// To the owner of an account whose sign-in was just paused.
pub(crate) struct Lockout<'a> {
    /// None for an account not activated yet (see `greeting`).
    pub name: Option<&'a str>,
    pub site_name: &'a str,
    pub failures: u32,
    pub paused_for: String,
    pub until: String,
    pub reset: Href<'a>,
}
parts!(Lockout, "mail/lockout.txt", "mail/lockout.html");

impl Lockout<'_> {
    fn subject_line(&self) -> String {
        format!("Sign-in to your {} account is paused", self.site_name)
    }
}

pub fn lockout(config: &Config, user: &User, failures: u32, until: Timestamp) -> OutgoingMail {
    let links = SiteLinks::new(config);
    let mail = Lockout {
        name: greeting(user),
        site_name: &config.site_name,
        failures,
        paused_for: human_duration(config.lockout.lockout_seconds),
        until: until.to_rfc3339(),
        reset: Href::new(&links.reset),
    };
    compose(config, &user.email, &mail)
}

pub(crate) struct PasswordReset<'a> {
    /// None for an account not activated yet (see `greeting`).
    pub name: Option<&'a str>,
    pub site_name: &'a str,
    pub link: Href<'a>,
    pub valid_for: String,
    /// Sent by an operator's "Send a reset link" rather than asked for on the site.
    pub by_operator: bool,
}
parts!(PasswordReset, "mail/password_reset.txt", "mail/password_reset.html");

impl PasswordReset<'_> {
    fn subject_line(&self) -> String {
        format!("Reset your {} password", self.site_name)
    }
}

pub fn password_reset(config: &Config, user: &User, link: &str) -> OutgoingMail {
    reset_mail(config, user, link, false)
}

/// The reset link an operator sent ("Send a reset link"): says who sent it.
pub fn password_reset_by_operator(config: &Config, user: &User, link: &str) -> OutgoingMail {
    reset_mail(config, user, link, true)
}

fn reset_mail(config: &Config, user: &User, link: &str, by_operator: bool) -> OutgoingMail {
    let mail = PasswordReset {
        name: greeting(user),
        site_name: &config.site_name,
        link: Href::new(link),
        valid_for: human_duration(config.reset_ttl_seconds),
        by_operator,
    };
    compose(config, &user.email, &mail)
}

/// To the owner of an account an operator disabled: the one mail a disabled account gets. It
/// gives no reason (the operator's notes are not the learner's to read) and no link.
pub(crate) struct AccountDisabled<'a> {
    pub name: Option<&'a str>,
    pub site_name: &'a str,
}
parts!(AccountDisabled, "mail/account_disabled.txt", "mail/account_disabled.html");

impl AccountDisabled<'_> {
    fn subject_line(&self) -> String {
        format!("Your {} account is disabled", self.site_name)
    }
}

pub fn account_disabled(config: &Config, user: &User) -> OutgoingMail {
    compose(config, &user.email, &AccountDisabled { name: greeting(user), site_name: &config.site_name })
}

/// To a learner a bulk upload with invitations created: a link to choose their password.
pub(crate) struct Invitation<'a> {
    pub name: Option<&'a str>,
    pub site_name: &'a str,
    pub link: Href<'a>,
    pub login: Href<'a>,
    pub valid_for: String,
}
parts!(Invitation, "mail/invitation.txt", "mail/invitation.html");

impl Invitation<'_> {
    fn subject_line(&self) -> String {
        format!("Your {} account: choose your password", self.site_name)
    }
}

pub fn invitation(config: &Config, user: &User, link: &str, valid_for_seconds: i64) -> OutgoingMail {
    let links = SiteLinks::new(config);
    let mail = Invitation {
        name: greeting(user),
        site_name: &config.site_name,
        link: Href::new(link),
        login: Href::new(&links.login),
        valid_for: human_duration(valid_for_seconds),
    };
    compose(config, &user.email, &mail)
}

/// After any password change: NIST SP 800-63B-4 wants every recovery notified.
pub(crate) struct PasswordChanged<'a> {
    /// None for an account not activated yet (see `greeting`).
    pub name: Option<&'a str>,
    pub site_name: &'a str,
    pub by_operator: bool,
    pub reset: Href<'a>,
}
parts!(PasswordChanged, "mail/password_changed.txt", "mail/password_changed.html");

impl PasswordChanged<'_> {
    fn subject_line(&self) -> String {
        format!("Your {} password was changed", self.site_name)
    }

    fn who(&self) -> &'static str {
        if self.by_operator {
            "An administrator of the site has set a new password for"
        } else {
            "The password was changed for"
        }
    }
}

pub fn password_changed(config: &Config, user: &User, by_operator: bool) -> OutgoingMail {
    let links = SiteLinks::new(config);
    let mail = PasswordChanged {
        name: greeting(user),
        site_name: &config.site_name,
        by_operator,
        reset: Href::new(&links.reset),
    };
    compose(config, &user.email, &mail)
}

/// The learner's own change of password, from their account page.
pub(crate) struct PasswordChangedByYou<'a> {
    pub name: &'a str,
    pub site_name: &'a str,
    pub reset: Href<'a>,
}
parts!(PasswordChangedByYou, "mail/password_changed_by_you.txt", "mail/password_changed_by_you.html");

impl PasswordChangedByYou<'_> {
    fn subject_line(&self) -> String {
        format!("Your {} password was changed", self.site_name)
    }
}

/// The learner changed their password from their account page (signed in: the account is
/// active, so it has a name to greet).
pub fn password_changed_by_you(config: &Config, user: &User) -> OutgoingMail {
    let links = SiteLinks::new(config);
    let mail =
        PasswordChangedByYou { name: user.name.as_ref(), site_name: &config.site_name, reset: Href::new(&links.reset) };
    compose(config, &user.email, &mail)
}

/// To the owner of an account whose second factors an operator removed (a lost phone is the
/// usual case; were it not the owner who asked, this mail is how they learn of it).
pub(crate) struct SecondFactorsRemoved<'a> {
    pub name: Option<&'a str>,
    pub site_name: &'a str,
    pub settings: Href<'a>,
    pub reset: Href<'a>,
}
parts!(SecondFactorsRemoved, "mail/second_factors_removed.txt", "mail/second_factors_removed.html");

impl SecondFactorsRemoved<'_> {
    fn subject_line(&self) -> String {
        format!("The second factors of your {} account were removed", self.site_name)
    }
}

pub fn second_factors_removed(config: &Config, user: &User) -> OutgoingMail {
    let links = SiteLinks::new(config);
    let settings = format!("{}/account/settings", config.site_url);
    let mail = SecondFactorsRemoved {
        name: greeting(user),
        site_name: &config.site_name,
        settings: Href::new(&settings),
        reset: Href::new(&links.reset),
    };
    compose(config, &user.email, &mail)
}

/// To both addresses of an active account an operator moved (`flows::admin_email`): the new
/// one, and the old one, which may be the only one its owner still reads if the operator was
/// talked into the move by someone else.
pub(crate) struct EmailChangedByOperator<'a> {
    pub name: Option<&'a str>,
    pub site_name: &'a str,
    pub old_email: &'a str,
    pub new_email: &'a str,
    pub login: Href<'a>,
}
parts!(EmailChangedByOperator, "mail/email_changed_by_operator.txt", "mail/email_changed_by_operator.html");

impl EmailChangedByOperator<'_> {
    fn subject_line(&self) -> String {
        format!("The email address of your {} account was changed", self.site_name)
    }
}

/// The notice of an operator's address change from `old` to `user`'s address, to `to` (one of
/// the two).
pub fn email_changed_by_operator(config: &Config, user: &User, old: &Email, to: &Email) -> OutgoingMail {
    let links = SiteLinks::new(config);
    let mail = EmailChangedByOperator {
        name: greeting(user),
        site_name: &config.site_name,
        old_email: old.as_ref(),
        new_email: user.email.as_ref(),
        login: Href::new(&links.login),
    };
    compose(config, to, &mail)
}

/// To a learner who asked for their account to be removed, at the address the account had:
/// the worker may find the account already deleted.
pub(crate) struct RemovalRequested<'a> {
    pub name: &'a str,
    pub site_name: &'a str,
}
parts!(RemovalRequested, "mail/removal_requested.txt", "mail/removal_requested.html");

impl RemovalRequested<'_> {
    fn subject_line(&self) -> String {
        format!("Your {} account is being deleted", self.site_name)
    }
}

pub fn removal_requested(config: &Config, email: &Email, name: &FullName) -> OutgoingMail {
    compose(config, email, &RemovalRequested { name: name.as_ref(), site_name: &config.site_name })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{FullName, UserId, UserSource, Username};

    fn learner(status: UserStatus) -> User {
        User {
            id: UserId::generate(),
            email: Email::parse("ada@example.com").unwrap(),
            username: Username::parse("ada").unwrap(),
            name: FullName::parse("Win a prize at evil dot example").unwrap(),
            password_hash: None,
            status,
            created_at: Timestamp::from_unix(1_800_000_000),
            activated_at: None,
            terms_accepted_at: None,
            terms_version: None,
            source: UserSource::SelfService,
            auth_epoch: 0,
            operator: false,
            mail_refused: None,
            support: false,
            disabled_at: None,
        }
    }

    /// Issue 21: the name of a pending account is only what someone typed into the form, for an
    /// address nobody proved; mail to it must not carry it.
    #[test]
    fn mail_to_a_pending_account_carries_no_registrant_text() {
        let config = Config::from_pairs(&[("LEARNERS_SITE_URL", "https://learn.example.org")]).unwrap();
        let pending = learner(UserStatus::PendingActivation);
        let link = "https://learn.example.org/x";
        let mails = [
            activation(&config, &pending, link),
            registration_attempt_notice(&config, &pending),
            lockout(&config, &pending, 6, Timestamp::from_unix(1_800_000_000)),
            password_reset(&config, &pending, link),
            password_changed(&config, &pending, false),
            second_factors_removed(&config, &pending),
        ];
        for mail in &mails {
            for part in [&mail.subject, &mail.text, &mail.html] {
                assert!(!part.contains("prize"), "{part}");
            }
            assert!(mail.text.starts_with("Hello,\n"), "{}", mail.text);
        }
        // An activated account's name was the owner's to give: it is greeted by it.
        let active = learner(UserStatus::Active);
        let reset = password_reset(&config, &active, link);
        assert!(reset.text.starts_with("Hello Win a prize at evil dot example,\n"), "{}", reset.text);
        assert!(reset.html.contains("Hello Win a prize at evil dot example,"));
    }
}
