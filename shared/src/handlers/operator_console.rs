//! Function `operator-console`: the operators' console at `/operator`, server-rendered and
//! working without JavaScript. Every action goes through the same flows as the admin API
//! (`flows::admin`, `flows::bulk`, `flows::removal`, `oidc::clients`); nothing here decides a rule of its own.
//!
//! Who gets it: a signed-in account with the operator role, on an operator session (begun while
//! it had the role: shorter, with an idle limit). Signed out: on to `/login?next=/operator`.
//! Signed in without the role: the same 404 as an unknown route, on every URL and method, so the
//! console does not exist for them. The role is read on every request, so revoking it closes
//! an open session's console at its next request. Every post must come from the site's own
//! pages.
//!
//! A second factor (`LEARNERS_OPERATOR_SECOND_FACTOR=required`, the default): the console opens
//! only in a session begun with one, while the operator has one. Anything else gets, on every
//! console address, only the page that says how to set one up: a GET shows it, a POST is
//! refused with it (403, nothing done). Checked here, once, before any route is looked at, so
//! that a new route cannot forget it.
//!
//! Setting a password, changing an email, deleting, activating, removing second factors and registering a file ask
//! the operator to confirm unless they did in the last 5 minutes: with their second factor (a
//! code, or a passkey), or with their password where they have none and none is required.
//! Confirming renews the session (a new cookie). An account with the operator role is not
//! changed from here (`Actor::may_change`): the admin API does that.

use super::signed_in;
use crate::domain::{Actor, JobKind, JobStatus, SessionRecord, User};
use crate::flows::admin::{self, ConfirmWith, Confirmation, Proof, SupportError};
use crate::flows::admin_email::{self, EmailFixError, EmailFixed};
use crate::flows::bulk::{dry_run, upload_with, UploadError, MAX_UPLOAD_BYTES};
use crate::flows::removal::{
    check_deletions, check_list, emails_from_lines, read_list, request_deletions, DeletionCheck,
};
use crate::http::console_pages::{
    self as console, urlencode, ApplicationForm, AskFor, CardContext, ConfirmStep, FactorsSummary, ShownSecret,
    CODE_FIELD, PASSWORD_FIELD,
};
use crate::http::multipart::Parts;
use crate::http::origin::from_site;
use crate::http::response::Reply;
use crate::http::{path_param, query_param, response, route_key, ApiError, FieldErrors, Fields};
use crate::oidc::clients::{self, ClientError, NewClient};
use crate::App;
use lambda_http::Request;

mod audit;
mod learners_export;
mod settings;
mod uploads;

/// The signed-in operator of a console request.
struct Console {
    user: User,
    session: SessionRecord,
    /// The operator as jobs and audit entries record them.
    actor: String,
    /// `Set-Cookie` for the session that replaced the presented one (the operator confirmed).
    new_cookie: Option<String>,
}

enum Access {
    Granted(Box<Console>),
    SignIn,
    NoConsole,
}

async fn access(app: &App, req: &Request) -> anyhow::Result<Access> {
    let Some((user, session)) = signed_in(app, req).await? else {
        return Ok(Access::SignIn);
    };
    if !user.operator {
        return Ok(Access::NoConsole);
    }
    if !session.operator {
        // Granted the role after signing in: an operator session (shorter, idle-limited) is
        // needed, so sign in again.
        return Ok(Access::SignIn);
    }
    app.sessions.touch_session(&session.hash, app.clock.now(), session.password_at).await?;
    let actor = Actor::Console { user_id: user.id.clone(), email: user.email.to_string() }.to_record();
    Ok(Access::Granted(Box::new(Console { user, session, actor, new_cookie: None })))
}

pub async fn handle(app: &App, req: Request) -> Reply {
    let mut console = match access(app, &req).await {
        Ok(Access::Granted(console)) => console,
        Ok(Access::SignIn) => return response::see_other("/login?next=/operator"),
        Ok(Access::NoConsole) => return response::route_not_found(),
        Err(e) => return ApiError::unexpected(&e).into(),
    };
    if req.method() == http::Method::POST && !from_site(app, &req) {
        return ApiError::cross_origin().into();
    }
    if app.config.operator_second_factor.is_required() {
        match second_factor_gate(app, &req, &console).await {
            Ok(None) => {}
            Ok(Some(only_this)) => return only_this,
            Err(e) => return ApiError::unexpected(&e).into(),
        }
    }
    let result = match route_key(&req).as_str() {
        "GET /operator" => learners(app, &req, &console).await,
        "POST /operator/activate" => activate(app, &req, &mut console).await,
        "POST /operator/unlock" => unlock(app, &req, &console).await,
        "POST /operator/clear-mail-refusal" => clear_mail_refusal(app, &req, &console).await,
        "POST /operator/remove-second-factors" => remove_second_factors(app, &req, &mut console).await,
        "POST /operator/password" => set_password(app, &req, &mut console).await,
        "POST /operator/email" => change_email(app, &req, &mut console).await,
        "POST /operator/delete" => delete_one(app, &req, &mut console).await,
        "POST /operator/disable" => on_one(app, &req, &mut console, ConfirmStep::Disable).await,
        "POST /operator/enable" => on_one(app, &req, &mut console, ConfirmStep::Enable).await,
        "POST /operator/reset-link" => on_one(app, &req, &mut console, ConfirmStep::SendResetLink).await,
        "POST /operator/activation-link" => on_one(app, &req, &mut console, ConfirmStep::ResendActivation).await,
        "POST /operator/sign-out" => on_one(app, &req, &mut console, ConfirmStep::SignOutEverywhere).await,
        "GET /operator/bulk" => Ok(response::page(200, console::bulk_upload(&FieldErrors::new()))),
        "POST /operator/bulk/check" => bulk_check(app, &req, &console).await,
        "POST /operator/bulk" => bulk_register(app, &req, &mut console).await,
        "POST /operator/bulk/upload" => uploads::reserve(app, &req, &mut console, JobKind::BulkRegistration).await,
        "GET /operator/deletions" => Ok(response::page(200, console::deletions_form(&FieldErrors::new()))),
        "POST /operator/deletions/check" => deletions_check(app, &req, &console).await,
        "POST /operator/deletions" => deletions(app, &req, &mut console).await,
        "POST /operator/deletions/upload" => uploads::reserve(app, &req, &mut console, JobKind::Deletion).await,
        "GET /operator/jobs/{job_id}" => job(app, &req).await,
        "GET /operator/jobs/{job_id}/report.csv" => report(app, &req).await,
        "GET /operator/audit" => audit::page(app, &req, &console).await,
        "GET /operator/learners" => find_learners(app, &req, &console).await,
        "GET /operator/jobs" => past_jobs(app, &req).await,
        "GET /operator/applications" => applications(app, &req).await,
        "POST /operator/applications" => register_application(app, &req, &console).await,
        "POST /operator/applications/secret" => new_secret(app, &req, &console).await,
        "POST /operator/applications/remove" => remove_application(app, &req, &console).await,
        "GET /operator/settings" => settings::show(app, &req, &console).await,
        "POST /operator/settings" => settings::save(app, &req, &mut console).await,
        "POST /operator/settings/restore" => settings::restore(app, &req, &mut console).await,
        _ => Ok(response::route_not_found()),
    };
    let mut reply = result.unwrap_or_else(Reply::from);
    if let Some(value) = console.new_cookie.and_then(|cookie| http::HeaderValue::from_str(&cookie).ok()) {
        reply.headers_mut().append(http::header::SET_COOKIE, value);
    }
    reply
}

