//! Server-rendered pages: plain HTML forms that work without JavaScript. A page is a title and
//! a body rendered from its template (`shared/templates/pages/`, one per page); `render` puts it
//! in the one layout (site header, stylesheet). Askama escapes every interpolated value, and a
//! body can only come from a template (`Html`). Every input has a label; an error sits under its
//! field and is tied to it (`aria-describedby`, `aria-invalid`). Input constraints come from the
//! domain's constants and the password policy in force, never from literals in the templates.

use super::FieldErrors;
use crate::domain::{password, Email, FullName, PasswordPolicy, SecondFactors, User, Username};
use crate::look::{Href, Html, Look};
use askama::Template;

pub struct Page {
    pub title: String,
    /// Rendered from the page's template.
    pub body: Html,
    /// The page's URL carries a secret (a token): it must not reach anyone as a `Referer`.
    pub private_url: bool,
    /// Room for tables (the operator console).
    pub wide: bool,
}

impl Page {
    pub(crate) fn new(title: &str, body: &impl Template) -> Self {
        Self { title: title.to_owned(), body: Html::render(body), private_url: false, wide: false }
    }
}

/// The whole document.
pub fn render(look: &Look, page: &Page) -> String {
    let title = format!("{} · {}", page.title, look.site_name);
    look.page_document(&title, Some(&page.title), "/account/settings", &page.body, page.wide)
}

/// One labelled input with its error, if any.
#[derive(Template)]
#[template(path = "input.html")]
pub(crate) struct Input<'a> {
    name: &'a str,
    label: &'a str,
    kind: &'a str,
    autocomplete: &'a str,
    value: &'a str,
    required: bool,
    minlength: Option<usize>,
    maxlength: Option<usize>,
    pattern: Option<&'a str>,
    error: Option<&'a str>,
}

/// Rendered by its own template, which escapes what it shows.
impl askama::filters::HtmlSafe for Input<'_> {}

impl<'a> Input<'a> {
    /// A required input, empty, with the error `errors` holds for `name`.
    pub(crate) fn new(
        name: &'a str,
        label: &'a str,
        kind: &'a str,
        autocomplete: &'a str,
        errors: &'a FieldErrors,
    ) -> Self {
        Self {
            name,
            label,
            kind,
            autocomplete,
            value: "",
            required: true,
            minlength: None,
            maxlength: None,
            pattern: None,
            error: errors.get(name).map(String::as_str),
        }
    }

    pub(crate) fn value(self, value: &'a str) -> Self {
        Self { value, ..self }
    }

    pub(crate) fn optional(self) -> Self {
        Self { required: false, ..self }
    }

    pub(crate) fn length(self, min: Option<usize>, max: usize) -> Self {
        Self { minlength: min, maxlength: Some(max), ..self }
    }

    /// An email address, as long as the domain allows.
    pub(crate) fn email(
        name: &'a str,
        label: &'a str,
        autocomplete: &'a str,
        value: &'a str,
        errors: &'a FieldErrors,
    ) -> Self {
        Self::new(name, label, "email", autocomplete, errors).value(value).length(None, Email::MAX_LENGTH)
    }

    /// A new password: the policy's minimum length and the domain's maximum.
    pub(crate) fn new_password(name: &'a str, label: &'a str, policy: PasswordPolicy, errors: &'a FieldErrors) -> Self {
        Self::new(name, label, "password", "new-password", errors).length(Some(policy.min_length), password::MAX_LENGTH)
    }

    /// A password the user already has, asked again.
    pub(crate) fn current_password(name: &'a str, label: &'a str, errors: &'a FieldErrors) -> Self {
        Self::new(name, label, "password", "current-password", errors)
    }
}

fn email_input<'a>(value: &'a str, errors: &'a FieldErrors) -> Input<'a> {
    Input::email("email", "Email", "email", value, errors)
}

pub use crate::domain::NEW_ACTIVATION_LINK;

mod email_change;
pub use email_change::*;

/// What the learner typed, to fill the form in again after an error (never the password).
#[derive(Default)]
pub struct RegistrationValues {
    pub email: String,
    pub username: String,
    pub name: String,
    pub terms_accepted: bool,
}

