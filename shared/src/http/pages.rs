//! Server-rendered pages: plain HTML forms that work without JavaScript. A page is a title and
//! a body; `render` puts it in the one layout (site header, stylesheet). Every interpolated
//! value goes through `html_escape`. Every input has a label; an error sits under its field
//! and is tied to it (`aria-describedby`, `aria-invalid`).

use super::FieldErrors;
use crate::look::Look;
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

pub struct Page {
    pub title: String,
    /// HTML, already escaped.
    pub body: String,
    /// The page's URL carries a secret (a token): it must not reach anyone as a `Referer`.
    pub private_url: bool,
    /// Room for tables (the operator console).
    pub wide: bool,
}

impl Page {
    pub(crate) fn new(title: &str, body: String) -> Self {
        Self { title: title.to_owned(), body, private_url: false, wide: false }
    }
}

/// The whole document.
pub fn render(look: &Look, page: &Page) -> String {
    let title = format!("{} · {}", page.title, look.site_name);
    look.document(&title, "/account/settings", &format!("<h1>{}</h1>\n{}", text(&page.title), page.body), page.wide)
}

/// One labelled input with its error, if any.
pub(crate) struct Input<'a> {
    pub name: &'a str,
    pub label: &'a str,
    pub kind: &'a str,
    pub autocomplete: &'a str,
    pub value: &'a str,
    /// Further attributes (`required`, `maxlength`...), written as is.
    pub extra: &'a str,
}