/// Where a second factor is required: None when the session was begun with one and the operator
/// has one now; else the one page the console shows (200 for a GET, 403 for anything else, with
/// nothing done).
async fn second_factor_gate(app: &App, req: &Request, console: &Console) -> anyhow::Result<Option<Reply>> {
    let factors = app.factors.second_factors(&console.user.id).await?;
    if console.session.is_multi_factor() && factors.is_enrolled() {
        return Ok(None);
    }
    let reading = matches!(*req.method(), http::Method::GET | http::Method::HEAD);
    if !reading {
        tracing::info!(user_id = %console.user.id, route = %route_key(req), "console post refused: no second factor");
    }
    let page = console::second_factor_required(factors.is_enrolled(), !reading);
    Ok(Some(response::page(if reading { 200 } else { 403 }, page)))
}

fn unexpected(e: anyhow::Error) -> ApiError {
    ApiError::unexpected(&e)
}

/// Back to the learner's card, with what was done.
fn to_card(email: &str, done: &str) -> Reply {
    let mut response = response::empty(303);
    let location = format!("/operator?email={}&done={done}", urlencode(email));
    if let Ok(value) = http::HeaderValue::from_str(&location) {
        response.headers_mut().insert(http::header::LOCATION, value);
    }
    response
}

fn to_job(id: &str) -> Reply {
    let mut response = response::empty(303);
    if let Ok(value) = http::HeaderValue::from_str(&format!("/operator/jobs/{}", urlencode(id))) {
        response.headers_mut().insert(http::header::LOCATION, value);
    }
    response
}

/// The Learners page for `email`: its card, or why there is none.
async fn learner_page(
    app: &App,
    console: &Console,
    status: u16,
    email: &str,
    notice: Option<&str>,
    password_errors: &FieldErrors,
) -> Result<Reply, ApiError> {
    learner_page_with(app, console, status, email, notice, password_errors, ("", &FieldErrors::new())).await
}

/// `learner_page`, with the "Change email" form as it was sent (the address typed, its problems).
async fn learner_page_with(
    app: &App,
    console: &Console,
    status: u16,
    email: &str,
    notice: Option<&str>,
    password_errors: &FieldErrors,
    (new_email, email_errors): (&str, &FieldErrors),
) -> Result<Reply, ApiError> {
    if email.is_empty() {
        return Ok(response::page(status, console::learners("", None, notice, &FieldErrors::new())));
    }
    match admin::user_by_email(app, email).await {
        Ok(view) => {
            let factors = admin::second_factors_of(app, email).await?;
            let factors = FactorsSummary {
                authenticator: factors.totp.is_some(),
                passkeys: factors.passkeys.len(),
                recovery_codes: factors.recovery_codes.len(),
            };
            let context = CardContext {
                confirm: needed(app, console).await?,
                factors,
                password_errors,
                password_policy: app.password_policy(crate::domain::Factors::PasswordOnly),
                new_email,
                email_errors,
            };
            Ok(response::page(status, console::learners(email, Some((&view, context)), notice, &FieldErrors::new())))
        }
        Err(SupportError::InvalidEmail(e)) => {
            let errors = FieldErrors::from([("email".to_owned(), e.to_string())]);
            Ok(response::page(422, console::learners(email, None, notice, &errors)))
        }
        Err(SupportError::NotFound) => Ok(response::page(
            404,
            console::learners(email, None, Some("No account has this email address."), &FieldErrors::new()),
        )),
        Err(other) => Err(ApiError::from(other)),
    }
}

async fn learners(app: &App, req: &Request, console: &Console) -> Result<Reply, ApiError> {
    let email = query_param(req, "email").unwrap_or_default();
    let notice = match query_param(req, "done").as_deref() {
        Some("activated") => Some("The account is active."),
        Some("unlocked") => Some("Sign-in is unlocked: the failure count is cleared."),
        Some("mail_cleared") => Some("The mail refusal is cleared: mail goes to the address again."),
        Some("factors_removed") => {
            Some("The second factors are removed: signing in takes the password alone. The learner was notified.")
        }
        Some("email_link_mailed") => Some(
            "The email is changed. A new activation link went to the new address; the links sent to the old one no longer work.",
        ),
        Some("email_both_told") => Some(
            "The email is changed. Both addresses were mailed a notice, and every session of the learner has ended.",
        ),
        Some("email_unchanged") => Some("The account already has this email address: nothing changed."),
        Some("disabled") => Some(
            "The account is disabled: it cannot sign in, every session and link of it has ended, and the learner was mailed a notice.",
        ),
        Some("enabled") => Some("The account is enabled: it can sign in again."),
        Some("reset_link_sent") => Some("A reset link is on its way to the learner."),
        Some("activation_link_sent") => {
            Some("A new activation link is on its way to the learner; the links sent before no longer work.")
        }
        Some("signed_out") => Some("Every session of the learner has ended."),
        Some("password_set_notified") => {
            Some("The password is set; every session of the learner has ended, and the learner was notified.")
        }
        _ => None,
    };
    let reply = learner_page(app, console, 200, email.trim(), notice, &FieldErrors::new()).await?;
    if notice.is_none() && reply.status() == 200 && !email.trim().is_empty() {
        // A look at the card is on record (who viewed whom); coming back from an action is not
        // another look (the action has its own entry).
        admin::record_view(app, &console.actor, email.trim()).await?;
    }
    Ok(reply)
}