#[derive(Template)]
#[template(path = "pages/register.html")]
struct Register<'a> {
    notice: Option<&'a str>,
    email: Input<'a>,
    username: Input<'a>,
    name: Input<'a>,
    password: Input<'a>,
    terms_accepted: bool,
    terms_error: Option<&'a str>,
    terms_url: Option<Href<'a>>,
    privacy_url: Option<Href<'a>>,
}

/// Where the registration form's checkbox links: the terms of service and the privacy policy
/// (`LEARNERS_TERMS_URL`, `LEARNERS_PRIVACY_URL`); none, the form names the terms unlinked.
#[derive(Clone, Copy, Default)]
pub struct TermsLinks<'a> {
    pub terms: Option<&'a str>,
    pub privacy: Option<&'a str>,
}

pub fn register_form(
    values: &RegistrationValues,
    errors: &FieldErrors,
    notice: Option<&str>,
    policy: PasswordPolicy,
) -> Page {
    register_page(values, errors, notice, policy, TermsLinks::default())
}

/// `register_form`, with the terms' and the privacy policy's links beside the checkbox.
pub fn register_page(
    values: &RegistrationValues,
    errors: &FieldErrors,
    notice: Option<&str>,
    policy: PasswordPolicy,
    links: TermsLinks<'_>,
) -> Page {
    let username = Input::new("username", "Username", "text", "username", errors)
        .value(&values.username)
        .length(Some(Username::MIN_LENGTH), Username::MAX_LENGTH);
    let page = Register {
        notice,
        email: email_input(&values.email, errors),
        username: Input { pattern: Some(Username::PATTERN), ..username },
        name: Input::new("name", "Full name", "text", "name", errors)
            .value(&values.name)
            .length(None, FullName::MAX_LENGTH),
        password: Input::new_password("password", "Password", policy, errors),
        terms_accepted: values.terms_accepted,
        terms_error: errors.get("terms_accepted").map(String::as_str),
        terms_url: links.terms.map(Href::new),
        privacy_url: links.privacy.map(Href::new),
    };
    Page::new("Create your account", &page)
}

#[derive(Template)]
#[template(path = "pages/home.html")]
struct Home<'a> {
    site: &'a str,
    signed_in_as: Option<&'a str>,
    lms: Option<Href<'a>>,
    lms_text: &'a str,
}

/// The site's front (`/`, where every mail's header links): signed out, "Sign in" and "Create an
/// account"; signed in (`signed_in_as`, the address), "Your account"; and the LMS's address
/// when one is configured.
pub fn home(site: &str, signed_in_as: Option<&str>, lms: Option<&str>) -> Page {
    let page = Home { site, signed_in_as, lms: lms.map(Href::new), lms_text: lms.unwrap_or_default() };
    Page::new("Welcome", &page)
}

#[derive(Template)]
#[template(path = "pages/message.html")]
struct Message<'a> {
    paragraph: &'a str,
    next: Option<(Href<'a>, &'a str)>,
}

/// A title and one paragraph, with an optional link under it.
pub fn message(title: &str, paragraph: &str, next: Option<(&str, &str)>) -> Page {
    Page::new(title, &Message { paragraph, next: next.map(|(href, label)| (Href::new(href), label)) })
}

#[derive(Template)]
#[template(path = "pages/check_your_inbox.html")]
struct CheckYourInbox<'a> {
    valid_for: &'a str,
    new_link: &'a str,
}

pub fn check_your_inbox(activation_valid_for: &str) -> Page {
    Page::new("Check your inbox", &CheckYourInbox { valid_for: activation_valid_for, new_link: NEW_ACTIVATION_LINK })
}

#[derive(Template)]
#[template(path = "pages/activation_confirm.html")]
struct ActivationConfirm<'a> {
    /// Percent-encoded: a path segment.
    token: String,
    /// The password of the registration the link was sent for.
    password: Input<'a>,
}

/// The page an activation link opens: the registration's password, and one button. Opening a
/// link (as mail scanners do) must not activate: an attacker who registered someone else's
/// address would otherwise hold a verified account for it once the victim's scanner opens the
/// mail. And the password binds the activation to the registration that sent the link (see
/// `flows::registration`): `error` says the one typed was not it.
pub fn activation_confirm(token: &str, error: Option<&str>) -> Page {
    let errors: FieldErrors =
        error.map(|e| FieldErrors::from([("password".to_owned(), e.to_owned())])).unwrap_or_default();
    let page = ActivationConfirm {
        token: urlencode(token),
        password: Input::current_password("password", "Password", &errors),
    };
    Page { private_url: true, ..Page::new("Activate your account", &page) }
}

