//! Server-rendered pages: plain HTML forms that work without JavaScript. Every interpolated
//! value goes through `html_escape`.

use super::FieldErrors;
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

fn layout(site_name: &str, title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · {site}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}label{{display:block;margin-top:1rem}}input[type=text],input[type=email],input[type=password]{{width:100%;padding:.4rem}}.error{{color:#b00020}}button{{margin-top:1rem;padding:.5rem 1rem}}</style>
</head>
<body>
<h1>{title}</h1>
{body}
</body>
</html>
"#,
        title = text(title),
        site = text(site_name),
    )
}

fn field_error(errors: &FieldErrors, name: &str) -> String {
    errors
        .get(name)
        .map(|message| format!(r#"<p class="error" id="{n}-error">{m}</p>"#, n = attr(name), m = text(message)))
        .unwrap_or_default()
}

/// What the learner typed, to fill the form in again after an error (never the password).
#[derive(Default)]
pub struct RegistrationValues {
    pub email: String,
    pub username: String,
    pub name: String,
}

pub fn register_form(
    site_name: &str,
    values: &RegistrationValues,
    errors: &FieldErrors,
    notice: Option<&str>,
) -> String {
    let notice = notice.map(|n| format!(r#"<p class="error">{}</p>"#, text(n))).unwrap_or_default();
    let body = format!(
        r#"{notice}<form method="post" action="/api/v1/registrations">
<label>Email <input type="email" name="email" required maxlength="254" autocomplete="email" value="{email}"></label>
{email_error}
<label>Username <input type="text" name="username" required minlength="2" maxlength="30" pattern="[A-Za-z0-9_\-]+" autocomplete="username" value="{username}"></label>
{username_error}
<label>Full name <input type="text" name="name" required maxlength="255" autocomplete="name" value="{name}"></label>
{name_error}
<label>Password <input type="password" name="password" required minlength="8" maxlength="128" autocomplete="new-password"></label>
{password_error}
<label><input type="checkbox" name="terms_accepted" value="true" required> I accept the terms of service and the honor code.</label>
{terms_error}
<button type="submit">Create account</button>
</form>
<p>Already registered? <a href="/login">Sign in</a>.</p>"#,
        email = attr(&values.email),
        username = attr(&values.username),
        name = attr(&values.name),
        email_error = field_error(errors, "email"),
        username_error = field_error(errors, "username"),
        name_error = field_error(errors, "name"),
        password_error = field_error(errors, "password"),
        terms_error = field_error(errors, "terms_accepted"),
    );
    layout(site_name, "Create your account", &body)
}

pub fn message(site_name: &str, title: &str, paragraph: &str) -> String {
    layout(site_name, title, &format!("<p>{}</p>", text(paragraph)))
}

pub fn check_your_inbox(site_name: &str) -> String {
    message(
        site_name,
        "Check your inbox",
        "We have sent you an email with a link to activate your account. The link works for a limited time; if it does not arrive, you can ask for a new one from the link page.",
    )
}

pub fn activated(site_name: &str) -> String {
    layout(
        site_name,
        "Your account is active",
        r#"<p>Thank you: your email address is confirmed and your account is active.</p><p><a href="/login">Sign in</a></p>"#,
    )
}

pub fn already_active(site_name: &str) -> String {
    layout(
        site_name,
        "Your account is already active",
        r#"<p>This link has been used already and your account is active.</p><p><a href="/login">Sign in</a></p>"#,
    )
}

/// An expired or unknown activation link, with the form that asks for a new one.
pub fn activation_link_invalid(site_name: &str, expired: bool) -> String {
    let why = if expired {
        "This activation link has expired."
    } else {
        "This activation link is not valid: it may have been used already, or mistyped."
    };
    let body = format!(
        r#"<p>{why}</p>
<p>Enter your email address and we will send you a new link if your account is waiting for activation.</p>
<form method="post" action="/api/v1/activation-emails">
<label>Email <input type="email" name="email" required maxlength="254" autocomplete="email"></label>
<button type="submit">Send a new link</button>
</form>"#,
        why = text(why)
    );
    layout(site_name, "Activate your account", &body)
}

pub fn activation_email_requested(site_name: &str) -> String {
    message(
        site_name,
        "Check your inbox",
        "If an account with this address is waiting for activation, we have sent it a new activation link.",
    )
}

pub fn login(site_name: &str, email: &str, error: Option<&str>) -> String {
    let error = error.map(|e| format!(r#"<p class="error" role="alert">{}</p>"#, text(e))).unwrap_or_default();
    let body = format!(
        r#"{error}<form method="post" action="/api/v1/sessions">
<label>Email <input type="email" name="email" required maxlength="254" autocomplete="email" value="{email}"></label>
<label>Password <input type="password" name="password" required autocomplete="current-password"></label>
<button type="submit">Sign in</button>
</form>
<p><a href="/password-reset">Forgot my password</a></p>
<p>No account yet? <a href="/register">Create one</a>.</p>"#,
        email = attr(email)
    );
    layout(site_name, "Sign in", &body)
}

/// The account settings page. `removal_form` is the learner's own account removal section,
/// present only when the site has switched self-service removal on.
pub fn account_settings(site_name: &str, user: &crate::domain::User, removal_form: Option<&str>) -> String {
    let body = format!(
        r#"<dl>
<dt>Email</dt><dd>{email}</dd>
<dt>Username</dt><dd>{username}</dd>
<dt>Full name</dt><dd>{name}</dd>
</dl>
<p><a href="/password-reset">Change my password</a></p>
{removal}"#,
        email = text(user.email.as_ref()),
        username = text(user.username.as_ref()),
        name = text(user.name.as_ref()),
        removal = removal_form.unwrap_or_default(),
    );
    layout(site_name, "Account settings", &body)
}

/// The end of the settings page when the site lets learners delete their account.
pub fn removal_form() -> &'static str {
    r#"<section>
<h2>Delete my account</h2>
<p>This deletes your account for good: your name, username, email address, password and every signed-in session. Your email address and username become free again. This cannot be undone.</p>
<form method="post" action="/api/v1/account/removal">
<label>Your password <input type="password" name="password" required autocomplete="current-password"></label>
<button type="submit">Delete my account</button>
</form>
</section>"#
}

pub fn removal_requested(site_name: &str) -> String {
    message(site_name, "Your account is being deleted", "You have been signed out everywhere, and your account will be gone in a few moments. We have sent you a confirmation.")
}

pub fn reset_request_form(site_name: &str) -> String {
    let body = r#"<p>Enter the email address of your account. If it has one, we will send it a link to choose a new password.</p>
<form method="post" action="/api/v1/password-resets">
<label>Email <input type="email" name="email" required maxlength="254" autocomplete="email"></label>
<button type="submit">Send the link</button>
</form>
<p><a href="/login">Back to sign in</a></p>"#;
    layout(site_name, "Forgot my password", body)
}

pub fn reset_requested(site_name: &str) -> String {
    message(
        site_name,
        "Check your inbox",
        "If an account uses this address, we have sent it a link to choose a new password. The link works for a limited time.",
    )
}

/// The new-password form a reset link opens. Showing it uses nothing: only posting it does
/// (mail scanners that fetch links must not spend them, Kratos #3971).
pub fn new_password_form(site_name: &str, token: &str, error: Option<&str>) -> String {
    let error = error.map(|e| format!(r#"<p class="error" role="alert">{}</p>"#, text(e))).unwrap_or_default();
    let body = format!(
        r#"{error}<form method="post" action="/api/v1/password-resets/{token}">
<label>New password <input type="password" name="password" required minlength="8" maxlength="128" autocomplete="new-password"></label>
<button type="submit">Set my password</button>
</form>"#,
        token = attr(token)
    );
    layout(site_name, "Choose a new password", &body)
}

pub fn reset_link_invalid(site_name: &str) -> String {
    layout(
        site_name,
        "This link cannot be used",
        r#"<p>This password reset link is invalid, has expired, or has been used already.</p><p><a href="/password-reset">Ask for a new link</a></p>"#,
    )
}

pub fn password_changed(site_name: &str) -> String {
    layout(
        site_name,
        "Your password is changed",
        r#"<p>You can now sign in with your new password.</p><p><a href="/login">Sign in</a></p>"#,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_it_shows() {
        let values =
            RegistrationValues { email: "\"><script>x</script>".into(), username: "a&b".into(), name: "<b>".into() };
        let errors = FieldErrors::from([("name".to_owned(), "<i>bad</i>".to_owned())]);
        let page = register_form("Site <x>", &values, &errors, None);
        assert!(!page.contains("<script>x"));
        assert!(!page.contains("<b>"));
        assert!(!page.contains("<i>bad"));
        assert!(page.contains("&lt;i&gt;bad&lt;/i&gt;"));
        assert!(page.contains("Site &lt;x&gt;"));
    }
}