/// A form's fields, each required unless listed as optional.
fn form_fields(req: &Request, required: &[&str], optional: &[&str]) -> Result<Vec<Option<String>>, ApiError> {
    let mut fields = Fields::from_request(req)?;
    let mut errors = FieldErrors::new();
    let mut values: Vec<Option<String>> = required.iter().map(|name| fields.string(name, &mut errors)).collect();
    values.extend(optional.iter().map(|name| fields.optional_string(name, &mut errors)));
    fields.finish(&mut errors);
    if errors.is_empty() {
        Ok(values)
    } else {
        Err(ApiError::validation(errors))
    }
}

/// Why the console leaves an account alone (the admin API does not).
const OPERATOR_ACCOUNT: &str = "This account has the operator role: the console does not set its password, delete, \
unlock, activate it, change its email or remove its second factors. Someone who holds the admin API's credentials can.";

/// The same, for the card's access actions (disable, enable, mail a link, sign out).
const OPERATOR_ACCOUNT_ACCESS: &str = "This account has the operator role: the console does not disable or enable it, \
mail it links or sign it out, yours included. Someone who holds the admin API's credentials can.";

/// The card again, saying why the flow refused (an unknown account, an operator's account).
async fn refused(app: &App, console: &Console, email: &str, error: SupportError) -> Result<Reply, ApiError> {
    match error {
        SupportError::NotFound => learner_page(app, console, 404, email, None, &FieldErrors::new()).await,
        SupportError::OperatorAccount => {
            learner_page(app, console, 403, email, Some(OPERATOR_ACCOUNT), &FieldErrors::new()).await
        }
        other => Err(other.into()),
    }
}

/// A card's access action ("Disable account", "Enable account", "Send a reset link", "Resend
/// the activation link", "Sign out everywhere"): first the confirm step, then the action
/// (`flows::operator_actions`, audited, refused for an operator's account); back to the card,
/// saying what was done or why not.
async fn on_one(app: &App, req: &Request, console: &mut Console, step: ConfirmStep) -> Result<Reply, ApiError> {
    use crate::flows::operator_actions as actions;
    let mut values = form_fields(req, &["email"], &with_confirmation(&["confirm"]))?;
    let typed = Typed::take(&mut values);
    let (email, confirm) = (values.remove(0).unwrap_or_default(), values.remove(0));
    if confirm.as_deref() != Some("yes") {
        let page = console::confirm(step, &email, needed(app, console).await?, &FieldErrors::new());
        return Ok(response::page(200, page));
    }
    if let Confirmed::No(with) = confirmed(app, console, &typed).await? {
        return Ok(response::page(403, console::confirm(step, &email, Some(with), &wrong_proof(with))));
    }
    let operator = console.actor.clone();
    let done = match step {
        ConfirmStep::Disable => actions::disable(app, &operator, &email).await.map(|()| "disabled"),
        ConfirmStep::Enable => actions::enable(app, &operator, &email).await.map(|()| "enabled"),
        ConfirmStep::SendResetLink => {
            actions::send_reset_link(app, &operator, &email).await.map(|()| "reset_link_sent")
        }
        ConfirmStep::ResendActivation => {
            actions::resend_activation(app, &operator, &email).await.map(|()| "activation_link_sent")
        }
        ConfirmStep::SignOutEverywhere => {
            actions::sign_out_everywhere(app, &operator, &email).await.map(|()| "signed_out")
        }
        ConfirmStep::Delete | ConfirmStep::Activate | ConfirmStep::RemoveSecondFactors => {
            return Ok(response::route_not_found());
        }
    };
    let none = FieldErrors::new();
    match done {
        Ok(done) => Ok(to_card(&email, done)),
        Err(SupportError::OperatorAccount) => {
            learner_page(app, console, 403, &email, Some(OPERATOR_ACCOUNT_ACCESS), &none).await
        }
        Err(SupportError::Disabled) => {
            let notice = "The account is disabled: it gets no mail. Enable it first.";
            learner_page(app, console, 409, &email, Some(notice), &none).await
        }
        Err(SupportError::NotPending) => {
            let notice = "Only an account waiting for activation has an activation link.";
            learner_page(app, console, 409, &email, Some(notice), &none).await
        }
        Err(SupportError::TooManyMails) => {
            let notice =
                "The learner was mailed on operators' word too often this hour; nothing was sent. Try again later.";
            learner_page(app, console, 429, &email, Some(notice), &none).await
        }
        Err(SupportError::InvalidEmail(_)) => learner_page(app, console, 422, &email, None, &none).await,
        Err(error) => refused(app, console, &email, error).await,
    }
}

async fn unlock(app: &App, req: &Request, console: &Console) -> Result<Reply, ApiError> {
    let email = form_fields(req, &["email"], &[])?.remove(0).unwrap_or_default();
    match admin::unlock(app, &console.actor, &email).await {
        Ok(()) => Ok(to_card(&email, "unlocked")),
        Err(error) => refused(app, console, &email, error).await,
    }
}