pub fn activated() -> Page {
    message(
        "Your account is active",
        "Thank you: your email address is confirmed and your account is active.",
        Some(("/login", "Sign in")),
    )
}

pub fn already_active() -> Page {
    message(
        "Your account is already active",
        "This link has been used already and your account is active.",
        Some(("/login", "Sign in")),
    )
}

/// The form that asks for a new activation link, with an optional reason above it.
#[derive(Template)]
#[template(path = "pages/activation_email.html")]
struct ActivationEmail<'a> {
    reason: Option<&'a str>,
    email: Input<'a>,
}

/// An expired or unknown activation link, with the form that asks for a new one.
pub fn activation_link_invalid(expired: bool) -> Page {
    let why = if expired {
        "This activation link has expired."
    } else {
        "This activation link is not valid: it may have been used already, or mistyped."
    };
    let no_errors = FieldErrors::new();
    let page = ActivationEmail { reason: Some(why), email: email_input("", &no_errors) };
    Page { private_url: true, ..Page::new("Activate your account", &page) }
}

/// "Send me a new activation link", at its own address.
pub fn activation_email_form(email: &str, errors: &FieldErrors) -> Page {
    Page::new("Send me a new activation link", &ActivationEmail { reason: None, email: email_input(email, errors) })
}

pub fn activation_email_requested() -> Page {
    message(
        "Check your inbox",
        "If an account with this address is waiting for activation, we have sent it a new activation link. Links sent before it no longer work.",
        Some(("/login", "Back to sign in")),
    )
}

/// Why a sign-in was refused, and where to go from there.
pub struct LoginProblem<'a> {
    pub message: &'a str,
    pub next: Option<(&'a str, &'a str)>,
}

#[derive(Template)]
#[template(path = "pages/login.html")]
struct Login<'a> {
    problem: Option<LoginProblem<'a>>,
    next: Option<&'a str>,
    email: Input<'a>,
    password: Input<'a>,
}

/// The sign-in form; `next` (a local path, checked by the caller) is where a success goes.
pub fn login(email: &str, problem: Option<LoginProblem<'_>>, next: Option<&str>) -> Page {
    let no_errors = FieldErrors::new();
    let page = Login {
        problem,
        next,
        email: email_input(email, &no_errors),
        password: Input::current_password("password", "Password", &no_errors),
    };
    Page::new("Sign in", &page)
}

/// One passkey as the passkeys page lists it.
pub struct PasskeyRow<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub added: String,
    pub last_used: String,
    /// Why its removal was refused (under its password field).
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "pages/passkeys.html")]
struct Passkeys<'a> {
    passkeys: Vec<PasskeyRow<'a>>,
    problem: Option<&'a str>,
    can_add: bool,
    max: usize,
    name: Input<'a>,
}

/// When a passkey was added or used, for people (UTC, to the minute).
fn passkey_time(unix: i64) -> String {
    let at = crate::domain::Timestamp::from_unix(unix).to_rfc3339();
    format!("{} UTC", at.get(..16).unwrap_or(&at).replace('T', " "))
}

/// The passkeys page: the account's passkeys, each with a "Remove" form that asks the password
/// (`removal`: the passkey whose removal was refused, and why), and the "Add a passkey" form
/// (`add_errors`: the name's problem; `problem`: what went wrong with the last passkey).
pub fn passkeys(
    factors: &[crate::domain::PasskeyFactor],
    add_errors: &FieldErrors,
    problem: Option<&str>,
    removal: Option<(&str, &str)>,
) -> Page {
    let rows = factors
        .iter()
        .map(|factor| PasskeyRow {
            id: &factor.id,
            name: &factor.name,
            added: passkey_time(factor.created_at),
            last_used: factor.last_used_at.map_or_else(|| "Never".to_owned(), passkey_time),
            error: removal.filter(|(id, _)| *id == factor.id).map(|(_, message)| message),
        })
        .collect();
    let max = crate::domain::MAX_PASSKEYS;
    let page = Passkeys {
        passkeys: rows,
        problem,
        can_add: factors.len() < max,
        max,
        name: Input::new("name", "Passkey name", "text", "off", add_errors)
            .length(Some(1), crate::domain::MAX_PASSKEY_NAME_CHARS),
    };
    Page::new("Passkeys", &page)
}