impl Input<'_> {
    pub(crate) fn html(&self, errors: &FieldErrors) -> String {
        let id = format!("f-{}", self.name);
        let (described, error) = match errors.get(self.name) {
            Some(message) => (
                format!(r#" aria-invalid="true" aria-describedby="{}-error""#, attr(self.name)),
                format!(r#"<p class="error" id="{}-error">{}</p>"#, attr(self.name), text(message)),
            ),
            None => (String::new(), String::new()),
        };
        let value = if self.value.is_empty() { String::new() } else { format!(r#" value="{}""#, attr(self.value)) };
        format!(
            r#"<label for="{id}">{label}</label>
<input id="{id}" type="{kind}" name="{name}" autocomplete="{autocomplete}"{value} {extra}{described}>
{error}"#,
            label = text(self.label),
            kind = self.kind,
            name = attr(self.name),
            autocomplete = self.autocomplete,
            extra = self.extra,
        )
    }
}

pub(crate) fn email_input(value: &str, errors: &FieldErrors) -> String {
    Input {
        name: "email",
        label: "Email",
        kind: "email",
        autocomplete: "email",
        value,
        extra: r#"required maxlength="254""#,
    }
    .html(errors)
}

/// A message above a form or on its own, read out by screen readers when the page opens.
pub fn alert(message: &str) -> String {
    format!(r#"<p class="alert" role="alert">{}</p>"#, text(message))
}

pub(crate) fn link(href: &str, label: &str) -> String {
    format!(r#"<a href="{}">{}</a>"#, attr(href), text(label))
}

pub use crate::domain::NEW_ACTIVATION_LINK;

/// What the learner typed, to fill the form in again after an error (never the password).
#[derive(Default)]
pub struct RegistrationValues {
    pub email: String,
    pub username: String,
    pub name: String,
    pub terms_accepted: bool,
}

pub fn register_form(values: &RegistrationValues, errors: &FieldErrors, notice: Option<&str>) -> Page {
    let terms_error = errors
        .get("terms_accepted")
        .map(|m| format!(r#"<p class="error" id="terms_accepted-error">{}</p>"#, text(m)))
        .unwrap_or_default();
    let terms_described =
        if terms_error.is_empty() { "" } else { r#" aria-invalid="true" aria-describedby="terms_accepted-error""# };
    let body = format!(
        r#"{notice}<form method="post" action="/api/v1/registrations">
{email}
{username}
{name}
{password}
<label class="check" for="f-terms_accepted"><input id="f-terms_accepted" type="checkbox" name="terms_accepted" value="true" required{checked}{terms_described}> I accept the terms of service and the honor code.</label>
{terms_error}
<button type="submit">Create account</button>
</form>
<p>Already registered? {login}.</p>"#,
        notice = notice.map(alert).unwrap_or_default(),
        email = email_input(&values.email, errors),
        username = Input {
            name: "username",
            label: "Username",
            kind: "text",
            autocomplete: "username",
            value: &values.username,
            extra: r#"required minlength="2" maxlength="30" pattern="[A-Za-z0-9_\-]+""#,
        }
        .html(errors),
        name = Input {
            name: "name",
            label: "Full name",
            kind: "text",
            autocomplete: "name",
            value: &values.name,
            extra: r#"required maxlength="255""#,
        }
        .html(errors),
        password = Input {
            name: "password",
            label: "Password",
            kind: "password",
            autocomplete: "new-password",
            value: "",
            extra: r#"required minlength="8" maxlength="128""#,
        }
        .html(errors),
        checked = if values.terms_accepted { " checked" } else { "" },
        login = link("/login", "Sign in"),
    );
    Page::new("Create your account", body)
}

/// A title and one paragraph, with an optional link under it.
pub fn message(title: &str, paragraph: &str, next: Option<(&str, &str)>) -> Page {
    let next = next.map(|(href, label)| format!("<p>{}</p>", link(href, label))).unwrap_or_default();
    Page::new(title, format!("<p>{}</p>{next}", text(paragraph)))
}

pub fn check_your_inbox(activation_valid_for: &str) -> Page {
    Page::new(
        "Check your inbox",
        format!(
            "<p>We have sent you an email with a link to activate your account. The link works for {}.</p><p>No email after a few minutes? Look in your spam folder, or {}.</p>",
            text(activation_valid_for),
            link(NEW_ACTIVATION_LINK, "send me a new activation link"),
        ),
    )
}

/// The page an activation link opens: one button. Opening a link (as mail scanners do) must
/// not activate: an attacker who registered someone else's address would otherwise hold a
/// verified account for it once the victim's scanner opens the mail.
pub fn activation_confirm(token: &str) -> Page {
    let body = format!(
        r#"<p>Press the button to confirm that this email address is yours and activate your account.</p>
<form method="post" action="/activate/{token}">
<button type="submit">Activate my account</button>
</form>
<p>If you did not register, close this page: nothing happens.</p>"#,
        token = attr(token)
    );
    Page { private_url: true, ..Page::new("Activate your account", body) }
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
fn activation_email_body(reason: Option<&str>, email: &str, errors: &FieldErrors) -> String {
    format!(
        r#"{reason}<p>Enter the email address you registered with. If its account is waiting for activation, we will send it a new link.</p>
<form method="post" action="/api/v1/activation-emails">
{email}
<button type="submit">Send me a new link</button>
</form>
<p>{login}</p>"#,
        reason = reason.map(|r| format!("<p>{}</p>", text(r))).unwrap_or_default(),
        email = email_input(email, errors),
        login = link("/login", "Back to sign in"),
    )
}

/// An expired or unknown activation link, with the form that asks for a new one.
pub fn activation_link_invalid(expired: bool) -> Page {
    let why = if expired {
        "This activation link has expired."
    } else {
        "This activation link is not valid: it may have been used already, or mistyped."
    };
    Page {
        private_url: true,
        ..Page::new("Activate your account", activation_email_body(Some(why), "", &FieldErrors::new()))
    }
}

/// "Send me a new activation link", at its own address.
pub fn activation_email_form(email: &str, errors: &FieldErrors) -> Page {
    Page::new("Send me a new activation link", activation_email_body(None, email, errors))
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

/// The sign-in form; `next` (a local path, checked by the caller) is where a success goes.
pub fn login(email: &str, problem: Option<LoginProblem<'_>>, next: Option<&str>) -> Page {
    let problem = problem
        .map(|p| {
            let next = p.next.map(|(href, label)| format!(" {}", link(href, label))).unwrap_or_default();
            format!(r#"<p class="alert" role="alert">{}{next}</p>"#, text(p.message))
        })
        .unwrap_or_default();
    let next = next.map(|n| format!(r#"<input type="hidden" name="next" value="{}">"#, attr(n))).unwrap_or_default();
    let body = format!(
        r#"{problem}<form method="post" action="/api/v1/sessions">{next}
{email}
{password}
<button type="submit">Sign in</button>
</form>
<p>{forgot}</p>
<p>No account yet? {register}.</p>"#,
        email = email_input(email, &FieldErrors::new()),
        password = Input {
            name: "password",
            label: "Password",
            kind: "password",
            autocomplete: "current-password",
            value: "",
            extra: "required",
        }
        .html(&FieldErrors::new()),
        forgot = link("/password-reset", "Forgot my password"),
        register = link("/register", "Create one"),
    );
    Page::new("Sign in", body)
}

/// The account settings page: the account, sign out, and (when the site allows it) the
/// learner's own account removal, with the reason a removal was refused under its field.
pub fn account_settings(user: &crate::domain::User, removal: Option<&FieldErrors>) -> Page {
    let removal = removal
        .map(|errors| {
            format!(
                r#"<section>
<h2>Delete my account</h2>
<p>This deletes your account for good: your name, username, email address, password and every signed-in session. Your email address and username become free again. This cannot be undone.</p>
<form method="post" action="/api/v1/account/removal">
{password}
<button type="submit" class="danger">Delete my account</button>
</form>
</section>"#,
                password = Input {
                    name: "password",
                    label: "Your password",
                    kind: "password",
                    autocomplete: "current-password",
                    value: "",
                    extra: "required",
                }
                .html(errors),
            )
        })
        .unwrap_or_default();
    let body = format!(
        r#"<dl>
<dt>Email</dt><dd>{email}</dd>
<dt>Username</dt><dd>{username}</dd>
<dt>Full name</dt><dd>{name}</dd>
</dl>
<div class="actions">
<p>{change}</p>
<form method="post" action="/logout"><button type="submit" class="quiet">Sign out</button></form>
</div>
{removal}"#,
        email = text(user.email.as_ref()),
        username = text(user.username.as_ref()),
        name = text(user.name.as_ref()),
        change = link("/password-reset", "Change my password"),
    );
    Page::new("Account settings", body)
}

pub fn removal_requested() -> Page {
    message(
        "Your account is being deleted",
        "You have been signed out everywhere, and your account will be gone in a few moments. We have sent you a confirmation.",
        None,
    )
}

pub fn reset_request_form(email: &str, errors: &FieldErrors) -> Page {
    let body = format!(
        r#"<p>Enter the email address of your account. If it has one, we will send it a link to choose a new password.</p>
<form method="post" action="/api/v1/password-resets">
{email}
<button type="submit">Send the link</button>
</form>
<p>{login}</p>"#,
        email = email_input(email, errors),
        login = link("/login", "Back to sign in"),
    );
    Page::new("Forgot my password", body)
}

pub fn reset_requested(valid_for: &str) -> Page {
    message(
        "Check your inbox",
        &format!("If an account uses this address, we have sent it a link to choose a new password. The link works for {valid_for}."),
        Some(("/login", "Back to sign in")),
    )
}

/// The new-password form a reset link opens. Showing it uses nothing: only posting it does
/// (mail scanners that fetch links must not spend them, Kratos #3971).
pub fn new_password_form(token: &str, errors: &FieldErrors) -> Page {
    let body = format!(
        r#"<form method="post" action="/api/v1/password-resets/{token}">
{password}
<button type="submit">Set my password</button>
</form>"#,
        token = attr(token),
        password = Input {
            name: "password",
            label: "New password",
            kind: "password",
            autocomplete: "new-password",
            value: "",
            extra: r#"required minlength="8" maxlength="128""#,
        }
        .html(errors),
    );
    Page { private_url: true, ..Page::new("Choose a new password", body) }
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
    let fields: String = fields
        .iter()
        .map(|(name, problem)| format!("<li><strong>{}</strong>: {}</li>", text(name), text(problem)))
        .collect();
    let fields = if fields.is_empty() { String::new() } else { format!("<ul>{fields}</ul>") };
    Page::new(
        title,
        format!(
            "{}{fields}<p>{} · {}</p>",
            alert(message),
            link("/account/settings", "Your account"),
            link("/login", "Sign in")
        ),
    )
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
        let page = render(&look, &register_form(&values, &errors, None));
        assert!(!page.contains("<script>x"));
        assert!(!page.contains("<b>"));
        assert!(!page.contains("<i>bad"));
        assert!(page.contains("&lt;i&gt;bad&lt;/i&gt;"));
        assert!(page.contains("Site &lt;x&gt;"));
    }

    #[test]
    fn an_error_is_tied_to_its_field() {
        let errors = FieldErrors::from([("password".to_owned(), "Too common.".to_owned())]);
        let page = register_form(&RegistrationValues::default(), &errors, None);
        assert!(page.body.contains(r#"name="password" autocomplete="new-password""#));
        assert!(page.body.contains(r#"aria-invalid="true" aria-describedby="password-error""#));
        assert!(page.body.contains(r#"<p class="error" id="password-error">Too common.</p>"#));
        assert!(!page.body.contains(r#"aria-describedby="email-error""#));
    }
}