/// "Activate" on a card: done at once when the operator's password is recent, else after the
/// confirm step asks for it.
async fn activate(app: &App, req: &Request, console: &mut Console) -> Result<Reply, ApiError> {
    // `confirm` comes with the confirm step's form (shared with deletion): the post itself is the yes.
    let mut values = form_fields(req, &["email"], &with_confirmation(&["confirm"]))?;
    let typed = Typed::take(&mut values);
    let email = values.remove(0).unwrap_or_default();
    if let Confirmed::No(with) = confirmed(app, console, &typed).await? {
        let (status, errors) = if typed.any() { (403, wrong_proof(with)) } else { (200, FieldErrors::new()) };
        return Ok(response::page(status, console::confirm(ConfirmStep::Activate, &email, Some(with), &errors)));
    }
    match admin::activate(app, &console.actor, &email).await {
        Ok(()) => Ok(to_card(&email, "activated")),
        Err(error) => refused(app, console, &email, error).await,
    }
}

async fn clear_mail_refusal(app: &App, req: &Request, console: &Console) -> Result<Reply, ApiError> {
    let email = form_fields(req, &["email"], &[])?.remove(0).unwrap_or_default();
    match crate::flows::mail_events::clear_mail_refusal(app, &console.actor, &email).await {
        Ok(()) => Ok(to_card(&email, "mail_cleared")),
        Err(SupportError::NotFound) => learner_page(app, console, 404, &email, None, &FieldErrors::new()).await,
        Err(other) => Err(other.into()),
    }
}

/// The form fields a confirmation may come in: the password, a code, and a passkey's answer
/// (`credential`, `passkey_challenge`: the passkey button's hidden fields, sent empty without
/// JavaScript).
const CONFIRMATION_FIELDS: [&str; 4] = [PASSWORD_FIELD, CODE_FIELD, "credential", "passkey_challenge"];