/// What the second step of a sign-in can ask for, and what it shows.
pub struct SecondFactorChoice<'a> {
    pub totp: bool,
    pub passkeys: bool,
    pub recovery_codes: bool,
    /// The recovery code's field rather than the app's (`?recovery=1`).
    pub recovery: bool,
    /// Where a success goes (a local path, checked by the caller).
    pub next: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "pages/second_factor.html")]
struct SecondFactorStep<'a> {
    intro: &'a str,
    error: Option<&'a str>,
    next: Option<&'a str>,
    code: Option<Input<'a>>,
    recovery_link: Option<String>,
    app_link: Option<String>,
    passkeys: bool,
    passkey_next: &'a str,
}

/// The second step of a sign-in: a code from the authenticator app (or, behind "Use a recovery
/// code", a recovery code: the same field takes either), and the passkey button when the
/// account has passkeys.
pub fn second_factor(choice: SecondFactorChoice<'_>, error: Option<&str>) -> Page {
    let SecondFactorChoice { totp, passkeys, recovery_codes, next, .. } = choice;
    let recovery = choice.recovery && recovery_codes || !totp && recovery_codes && !passkeys;
    let link = |recovery: bool| {
        let mut query = Vec::new();
        if recovery {
            query.push("recovery=1".to_owned());
        }
        if let Some(next) = next {
            query.push(format!("next={}", urlencode(next)));
        }
        match query.is_empty() {
            true => "/login/second-factor".to_owned(),
            false => format!("/login/second-factor?{}", query.join("&")),
        }
    };
    let no_errors = FieldErrors::new();
    let code = if recovery {
        Some(Input::new("code", "Recovery code", "text", "one-time-code", &no_errors).length(None, 40))
    } else if totp {
        Some(Input::new("code", "Code from your app", "text", "one-time-code", &no_errors).length(None, 40))
    } else {
        None
    };
    let code = code.map(|input| Input { error, ..input });
    let intro = if recovery {
        "Your password is right. Now type one of the recovery codes you kept when you set up your app: each works once."
    } else if totp {
        "Your password is right. Now type the code your authenticator app shows for this site."
    } else {
        "Your password is right. Now use your passkey to finish signing in."
    };
    let page = SecondFactorStep {
        intro,
        error: if code.is_some() { None } else { error },
        next,
        code,
        recovery_link: (recovery_codes && !recovery).then(|| link(true)),
        app_link: (totp && recovery).then(|| link(false)),
        passkeys,
        passkey_next: next.unwrap_or("/account/settings"),
    };
    Page::new("Confirm it is you", &page)
}

#[derive(Template)]
#[template(path = "pages/account_settings.html")]
struct AccountSettings<'a> {
    email: &'a str,
    username: &'a str,
    name: &'a str,
    factors: FactorsSummary,
    /// The removal form's password input, when the site allows removal.
    removal: Option<Input<'a>>,
}

/// What the settings page says of the account's second factors.
#[derive(Clone, Copy, Debug, Default)]
pub struct FactorsSummary {
    pub totp: bool,
    /// How many recovery codes are left, when a second factor is set up.
    pub recovery_codes_left: Option<usize>,
}

impl FactorsSummary {
    pub fn of(factors: &SecondFactors) -> Self {
        Self {
            totp: factors.totp.is_some(),
            recovery_codes_left: factors.is_enrolled().then_some(factors.recovery_codes.len()),
        }
    }
}

/// The account settings page: the account, sign out, its second factors, and (when the site
/// allows it) the learner's own account removal, with the reason a removal was refused under
/// its field.
pub fn account_settings(user: &User, factors: FactorsSummary, removal: Option<&FieldErrors>) -> Page {
    account_settings_of(user.email.as_ref(), user.username.as_ref(), user.name.as_ref(), factors, removal)
}

/// `account_settings` from the account's values as text (what the escaping test fills with
/// values no account can hold).
pub(crate) fn account_settings_of(
    email: &str,
    username: &str,
    name: &str,
    factors: FactorsSummary,
    removal: Option<&FieldErrors>,
) -> Page {
    let page = AccountSettings {
        email,
        username,
        name,
        factors,
        removal: removal.map(|errors| Input::current_password("password", "Your password", errors)),
    };
    Page::new("Account settings", &page)
}

#[derive(Template)]
#[template(path = "pages/authenticator_setup.html")]
struct AuthenticatorSetup<'a> {
    valid_for: &'a str,
    qr_size: usize,
    qr_path: String,
    grouped_secret: String,
    setup: &'a str,
    code: Input<'a>,
}

/// The QR code of `data` as SVG path data (one unit square per dark module, a quiet zone of
/// four), and the size of the whole square; `None` when it does not fit in a QR code.
fn qr_path(data: &str) -> Option<(usize, String)> {
    const QUIET: usize = 4;
    let code = qrcode::QrCode::new(data.as_bytes()).ok()?;
    let width = code.width();
    let squares: Vec<String> = code
        .to_colors()
        .iter()
        .enumerate()
        .filter(|(_, color)| **color == qrcode::Color::Dark)
        .map(|(at, _)| format!("M{} {}h1v1h-1z", at % width + QUIET, at / width + QUIET))
        .collect();
    Some((width + 2 * QUIET, squares.concat()))
}

/// "Set up an authenticator app": the QR code of `uri` (drawn here: no outside service sees
/// the secret), the secret as text in groups of four, and the code that confirms it.
pub fn authenticator_setup(setup_token: &str, secret: &str, uri: &str, valid_for: &str, error: Option<&str>) -> Page {
    let (qr_size, qr_path) = qr_path(uri).unwrap_or_default();
    let grouped_secret =
        secret.as_bytes().chunks(4).filter_map(|c| std::str::from_utf8(c).ok()).collect::<Vec<_>>().join(" ");
    let no_errors = FieldErrors::new();
    let code = Input::new("code", "Code from your app", "text", "one-time-code", &no_errors).length(None, 12);
    let page = AuthenticatorSetup {
        valid_for,
        qr_size,
        qr_path,
        grouped_secret,
        setup: setup_token,
        code: Input { error, ..code },
    };
    Page { private_url: true, ..Page::new("Set up an authenticator app", &page) }
}

#[derive(Template)]
#[template(path = "pages/recovery_codes.html")]
struct RecoveryCodesPage<'a> {
    paragraph: &'a str,
    codes: &'a [String],
}

/// A page after a setup or a renewal, with the new recovery codes (shown this once), if any.
pub fn recovery_codes(title: &str, paragraph: &str, codes: &[String]) -> Page {
    Page::new(title, &RecoveryCodesPage { paragraph, codes })
}

#[derive(Template)]
#[template(path = "pages/confirm_with_password.html")]
struct ConfirmWithPassword<'a> {
    paragraph: &'a str,
    action: &'a str,
    password: Input<'a>,
    button: &'a str,
    danger: bool,
}

/// What a change asked again for the password says, where it posts and its button.
pub struct PasswordConfirmation<'a> {
    pub title: &'a str,
    pub paragraph: &'a str,
    pub action: &'a str,
    pub button: &'a str,
    pub danger: bool,
}

/// A change of the account's second factors, confirmed with the password (its error under it).
pub fn confirm_with_password(what: PasswordConfirmation<'_>, errors: &FieldErrors) -> Page {
    let page = ConfirmWithPassword {
        paragraph: what.paragraph,
        action: what.action,
        password: Input::current_password("password", "Your password", errors),
        button: what.button,
        danger: what.danger,
    };
    Page::new(what.title, &page)
}

pub fn removal_requested() -> Page {
    message(
        "Your account is being deleted",
        "You have been signed out everywhere, and your account will be gone in a few moments. We have sent you a confirmation.",
        None,
    )
}

#[derive(Template)]
#[template(path = "pages/reset_request_form.html")]
struct ResetRequestForm<'a> {
    email: Input<'a>,
}