/// A form's own optional fields, and the confirmation's after them.
fn with_confirmation(own: &[&'static str]) -> Vec<&'static str> {
    own.iter().copied().chain(CONFIRMATION_FIELDS).collect()
}

/// What a form carried to confirm a sensitive action.
#[derive(Default)]
struct Typed {
    password: Option<String>,
    code: Option<String>,
    credential: Option<String>,
    passkey_challenge: Option<String>,
}

impl Typed {
    /// Takes the confirmation's fields, the last of `values` (see `with_confirmation`).
    fn take(values: &mut Vec<Option<String>>) -> Self {
        let at = values.len().saturating_sub(CONFIRMATION_FIELDS.len());
        let mut fields = values.split_off(at).into_iter();
        let password = fields.next().flatten();
        let code = fields.next().flatten();
        let credential = fields.next().flatten();
        let passkey_challenge = fields.next().flatten();
        Self { password, code, credential, passkey_challenge }
    }

    /// Was anything typed to confirm?
    fn any(&self) -> bool {
        self.proof().is_some()
    }

    fn proof(&self) -> Option<Proof> {
        let filled = |value: &Option<String>| value.clone().filter(|v| !v.trim().is_empty());
        // A passkey's answer (the button's script fills both fields) before anything typed.
        let passkey = filled(&self.credential)
            .zip(filled(&self.passkey_challenge))
            .map(|(credential, challenge)| Proof::Passkey { challenge, credential });
        passkey.or_else(|| filled(&self.code).map(Proof::Code)).or_else(|| filled(&self.password).map(Proof::Password))
    }
}

/// What a sensitive action needs proven again now: None when a factor was proven in the last
/// 5 minutes.
async fn needed(app: &App, console: &Console) -> Result<Option<AskFor>, ApiError> {
    if console.session.password_is_recent(app.clock.now()) {
        return Ok(None);
    }
    Ok(Some(ask_for(app, console).await?))
}

/// What the confirmation asks this operator for, as the page shows it.
async fn ask_for(app: &App, console: &Console) -> Result<AskFor, ApiError> {
    Ok(match admin::confirm_with(app, &console.user).await.map_err(unexpected)? {
        ConfirmWith::Password => AskFor::Password,
        ConfirmWith::SecondFactor { passkeys, codes } => AskFor::SecondFactor { passkeys, codes },
    })
}

enum Confirmed {
    Yes,
    /// Not confirmed; the confirmation asks for this.
    No(AskFor),
}

/// Was a factor proven in the last 5 minutes, or right (and of the kind asked for) in this
/// form? A right one counts as proven now (for this request's pages too), in a new session that
/// replaces the presented one.
async fn confirmed(app: &App, console: &mut Console, typed: &Typed) -> Result<Confirmed, ApiError> {
    match admin::confirm_operator(app, &console.user, &console.session, typed.proof()).await.map_err(unexpected)? {
        Confirmation::Recent => Ok(Confirmed::Yes),
        Confirmation::Renewed { session, token, lifetime_seconds } => {
            console.session = session;
            console.new_cookie = Some(crate::http::session::set_cookie(&token, lifetime_seconds));
            Ok(Confirmed::Yes)
        }
        Confirmation::Refused => Ok(Confirmed::No(ask_for(app, console).await?)),
    }
}

/// Why the confirmation was refused, under its field.
fn wrong_proof(with: AskFor) -> FieldErrors {
    match with {
        AskFor::Password => {
            FieldErrors::from([(PASSWORD_FIELD.to_owned(), "Type your own password to confirm.".to_owned())])
        }
        AskFor::SecondFactor { .. } => FieldErrors::from([(
            CODE_FIELD.to_owned(),
            "Type a code from your authenticator app (or one of your recovery codes) to confirm.".to_owned(),
        )]),
    }
}

async fn set_password(app: &App, req: &Request, console: &mut Console) -> Result<Reply, ApiError> {
    let mut fields = Fields::from_request(req)?;
    let mut errors = FieldErrors::new();
    let email = fields.string("email", &mut errors).unwrap_or_default();
    let password = fields.string("password", &mut errors).unwrap_or_default();
    let mut values: Vec<Option<String>> =
        CONFIRMATION_FIELDS.iter().map(|name| fields.optional_string(name, &mut errors)).collect();
    let typed = Typed::take(&mut values);
    fields.finish(&mut errors);
    if !errors.is_empty() {
        return learner_page(app, console, 422, &email, None, &errors).await;
    }
    if let Confirmed::No(with) = confirmed(app, console, &typed).await? {
        return learner_page(app, console, 403, &email, None, &wrong_proof(with)).await;
    }
    match admin::set_password(app, &console.actor, &email, &password).await {
        Ok(()) => Ok(to_card(&email, "password_set_notified")),
        Err(SupportError::WeakPassword(fields)) => learner_page(app, console, 422, &email, None, &fields).await,
        Err(error) => refused(app, console, &email, error).await,
    }
}

/// "Change email" on a card: the new address is checked first (invalid, or another account's:
/// said beside the field), then the confirm step shows both addresses (and asks for the
/// operator's confirmation unless given in the last 5 minutes), then the change; on to the card
/// at the new address. Refused for an account with the operator role.
async fn change_email(app: &App, req: &Request, console: &mut Console) -> Result<Reply, ApiError> {
    let mut values = form_fields(req, &["email", "new_email"], &with_confirmation(&["confirm"]))?;
    let typed = Typed::take(&mut values);
    let email = values.remove(0).unwrap_or_default();
    let new_email = values.remove(0).unwrap_or_default().trim().to_owned();
    let confirm = values.remove(0);
    let pending = match admin_email::check_change(app, &console.actor, &email, &new_email).await {
        Ok(pending) => pending,
        Err(error) => return email_refused(app, console, &email, &new_email, error).await,
    };
    if confirm.as_deref() != Some("yes") {
        let needed = needed(app, console).await?;
        let page = console::confirm_email_change(&email, &new_email, pending, needed, &FieldErrors::new());
        return Ok(response::page(200, page));
    }
    if let Confirmed::No(with) = confirmed(app, console, &typed).await? {
        let page = console::confirm_email_change(&email, &new_email, pending, Some(with), &wrong_proof(with));
        return Ok(response::page(403, page));
    }
    match admin_email::change_email(app, &console.actor, &email, &new_email).await {
        Ok(EmailFixed::LinkMailed) => Ok(to_card(&new_email, "email_link_mailed")),
        Ok(EmailFixed::BothTold) => Ok(to_card(&new_email, "email_both_told")),
        Ok(EmailFixed::NoChange) => Ok(to_card(&email, "email_unchanged")),
        Err(error) => email_refused(app, console, &email, &new_email, error).await,
    }
}

/// The card again, saying why "Change email" was refused: beside the field for the new
/// address, above the card for the account.
async fn email_refused(
    app: &App,
    console: &Console,
    email: &str,
    new_email: &str,
    error: EmailFixError,
) -> Result<Reply, ApiError> {
    let none = FieldErrors::new();
    let beside = |message: String| FieldErrors::from([("new_email".to_owned(), message)]);
    match error {
        EmailFixError::InvalidNewEmail(e) => {
            learner_page_with(app, console, 422, email, None, &none, (new_email, &beside(e.to_string()))).await
        }
        EmailFixError::Taken => {
            let notice = format!("Another account already uses {new_email}: nothing changed.");
            let errors = beside("Another account uses this address.".to_owned());
            learner_page_with(app, console, 409, email, Some(&notice), &none, (new_email, &errors)).await
        }
        EmailFixError::InvalidEmail(_) => learner_page(app, console, 422, email, None, &none).await,
        EmailFixError::NotFound => learner_page(app, console, 404, email, None, &none).await,
        EmailFixError::OperatorAccount => learner_page(app, console, 403, email, Some(OPERATOR_ACCOUNT), &none).await,
        EmailFixError::Unexpected(e) => Err(unexpected(e)),
    }
}

/// "Delete account" on a card: first the confirm step, then a deletion job of one address.
async fn delete_one(app: &App, req: &Request, console: &mut Console) -> Result<Reply, ApiError> {
    let mut values = form_fields(req, &["email"], &with_confirmation(&["confirm"]))?;
    let typed = Typed::take(&mut values);
    let (email, confirm) = (values.remove(0).unwrap_or_default(), values.remove(0));
    if let Err(error) = admin::may_delete(app, &console.actor, &email).await {
        return refused(app, console, &email, error).await;
    }
    if confirm.as_deref() != Some("yes") {
        let page = console::confirm(ConfirmStep::Delete, &email, needed(app, console).await?, &FieldErrors::new());
        return Ok(response::page(200, page));
    }
    if let Confirmed::No(with) = confirmed(app, console, &typed).await? {
        let page = console::confirm(ConfirmStep::Delete, &email, Some(with), &wrong_proof(with));
        return Ok(response::page(403, page));
    }
    let job = request_deletions(app, &console.actor, &[(1, email)], None).await?;
    Ok(to_job(&job.id))
}

/// "Remove second factors" on a card: first the confirm step, then the removal (refused for an
/// operator's account, audited, the learner mailed); back to the card.
async fn remove_second_factors(app: &App, req: &Request, console: &mut Console) -> Result<Reply, ApiError> {
    let mut values = form_fields(req, &["email"], &with_confirmation(&["confirm"]))?;
    let typed = Typed::take(&mut values);
    let (email, confirm) = (values.remove(0).unwrap_or_default(), values.remove(0));
    if let Err(error) = admin::may_remove_second_factors(app, &console.actor, &email).await {
        return match error {
            SupportError::InvalidEmail(_) => learner_page(app, console, 422, &email, None, &FieldErrors::new()).await,
            other => refused(app, console, &email, other).await,
        };
    }
    let step = ConfirmStep::RemoveSecondFactors;
    if confirm.as_deref() != Some("yes") {
        let page = console::confirm(step, &email, needed(app, console).await?, &FieldErrors::new());
        return Ok(response::page(200, page));
    }
    if let Confirmed::No(with) = confirmed(app, console, &typed).await? {
        return Ok(response::page(403, console::confirm(step, &email, Some(with), &wrong_proof(with))));
    }
    match admin::remove_second_factors(app, &console.actor, &email).await {
        Ok(()) => Ok(to_card(&email, "factors_removed")),
        Err(error) => refused(app, console, &email, error).await,
    }
}

impl UploadError {
    fn message(&self) -> String {
        match self {
            UploadError::Columns(message) | UploadError::File(message) => message.clone(),
            UploadError::Empty => "The file has no header row.".to_owned(),
            UploadError::KeyReused => "This file was sent with a key used for another file.".to_owned(),
            UploadError::Unexpected(_) => "The file could not be read.".to_owned(),
        }
    }
}

fn upload_refused(error: UploadError) -> Result<Reply, ApiError> {
    if let UploadError::Unexpected(e) = error {
        return Err(unexpected(e));
    }
    let errors = FieldErrors::from([("csv_file".to_owned(), error.message())]);
    Ok(response::page(400, console::bulk_upload(&errors)))
}

/// One part of a multipart form, all of its other parts refused.
async fn only_part(req: &Request, name: &str) -> Result<Vec<u8>, ApiError> {
    let mut parts = Parts::from_request(req, MAX_UPLOAD_BYTES).await?;
    let bytes = parts.bytes(name);
    let mut errors = FieldErrors::new();
    parts.finish(&mut errors);
    match bytes {
        Some(bytes) if errors.is_empty() => Ok(bytes),
        _ => {
            errors.entry(name.to_owned()).or_insert_with(|| "This field is required.".to_owned());
            Err(ApiError::validation(errors))
        }
    }
}

async fn bulk_check(app: &App, req: &Request, console: &Console) -> Result<Reply, ApiError> {
    let bytes = only_part(req, "csv_file").await?;
    // Decoded here (UTF-16 as UTF-8): the checked text goes back in the form's hidden field.
    let (csv, notes) = match crate::jobs::spreadsheet::decode_whole(&bytes) {
        Ok(decoded) => decoded,
        Err(error) => return upload_refused(error.into()),
    };
    bulk_checked(app, 200, &csv, &notes, needed(app, console).await?, &FieldErrors::new()).await
}

/// The dry run of `csv`, and the button that registers its good rows. `notes`: what was done
/// to read the file before (its encoding), shown with the check's own.
async fn bulk_checked(
    app: &App,
    status: u16,
    csv: &str,
    notes: &[String],
    needed: Option<AskFor>,
    errors: &FieldErrors,
) -> Result<Reply, ApiError> {
    match dry_run(app, csv.as_bytes()).await {
        Ok(checked) => {
            let warnings: Vec<String> = notes.iter().chain(&checked.warnings).cloned().collect();
            let page = console::bulk_checked(checked.rows, &checked.problems, &warnings, csv, needed, errors);
            Ok(response::page(status, page))
        }
        Err(error) => upload_refused(error),
    }
}

/// "Register N learners": the file checked before, once the operator has confirmed.
async fn bulk_register(app: &App, req: &Request, console: &mut Console) -> Result<Reply, ApiError> {
    let mut parts = Parts::from_request(req, MAX_UPLOAD_BYTES).await?;
    let mut errors = FieldErrors::new();
    let bytes = parts.bytes("csv");
    // "Send each learner an invitation" (a checkbox, off by default): recorded on the job.
    let invite = parts.text("invite", &mut errors).is_some_and(|v| v == "true");
    let mut values: Vec<Option<String>> =
        CONFIRMATION_FIELDS.iter().map(|name| parts.text(name, &mut errors)).collect();
    let typed = Typed::take(&mut values);
    parts.finish(&mut errors);
    let Some(bytes) = bytes.filter(|_| errors.is_empty()) else {
        errors.entry("csv".to_owned()).or_insert_with(|| "This field is required.".to_owned());
        return Err(ApiError::validation(errors));
    };
    if let Confirmed::No(with) = confirmed(app, console, &typed).await? {
        let Ok(csv) = String::from_utf8(bytes) else {
            return upload_refused(UploadError::File("The file is not UTF-8 text.".to_owned()));
        };
        return bulk_checked(app, 403, &csv, &[], Some(with), &wrong_proof(with)).await;
    }
    match upload_with(app, &console.actor, &bytes, None, invite).await {
        Ok(job) => Ok(to_job(&job.id)),
        Err(error) => upload_refused(error),
    }
}

/// The list a deletions form sent: a CSV file when one was chosen, else the pasted lines.
/// Returns the list, how to send it again (`csv` or `lines`, and the text: a file decoded to
/// UTF-8), and what was done to read the file.
async fn posted_list(req: &Request) -> Result<(Vec<(u64, String)>, &'static str, String, Vec<String>), FieldErrors> {
    let mut parts = Parts::from_request(req, MAX_UPLOAD_BYTES)
        .await
        .map_err(|e| FieldErrors::from([("emails".to_owned(), e.message)]))?;
    let mut errors = FieldErrors::new();
    let pasted = parts.text("emails", &mut errors).unwrap_or_default();
    let file = parts.bytes("csv_file").unwrap_or_default();
    let source = parts.text("source", &mut errors);
    parts.finish(&mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let from_csv = source.as_deref() == Some("csv") || (source.is_none() && !file.is_empty());
    let file_error = |e: String| FieldErrors::from([("csv_file".to_owned(), e)]);
    let (list, kind, text, warnings) = if from_csv {
        let (text, _) = if file.is_empty() {
            (pasted, Vec::new())
        } else {
            crate::jobs::spreadsheet::decode_whole(&file).map_err(|e| file_error(e.to_string()))?
        };
        let read = read_list(text.as_bytes()).map_err(|e| file_error(e.to_string()))?;
        // The file's own notes (its encoding) come from the bytes as sent.
        let notes = if file.is_empty() {
            read.warnings
        } else {
            read_list(file.as_slice()).map(|r| r.warnings).unwrap_or(read.warnings)
        };
        (read.emails, "csv", text, notes)
    } else {
        (emails_from_lines(&pasted), "lines", pasted, Vec::new())
    };
    check_list(&list).map_err(|e| FieldErrors::from([("emails".to_owned(), e.to_string())]))?;
    Ok((list, kind, text, warnings))
}

/// A list's check as the page shows it.
fn shown(check: &DeletionCheck) -> console::ListChecked<'_> {
    console::ListChecked {
        lines: check.lines,
        addresses: check.addresses,
        accounts: check.accounts,
        repeated: check.repeated,
        invalid: &check.invalid,
        operator_rows: &check.operator_rows,
    }
}

async fn deletions_check(app: &App, req: &Request, console: &Console) -> Result<Reply, ApiError> {
    let (list, kind, text, warnings) = match posted_list(req).await {
        Ok(posted) => posted,
        Err(errors) => return Ok(response::page(422, console::deletions_form(&errors))),
    };
    let check = check_deletions(app, &list).await.map_err(unexpected)?;
    let needed = needed(app, console).await?;
    let checked = console::deletions_checked(&shown(&check), &warnings, kind, &text, needed, &FieldErrors::new());
    Ok(response::page(200, checked))
}

async fn deletions(app: &App, req: &Request, console: &mut Console) -> Result<Reply, ApiError> {
    let mut parts = Parts::from_request(req, MAX_UPLOAD_BYTES).await?;
    let mut errors = FieldErrors::new();
    let kind = parts.text("source", &mut errors).unwrap_or_default();
    let text = parts.text("list", &mut errors).unwrap_or_default();
    let mut values: Vec<Option<String>> =
        CONFIRMATION_FIELDS.iter().map(|name| parts.text(name, &mut errors)).collect();
    let typed = Typed::take(&mut values);
    parts.finish(&mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let (list, warnings) = if kind == "csv" {
        let read = read_list(text.as_bytes()).map_err(|e| ApiError::bad_request(e.to_string()))?;
        (read.emails, read.warnings)
    } else {
        (emails_from_lines(&text), Vec::new())
    };
    check_list(&list).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if let Confirmed::No(with) = confirmed(app, console, &typed).await? {
        let check = check_deletions(app, &list).await.map_err(unexpected)?;
        let kind = if kind == "csv" { "csv" } else { "lines" };
        let again = console::deletions_checked(&shown(&check), &warnings, kind, &text, Some(with), &wrong_proof(with));
        return Ok(response::page(403, again));
    }
    let job = request_deletions(app, &console.actor, &list, None).await?;
    Ok(to_job(&job.id))
}

async fn job(app: &App, req: &Request) -> Result<Reply, ApiError> {
    let id = path_param(req, "job_id").unwrap_or_default();
    let cursor = crate::jobs::parse_cursor(query_param(req, "cursor").as_deref())?;
    let Some(progress) = crate::jobs::progress(app, &id).await.map_err(unexpected)? else {
        return Ok(response::route_not_found());
    };
    let problems = crate::jobs::problems_page(app, &progress.job, cursor, |_| true).await.map_err(unexpected)?;
    let done = matches!(progress.status, JobStatus::Completed | JobStatus::CutOff);
    let mut response = response::page(200, console::job(&progress, &problems));
    if !done {
        // Loads the page again in 2 seconds: progress without JavaScript.
        response.headers_mut().insert("refresh", http::HeaderValue::from_static("2"));
    }
    Ok(response)
}

async fn report(app: &App, req: &Request) -> Result<Reply, ApiError> {
    let id = path_param(req, "job_id").unwrap_or_default();
    let cursor = crate::jobs::parse_cursor(query_param(req, "cursor").as_deref())?;
    let Some(progress) = crate::jobs::progress(app, &id).await.map_err(unexpected)? else {
        return Ok(response::route_not_found());
    };
    super::row_jobs::report_response(app, &progress.job, cursor).await
}

/// The Applications page, with the applications as they are now.
async fn applications_page(
    app: &App,
    status: u16,
    form: &ApplicationForm,
    errors: &FieldErrors,
    notice: Option<&str>,
    secret: Option<ShownSecret<'_>>,
) -> Result<Reply, ApiError> {
    let found = clients::list(app).await.map_err(client_error)?;
    Ok(response::page(status, console::applications(&found, form, errors, notice, secret)))
}

fn client_error(error: ClientError) -> ApiError {
    match error {
        ClientError::Unexpected(e) => unexpected(e),
        ClientError::Invalid(fields) => ApiError::validation(fields),
        ClientError::NotFound => ApiError::bad_request("No application has this id."),
        ClientError::PublicClient => ApiError::bad_request("A public application has no secret."),
    }
}

async fn applications(app: &App, req: &Request) -> Result<Reply, ApiError> {
    let notice = match query_param(req, "done").as_deref() {
        Some("removed") => Some("The application is removed: it can no longer sign learners in."),
        _ => None,
    };
    applications_page(app, 200, &ApplicationForm::default(), &FieldErrors::new(), notice, None).await
}

/// A textarea's URIs: one per non-blank line.
fn uri_lines(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|line| !line.is_empty()).map(str::to_owned).collect()
}

/// "Register an application": the page itself answers (201), with the secret shown this once,
/// so that the secret is never in an address.
async fn register_application(app: &App, req: &Request, console: &Console) -> Result<Reply, ApiError> {
    let mut fields = Fields::from_request(req)?;
    let mut errors = FieldErrors::new();
    let name = fields.string("name", &mut errors).unwrap_or_default();
    let redirect_uris = fields.optional_string("redirect_uris", &mut errors).unwrap_or_default();
    let post_logout_redirect_uris =
        fields.optional_string("post_logout_redirect_uris", &mut errors).unwrap_or_default();
    let public = fields.boolean("public", &mut errors);
    fields.finish(&mut errors);
    let form = ApplicationForm { name, redirect_uris, post_logout_redirect_uris, public };
    if !errors.is_empty() {
        return applications_page(app, 422, &form, &errors, None, None).await;
    }
    let new = NewClient {
        name: form.name.clone(),
        redirect_uris: uri_lines(&form.redirect_uris),
        post_logout_redirect_uris: uri_lines(&form.post_logout_redirect_uris),
        public: form.public,
    };
    match clients::register(app, &console.actor, &new).await {
        Ok((client, Some(secret))) => {
            let shown = ShownSecret { name: &client.name, client_id: client.id.as_str(), secret: secret.as_str() };
            let notice = Some("The application is registered.");
            applications_page(app, 201, &ApplicationForm::default(), &FieldErrors::new(), notice, Some(shown)).await
        }
        Ok((_, None)) => {
            let notice = Some("The public application is registered: it has no secret and must use PKCE.");
            applications_page(app, 201, &ApplicationForm::default(), &FieldErrors::new(), notice, None).await
        }
        Err(ClientError::Invalid(errors)) => applications_page(app, 422, &form, &errors, None, None).await,
        Err(other) => Err(client_error(other)),
    }
}

/// A problem with the application a button named, on the Applications page.
async fn application_refused(app: &App, status: u16, error: ClientError) -> Result<Reply, ApiError> {
    let notice = match error {
        ClientError::NotFound => "No application has this id (was it removed?).",
        ClientError::PublicClient => "A public application has no secret.",
        other => return Err(client_error(other)),
    };
    applications_page(app, status, &ApplicationForm::default(), &FieldErrors::new(), Some(notice), None).await
}

/// "New secret": the old one stops working at once; the new one is shown this once.
async fn new_secret(app: &App, req: &Request, console: &Console) -> Result<Reply, ApiError> {
    let id = form_fields(req, &["client_id"], &[])?.remove(0).unwrap_or_default();
    match clients::rotate_secret(app, &console.actor, &id).await {
        Ok(secret) => {
            let found = clients::list(app).await.map_err(client_error)?;
            let name = found.iter().find(|c| c.id.as_str() == id).map(|c| c.name.clone()).unwrap_or_default();
            let shown = ShownSecret { name: &name, client_id: &id, secret: secret.as_str() };
            let notice = Some("A new secret is made: the old one no longer works.");
            let page =
                console::applications(&found, &ApplicationForm::default(), &FieldErrors::new(), notice, Some(shown));
            Ok(response::page(200, page))
        }
        Err(e @ ClientError::NotFound) => application_refused(app, 404, e).await,
        Err(e @ ClientError::PublicClient) => application_refused(app, 422, e).await,
        Err(other) => Err(client_error(other)),
    }
}

/// "Remove": first the confirm step, then the removal; back to the list.
async fn remove_application(app: &App, req: &Request, console: &Console) -> Result<Reply, ApiError> {
    let mut values = form_fields(req, &["client_id"], &["confirm"])?;
    let (id, confirm) = (values.remove(0).unwrap_or_default(), values.remove(0));
    if confirm.as_deref() != Some("yes") {
        let found = clients::list(app).await.map_err(client_error)?;
        return match found.iter().find(|c| c.id.as_str() == id) {
            Some(client) => Ok(response::page(200, console::application_remove(client))),
            None => application_refused(app, 404, ClientError::NotFound).await,
        };
    }
    match clients::remove(app, &console.actor, &id).await {
        Ok(()) => Ok(response::see_other("/operator/applications?done=removed")),
        Err(e @ ClientError::NotFound) => application_refused(app, 404, e).await,
        Err(other) => Err(client_error(other)),
    }
}

/// "Search learners" and "Locked now" (`flows::directory`): a page of learners, 50 at a time.
async fn find_learners(app: &App, req: &Request, console: &Console) -> Result<Reply, ApiError> {
    use crate::flows::directory::{self, day_of, FindError, FindRequest};
    let (request, error) = match FindRequest::parse(|name| query_param(req, name)) {
        Ok(request) => (request, None),
        Err(FindError::Invalid(_, why)) => (FindRequest::default(), Some(why)),
        Err(FindError::Unexpected(e)) => return Err(unexpected(e)),
    };
    let q = query_param(req, "q").unwrap_or_default();
    let form = console::ListForm {
        q: q.trim(),
        status: request.status,
        source: request.source,
        created_from: request.created_from.map(day_of).unwrap_or_default(),
        created_to: request.created_to.map(day_of).unwrap_or_default(),
    };
    if let Some(error) = error {
        return Ok(response::page(400, console::learner_list(&form, &[], None, None, Some(&error))));
    }
    if query_param(req, "format").as_deref() == Some("csv") {
        return learners_export::csv(app, &request, console).await;
    }
    let found = match directory::find(app, &request).await {
        Ok(found) => found,
        Err(FindError::Invalid(_, why)) => {
            return Ok(response::page(400, console::learner_list(&form, &[], None, None, Some(&why))))
        }
        Err(FindError::Unexpected(e)) => return Err(unexpected(e)),
    };
    let rows: Vec<console::ListedRow> = found
        .learners
        .iter()
        .map(|l| console::ListedRow {
            email: l.user.email.to_string(),
            username: l.user.username.to_string(),
            name: l.user.name.to_string(),
            status: match (l.user.disabled_at, l.user.status) {
                (Some(_), _) => "disabled".to_owned(),
                (None, status) => status.as_str().replace('_', " "),
            },
            source: l.user.source.as_str().to_owned(),
            created: l.user.created_at,
            locked_until: l.locked_until,
        })
        .collect();
    let next = found.next.map(|cursor| {
        let query = request.query_string();
        let separator = if query.is_empty() { "" } else { "&" };
        format!("/operator/learners?{query}{separator}cursor={}", cursor.encode())
    });
    let export = learners_export::link(&request);
    Ok(response::page(200, console::learner_list(&form, &rows, next, Some(export), None)))
}

/// "Past jobs": bulk registrations and deletions, newest first.
async fn past_jobs(app: &App, req: &Request) -> Result<Reply, ApiError> {
    use crate::flows::directory::{self, FindError};
    match directory::recent_jobs(app, query_param(req, "cursor").as_deref()).await {
        Ok((jobs, next)) => {
            let rows: Vec<console::JobRow> = jobs.iter().map(console::job_row).collect();
            let next = next.map(|cursor| format!("/operator/jobs?cursor={}", cursor.encode()));
            Ok(response::page(200, console::past_jobs(&rows, next, None)))
        }
        Err(FindError::Invalid(_, why)) => Ok(response::page(400, console::past_jobs(&[], None, Some(&why)))),
        Err(FindError::Unexpected(e)) => Err(unexpected(e)),
    }
}