pub fn reset_request_form(email: &str, errors: &FieldErrors) -> Page {
    Page::new("Forgot my password", &ResetRequestForm { email: email_input(email, errors) })
}

pub fn reset_requested(valid_for: &str) -> Page {
    message(
        "Check your inbox",
        &format!("If an account uses this address, we have sent it a link to choose a new password. The link works for {valid_for}."),
        Some(("/login", "Back to sign in")),
    )
}

#[derive(Template)]
#[template(path = "pages/new_password_form.html")]
struct NewPasswordForm<'a> {
    /// Percent-encoded: a path segment.
    token: String,
    password: Input<'a>,
}

/// The new-password form a reset link opens. Showing it uses nothing: only posting it does
/// (mail scanners that fetch links must not spend them, Kratos #3971).
pub fn new_password_form(token: &str, errors: &FieldErrors, policy: PasswordPolicy) -> Page {
    let page = NewPasswordForm {
        token: urlencode(token),
        password: Input::new_password("password", "New password", policy, errors),
    };
    Page { private_url: true, ..Page::new("Choose a new password", &page) }
}

pub fn reset_link_invalid() -> Page {
    Page {
        private_url: true,
        ..message(
            "This link cannot be used",
            "This password reset link is invalid, has expired, or has been used already.",
            Some(("/password-reset", "Ask for a new link")),
        )
    }
}

pub fn password_changed() -> Page {
    message("Your password is changed", "You can now sign in with your new password.", Some(("/login", "Sign in")))
}

#[derive(Template)]
#[template(path = "pages/error.html")]
struct ErrorPage<'a> {
    message: &'a str,
    fields: &'a FieldErrors,
}

/// A page for an error answer: the title says what kind, the message what happened, and the
/// fields (if any) what to fix.
pub fn error(status: u16, message: &str, fields: &FieldErrors) -> Page {
    let title = match status {
        401 => "Please sign in",
        403 => "This cannot be done from here",
        404 => "Page not found",
        405 => "This page cannot be used that way",
        409 => "This is taken",
        410 => "This link has expired",
        413 => "This is too large",
        422 => "Some fields need attention",
        429 => "Please wait a moment",
        500..=599 => "Something went wrong",
        _ => "This request could not be used",
    };
    Page::new(title, &ErrorPage { message, fields })
}

/// Everything but RFC 3986's unreserved characters is encoded.
const COMPONENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Percent-encodes a path segment or a query value.
pub fn urlencode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, COMPONENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_it_shows() {
        let values = RegistrationValues {
            email: "\"><script>x</script>".into(),
            username: "a&b".into(),
            name: "<b>".into(),
            terms_accepted: false,
        };
        let errors = FieldErrors::from([("name".to_owned(), "<i>bad</i>".to_owned())]);
        let look = Look::new("Site <x>", None, None).unwrap();
        let page = render(&look, &register_form(&values, &errors, None, PasswordPolicy::default()));
        assert!(!page.contains("<script>x"));
        assert!(!page.contains("<b>"));
        assert!(!page.contains("<i>bad"));
        assert!(page.contains("&#60;i&#62;bad&#60;/i&#62;"));
        assert!(page.contains("Site &#60;x&#62;"));
    }

    #[test]
    fn an_error_is_tied_to_its_field() {
        let errors = FieldErrors::from([("password".to_owned(), "Too common.".to_owned())]);
        let page = register_form(&RegistrationValues::default(), &errors, None, PasswordPolicy::default());
        let body = page.body.as_str();
        assert!(body.contains(r#"name="password" autocomplete="new-password""#));
        assert!(body.contains(r#"aria-invalid="true" aria-describedby="password-error""#));
        assert!(body.contains(r#"<p class="error" id="password-error">Too common.</p>"#));
        assert!(!body.contains(r#"aria-describedby="email-error""#));
    }

    #[test]
    fn password_inputs_ask_for_the_policy_in_force() {
        let policy = PasswordPolicy { min_length: 12 };
        let none = FieldErrors::new();
        for page in
            [register_form(&RegistrationValues::default(), &none, None, policy), new_password_form("t", &none, policy)]
        {
            assert!(page.body.as_str().contains(r#"required minlength="12" maxlength="128""#), "{}", page.body);
        }
    }
}
