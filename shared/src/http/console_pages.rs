//! The operator console's pages (`/operator`): server-rendered forms that work without
//! JavaScript, in the same layout as the learners' pages, one template each under
//! `shared/templates/console/`. The visible labels ("Learner email", "Proceed", "Activate"...)
//! are how people and tests find the controls.

pub use super::pages::urlencode;
use super::pages::{Input, Page};
use super::FieldErrors;
use crate::domain::oidc::{OidcClient, RedirectUri};
use crate::domain::{
    Actor, JobKind, JobProgress, JobStatus, MailRefusalKind, PasswordPolicy, RowOutcome, RowResult, Timestamp,
    UserStatus, UserView,
};
use crate::jobs::deletion::MAX_EMAILS;
use crate::jobs::{Paged, REPORT_ROWS_PER_PAGE};
use askama::Template;

mod settings;
pub use settings::{settings_page, settings_restore, settings_values, SettingsView, VERSION_FIELD};
mod uploads;
pub use uploads::{upload_options, upload_send};

fn console_page(title: &str, body: &impl Template) -> Page {
    Page { wide: true, ..Page::new(title, body) }
}

pub(crate) fn when(at: Option<Timestamp>) -> String {
    at.map(|t| t.to_rfc3339().replace('T', " ").replace('Z', " UTC")).unwrap_or_else(|| "—".to_owned())
}

/// What the operator's confirmation asks for (`flows::admin::AskFor`, as the page shows it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AskFor {
    Password,
    /// A code (or a recovery code) where the operator has either (`codes`), or a passkey where
    /// they have one.
    SecondFactor {
        passkeys: bool,
        codes: bool,
    },
}

/// What an account has as second factors, on its card.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FactorsSummary {
    pub authenticator: bool,
    pub passkeys: usize,
    pub recovery_codes: usize,
}

impl FactorsSummary {
    pub fn any(&self) -> bool {
        self.authenticator || self.passkeys > 0 || self.recovery_codes > 0
    }
}

/// What a sensitive action's form asks for, when the operator has not confirmed in the last
/// 5 minutes: "Your password", or (an operator with a second factor, or where one is required)
/// "Code from your app", which takes a recovery code too, and a passkey where they have one.
pub(crate) struct ConfirmField<'a> {
    input: Input<'a>,
    second_factor: bool,
    passkeys: bool,
    codes: bool,
}

/// The form field of each kind of confirmation.
pub const PASSWORD_FIELD: &str = "your_password";
pub const CODE_FIELD: &str = "your_code";

pub(crate) fn confirm_field(needed: Option<AskFor>, errors: &FieldErrors) -> Option<ConfirmField<'_>> {
    needed.map(|with| match with {
        AskFor::Password => ConfirmField {
            input: Input::current_password(PASSWORD_FIELD, "Your password", errors),
            second_factor: false,
            passkeys: false,
            codes: false,
        },
        AskFor::SecondFactor { passkeys, codes } => ConfirmField {
            input: Input::new(CODE_FIELD, "Code from your app", "text", "one-time-code", errors).length(None, 32),
            second_factor: true,
            passkeys,
            codes,
        },
    })
}

/// The first problem of a form that shows one, above it.
fn first_problem(errors: &FieldErrors) -> Option<&str> {
    errors.values().next().map(String::as_str)
}

/// What the card's actions need to know besides the account.
pub struct CardContext<'a> {
    /// What a sensitive action needs proven again (None: proven in the last 5 minutes).
    pub confirm: Option<AskFor>,
    /// The learner's second factors.
    pub factors: FactorsSummary,
    /// Problems of the "Set password" form.
    pub password_errors: &'a FieldErrors,
    /// The rules a new password must meet (its input's length limits).
    pub password_policy: PasswordPolicy,
    /// The "Change email" form: the address typed (kept when refused) and its problems.
    pub new_email: &'a str,
    pub email_errors: &'a FieldErrors,
}

/// A learner's card: the account, and the actions its state allows.
struct Card<'a> {
    email: &'a str,
    /// `email` as a query value.
    email_query: String,
    username: &'a str,
    name: &'a str,
    status: String,
    source: &'a str,
    created: String,
    activated: String,
    failed: u32,
    locked: String,
    devices: u32,
    device_failures: u32,
    operator: bool,
    mail: String,
    pending: bool,
    unlockable: bool,
    /// The address refused mail: the operator may clear it.
    mail_refused: bool,
    /// Not on its way out: a password can be set and the account deleted.
    removable: bool,
    /// When an operator disabled it, as a person reads it; None while enabled.
    disabled: Option<String>,
    new_password: Input<'a>,
    /// "New email", of the "Change email" form.
    new_email: Input<'a>,
    /// The learner's second factors as a person reads them ("none" when there are none).
    factors: String,
    has_factors: bool,
}

/// "an authenticator app, 1 passkey, 10 recovery codes", or "none".
fn factors_text(factors: &FactorsSummary) -> String {
    let plural = |n: usize, one: &str| if n == 1 { format!("1 {one}") } else { format!("{n} {one}s") };
    let mut parts = Vec::new();
    if factors.authenticator {
        parts.push("an authenticator app".to_owned());
    }
    if factors.passkeys > 0 {
        parts.push(plural(factors.passkeys, "passkey"));
    }
    if factors.recovery_codes > 0 {
        parts.push(plural(factors.recovery_codes, "recovery code"));
    }
    if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join(", ")
    }
}

impl<'a> Card<'a> {
    fn new(view: &'a UserView, context: &CardContext<'a>) -> Self {
        let mail = match &view.mail_refused {
            None => "no bounce or complaint reported".to_owned(),
            Some(refusal) => format!(
                "not sent: the address {} on {} (no mail until it is cleared or the email changes; a reset link the learner asks for a day later goes out)",
                match refusal.kind {
                    MailRefusalKind::Bounce => "bounced",
                    MailRefusalKind::Complaint => "marked our mail as spam",
                },
                when(Some(refusal.at)),
            ),
        };
        Self {
            email: &view.email,
            email_query: urlencode(&view.email),
            username: &view.username,
            name: &view.name,
            status: view.status.as_str().replace('_', " "),
            source: view.source.as_str(),
            created: when(Some(view.created_at)),
            activated: when(view.activated_at),
            failed: view.failed_logins,
            locked: when(view.locked_until),
            devices: view.known_devices,
            device_failures: view.known_device_failed_logins,
            operator: view.operator,
            mail,
            pending: view.status == UserStatus::PendingActivation,
            unlockable: view.failed_logins > 0 || view.locked_until.is_some(),
            mail_refused: view.mail_refused.is_some(),
            removable: view.status != UserStatus::RemovalRequested,
            disabled: view.disabled_at.map(|at| when(Some(at))),
            new_password: Input::new_password(
                "password",
                "New password",
                context.password_policy,
                context.password_errors,
            ),
            new_email: Input::email("new_email", "New email", "off", context.new_email, context.email_errors),
            factors: factors_text(&context.factors),
            has_factors: context.factors.any(),
        }
    }
}

#[derive(Template)]
#[template(path = "console/learners.html")]
struct Learners<'a> {
    notice: Option<&'a str>,
    lookup: Input<'a>,
    card: Option<Card<'a>>,
    /// The operator's confirmation under "Set password", when needed.
    confirm: Option<ConfirmField<'a>>,
}

/// The Learners page: the look-up form, and the card of the learner found (if any).
pub fn learners(
    email: &str,
    found: Option<(&UserView, CardContext<'_>)>,
    notice: Option<&str>,
    errors: &FieldErrors,
) -> Page {
    let (card, confirm) = match &found {
        Some((view, context)) => {
            (Some(Card::new(view, context)), confirm_field(context.confirm, context.password_errors))
        }
        None => (None, None),
    };
    let page = Learners { notice, lookup: Input::email("email", "Learner email", "off", email, errors), card, confirm };
    console_page("Learners", &page)
}

/// A card's action that has a confirm step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfirmStep {
    Delete,
    Activate,
    RemoveSecondFactors,
    Disable,
    Enable,
    SendResetLink,
    ResendActivation,
    SignOutEverywhere,
}

#[derive(Template)]
#[template(path = "console/confirm.html")]
struct Confirm<'a> {
    /// Where the form posts.
    action: &'static str,
    /// The question, around the learner's address.
    before: &'static str,
    after: &'static str,
    button: &'static str,
    danger: bool,
    email: &'a str,
    email_query: String,
    confirm: Option<ConfirmField<'a>>,
}

/// The confirm step of a card's action ("Delete account", "Remove second factors", or
/// "Activate" when the operator has not confirmed recently).
pub fn confirm(step: ConfirmStep, email: &str, needed: Option<AskFor>, errors: &FieldErrors) -> Page {
    let (title, action, before, after, button, danger) = match step {
        ConfirmStep::Delete => (
            "Delete account",
            "/operator/delete",
            "Delete the account of",
            ", with everything that is its own? This cannot be undone.",
            "Yes, delete this account",
            true,
        ),
        ConfirmStep::Activate => (
            "Activate account",
            "/operator/activate",
            "Activate the account of",
            "? Whoever registered the address can then sign in, without having proven it is theirs.",
            "Yes, activate this account",
            false,
        ),
        ConfirmStep::RemoveSecondFactors => (
            "Remove second factors",
            "/operator/remove-second-factors",
            "Remove every second factor (authenticator app, passkeys, recovery codes) of",
            "? Signing in will then take the password alone. The learner is mailed a notice.",
            "Yes, remove the second factors",
            true,
        ),
        ConfirmStep::Disable => (
            "Disable account",
            "/operator/disable",
            "Disable the account of",
            "? It cannot sign in, every session and emailed link of it ends, and it gets no mail but a notice of this, until it is enabled again.",
            "Yes, disable this account",
            true,
        ),
        ConfirmStep::Enable => (
            "Enable account",
            "/operator/enable",
            "Enable the account of",
            "? It can sign in again with its password.",
            "Yes, enable this account",
            false,
        ),
        ConfirmStep::SendResetLink => (
            "Send a reset link",
            "/operator/reset-link",
            "Mail a link to choose a new password to",
            "? The password stays as it is until the learner uses the link.",
            "Yes, send a reset link",
            false,
        ),
        ConfirmStep::ResendActivation => (
            "Resend the activation link",
            "/operator/activation-link",
            "Mail a new activation link to",
            "? The links sent before stop working.",
            "Yes, resend the activation link",
            false,
        ),
        ConfirmStep::SignOutEverywhere => (
            "Sign out everywhere",
            "/operator/sign-out",
            "End every session of",
            "? The learner is signed out in every browser and application, and the links mailed before stop working.",
            "Yes, sign out everywhere",
            false,
        ),
    };
    let page = Confirm {
        action,
        before,
        after,
        button,
        danger,
        email,
        email_query: urlencode(email),
        confirm: confirm_field(needed, errors),
    };
    console_page(title, &page)
}

#[derive(Template)]
#[template(path = "console/confirm_email.html")]
struct ConfirmEmail<'a> {
    email: &'a str,
    new_email: &'a str,
    email_query: String,
    /// What the change does to this account.
    consequence: &'static str,
    confirm: Option<ConfirmField<'a>>,
}

/// The confirm step of "Change email": both addresses side by side (a typo caught here is one
/// not mailed), what the change does, and the operator's confirmation when it is needed.
pub fn confirm_email_change(
    email: &str,
    new_email: &str,
    pending: bool,
    needed: Option<AskFor>,
    errors: &FieldErrors,
) -> Page {
    let consequence = if pending {
        "The account waits for activation: a new activation link goes to the new address, and the links sent to the old one stop working. The old address is told nothing."
    } else {
        "Both addresses are mailed a notice of the change, and every session of the learner ends: the learner signs in again with the new address."
    };
    let page = ConfirmEmail {
        email,
        new_email,
        email_query: urlencode(email),
        consequence,
        confirm: confirm_field(needed, errors),
    };
    console_page("Change email", &page)
}

#[derive(Template)]
#[template(path = "console/bulk_upload.html")]
struct BulkUpload<'a> {
    problem: Option<&'a str>,
    attempt: String,
}

pub fn bulk_upload(errors: &FieldErrors) -> Page {
    console_page("Bulk registration", &BulkUpload { problem: first_problem(errors), attempt: uploads::new_attempt() })
}

/// One line of a table of problem rows.
struct ProblemRow<'a> {
    row: u64,
    email: &'a str,
    result: String,
    message: &'a str,
}

fn problem_rows(kind: JobKind, problems: &[RowOutcome]) -> Vec<ProblemRow<'_>> {
    problems
        .iter()
        .map(|p| ProblemRow {
            row: p.row,
            email: &p.email,
            result: kind.outcome_name(p.result).replace('_', " "),
            message: &p.message,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "console/bulk_checked.html")]
struct BulkChecked<'a> {
    rows: u64,
    good: u64,
    problems: Vec<ProblemRow<'a>>,
    warnings: &'a [String],
    csv: &'a str,
    confirm: Option<ConfirmField<'a>>,
}

/// The dry run of a file: its rows and problems, and the button that registers the rest
/// (with the operator's confirmation, when it is needed).
pub fn bulk_checked<'a>(
    rows: u64,
    problems: &'a [RowOutcome],
    warnings: &'a [String],
    csv: &'a str,
    needed: Option<AskFor>,
    errors: &'a FieldErrors,
) -> Page {
    let page = BulkChecked {
        rows,
        good: rows.saturating_sub(problems.len() as u64),
        problems: problem_rows(JobKind::BulkRegistration, problems),
        warnings,
        csv,
        confirm: confirm_field(needed, errors),
    };
    console_page("Check file", &page)
}

#[derive(Template)]
#[template(path = "console/deletions_form.html")]
struct DeletionsForm<'a> {
    problem: Option<&'a str>,
    /// As people write it: "10,000".
    max_emails: String,
    attempt: String,
}

pub fn deletions_form(errors: &FieldErrors) -> Page {
    let page = DeletionsForm {
        problem: first_problem(errors),
        max_emails: thousands(MAX_EMAILS),
        attempt: uploads::new_attempt(),
    };
    console_page("Deletions", &page)
}

/// `10000` as "10,000".
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[derive(Template)]
#[template(path = "console/deletions_checked.html")]
struct DeletionsChecked<'a> {
    lines: usize,
    addresses: usize,
    accounts: usize,
    repeated: usize,
    invalid: &'a [(u64, String, String)],
    operator_rows: String,
    operators: usize,
    warnings: &'a [String],
    source: &'a str,
    list: &'a str,
    confirm: Option<ConfirmField<'a>>,
}

/// A deletion list checked (`flows::removal::DeletionCheck`, as the handler hands it over).
pub struct ListChecked<'a> {
    pub lines: usize,
    pub addresses: usize,
    pub accounts: usize,
    pub repeated: usize,
    pub invalid: &'a [(u64, String, String)],
    pub operator_rows: &'a [u64],
}

/// A checked list: its lines, the addresses (each once, whatever its case), how many name an
/// account, the lines that are no address, the rows naming an operator's account (which no
/// list deletes), and the confirm step. `source` says how `list` is to be read again: `csv`
/// (a file's text) or `lines`.
pub fn deletions_checked<'a>(
    check: &ListChecked<'a>,
    warnings: &'a [String],
    source: &'a str,
    list: &'a str,
    needed: Option<AskFor>,
    errors: &'a FieldErrors,
) -> Page {
    let page = DeletionsChecked {
        lines: check.lines,
        addresses: check.addresses,
        accounts: check.accounts,
        repeated: check.repeated,
        invalid: check.invalid,
        operator_rows: check.operator_rows.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
        operators: check.operator_rows.len(),
        warnings,
        source,
        list,
        confirm: confirm_field(needed, errors),
    };
    console_page("Check list", &page)
}

#[derive(Template)]
#[template(path = "console/job.html")]
struct Job<'a> {
    id: &'a str,
    /// `id` as a path segment.
    id_path: String,
    status: String,
    total: u64,
    counts: Vec<(String, u64)>,
    by: String,
    started: String,
    cut_off: bool,
    /// Waiting for its uploaded file, or reading it (no total yet).
    receiving: bool,
    done: bool,
    problems: Vec<ProblemRow<'a>>,
    /// The next page's cursor, as a query value.
    next_cursor: Option<String>,
    in_parts: bool,
    rows_per_part: usize,
}

/// A job's progress, counts and a page of its problem rows. Until it completes, the response
/// asks the browser to load it again (the `Refresh` header), so it updates without JavaScript.
pub fn job(progress: &JobProgress, problems: &Paged<RowOutcome>) -> Page {
    let job = &progress.job;
    let title = match job.kind {
        JobKind::BulkRegistration => "Bulk registration job",
        JobKind::Deletion => "Deletion job",
    };
    let counts = [RowResult::Done, RowResult::Skipped, RowResult::Failed]
        .into_iter()
        .map(|result| {
            let name = job.kind.outcome_name(result).replace('_', " ");
            let label = name[..1].to_uppercase() + &name[1..];
            (label, progress.counts.of_result(result))
        })
        .collect();
    let page = Job {
        id: &job.id,
        id_path: urlencode(&job.id),
        status: progress.status.as_str().replace('_', " "),
        total: job.total,
        counts,
        by: Actor::from_record(&job.operator).label().to_owned(),
        started: when(Some(job.created_at)),
        cut_off: progress.status == JobStatus::CutOff,
        receiving: progress.status == JobStatus::Receiving,
        done: matches!(progress.status, JobStatus::Completed | JobStatus::CutOff),
        problems: problem_rows(job.kind, &problems.items),
        next_cursor: problems.next_cursor.as_deref().map(urlencode),
        in_parts: job.total as usize > REPORT_ROWS_PER_PAGE,
        rows_per_part: REPORT_ROWS_PER_PAGE,
    };
    console_page(title, &page)
}

/// One line of the audit page.
pub struct AuditLine {
    pub at: Timestamp,
    pub who: String,
    pub action: String,
    /// The learner's email, or what is left of them.
    pub learner: String,
    pub outcome: String,
}

struct AuditRow<'a> {
    when: String,
    who: &'a str,
    action: &'a str,
    learner: &'a str,
    outcome: &'a str,
}

/// The audit page's filters as asked (what the page shows again).
#[derive(Default)]
pub struct AuditForm<'a> {
    pub operator: &'a str,
    pub action: &'a str,
    pub learner: &'a str,
    pub from: String,
    pub to: String,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct Audit<'a> {
    operator: &'a str,
    action: &'a str,
    learner: &'a str,
    from: &'a str,
    to: &'a str,
    error: Option<&'a str>,
    filtered: bool,
    lines: Vec<AuditRow<'a>>,
    next: Option<String>,
    export: String,
}

/// The audit page: the filters, a page of entries, "Next page" and "Export" (links the handler
/// builds, always to `/operator/audit?...`).
pub fn audit(
    form: &AuditForm<'_>,
    lines: &[AuditLine],
    next: Option<String>,
    export: String,
    error: Option<&str>,
) -> Page {
    let lines = lines
        .iter()
        .map(|l| AuditRow {
            when: when(Some(l.at)),
            who: &l.who,
            action: &l.action,
            learner: &l.learner,
            outcome: &l.outcome,
        })
        .collect();
    let filtered = [form.operator, form.action, form.learner, &form.from, &form.to].iter().any(|v| !v.is_empty());
    let page = Audit {
        operator: form.operator,
        action: form.action,
        learner: form.learner,
        from: &form.from,
        to: &form.to,
        error,
        filtered,
        lines,
        next,
        export,
    };
    console_page("Audit", &page)
}

/// The "Register an application" form as the operator filled it in (URIs one per line).
#[derive(Debug, Default)]
pub struct ApplicationForm {
    pub name: String,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub public: bool,
}

/// A secret just made, shown on this one page and never again.
pub struct ShownSecret<'a> {
    pub name: &'a str,
    pub client_id: &'a str,
    pub secret: &'a str,
}

/// One line of the applications table.
struct ApplicationRow<'a> {
    name: &'a str,
    client_id: &'a str,
    public: bool,
    redirect_uris: Vec<&'a str>,
    post_logout_redirect_uris: Vec<&'a str>,
    created: String,
}

#[derive(Template)]
#[template(path = "console/applications.html")]
struct Applications<'a> {
    notice: Option<&'a str>,
    secret: Option<ShownSecret<'a>>,
    rows: Vec<ApplicationRow<'a>>,
    name: Input<'a>,
    form: &'a ApplicationForm,
    redirect_error: Option<&'a str>,
    post_logout_error: Option<&'a str>,
}

/// The Applications page: the registered applications (relying parties), a secret just made
/// (shown once), and the form that registers another, filled in again with its problems.
pub fn applications<'a>(
    clients: &'a [OidcClient],
    form: &'a ApplicationForm,
    errors: &'a FieldErrors,
    notice: Option<&'a str>,
    secret: Option<ShownSecret<'a>>,
) -> Page {
    let rows = clients
        .iter()
        .map(|c| ApplicationRow {
            name: &c.name,
            client_id: c.id.as_str(),
            public: c.is_public(),
            redirect_uris: c.redirect_uris.iter().map(RedirectUri::as_str).collect(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.iter().map(RedirectUri::as_str).collect(),
            created: when(Some(c.created_at)),
        })
        .collect();
    let name = Input::new("name", "Name", "text", "off", errors).value(&form.name);
    let page = Applications {
        notice,
        secret,
        rows,
        name,
        form,
        redirect_error: errors.get("redirect_uris").map(String::as_str),
        post_logout_error: errors.get("post_logout_redirect_uris").map(String::as_str),
    };
    console_page("Applications", &page)
}

#[derive(Template)]
#[template(path = "console/second_factor_required.html")]
struct SecondFactorRequired {
    /// The operator has a second factor now, but this session was begun without it.
    enrolled: bool,
    /// A console post was refused.
    refused: bool,
}

/// All the console shows an operator whose session was not begun with a second factor, where
/// one is required: how to set one up, and that the console opens at the next sign-in with it.
pub fn second_factor_required(enrolled: bool, refused: bool) -> Page {
    Page::new("A second factor is required", &SecondFactorRequired { enrolled, refused })
}

#[derive(Template)]
#[template(path = "console/application_remove.html")]
struct ApplicationRemove<'a> {
    name: &'a str,
    client_id: &'a str,
}

/// "Remove" on an application: the confirm step.
pub fn application_remove(client: &OidcClient) -> Page {
    console_page("Remove application", &ApplicationRemove { name: &client.name, client_id: client.id.as_str() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{UserId, UserSource};

    #[test]
    fn set_password_asks_for_the_policy_in_force() {
        let at = Timestamp::from_unix(1_800_000_000);
        let view = UserView {
            user_id: UserId::generate(),
            email: "ada@example.org".into(),
            username: "ada".into(),
            name: "Ada".into(),
            status: UserStatus::Active,
            created_at: at,
            activated_at: Some(at),
            source: UserSource::Bulk,
            failed_logins: 0,
            locked_until: None,
            operator: false,
            known_devices: 0,
            known_device_failed_logins: 0,
            mail_refused: None,
            disabled_at: None,
        };
        let none = FieldErrors::new();
        let context = CardContext {
            confirm: None,
            factors: FactorsSummary::default(),
            password_errors: &none,
            password_policy: PasswordPolicy { min_length: 15 },
            new_email: "",
            email_errors: &none,
        };
        let page = learners("ada@example.org", Some((&view, context)), None, &none);
        assert!(page.body.as_str().contains(r#"autocomplete="new-password" required minlength="15" maxlength="128""#));
    }

    #[test]
    fn factors_read_as_a_person_writes_them() {
        assert_eq!(factors_text(&FactorsSummary::default()), "none");
        let all = FactorsSummary { authenticator: true, passkeys: 1, recovery_codes: 10 };
        assert_eq!(factors_text(&all), "an authenticator app, 1 passkey, 10 recovery codes");
        let some = FactorsSummary { authenticator: false, passkeys: 2, recovery_codes: 1 };
        assert_eq!(factors_text(&some), "2 passkeys, 1 recovery code");
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(super::thousands(10_000), "10,000");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1_234_567), "1,234,567");
    }
}

/// The "Search learners" form as asked (what the list shows again).
pub struct ListForm<'a> {
    pub q: &'a str,
    pub status: Option<crate::domain::StatusFilter>,
    pub source: Option<crate::domain::UserSource>,
    pub created_from: String,
    pub created_to: String,
}

/// A learner in the list.
pub struct ListedRow {
    pub email: String,
    pub username: String,
    pub name: String,
    pub status: String,
    pub source: String,
    pub created: Timestamp,
    pub locked_until: Option<Timestamp>,
}

struct ListRow<'a> {
    email: &'a str,
    email_query: String,
    username: &'a str,
    name: &'a str,
    status: &'a str,
    source: &'a str,
    created: String,
    locked_until: String,
}

#[derive(Template)]
#[template(path = "console/learner_list.html")]
struct LearnerList<'a> {
    q: &'a str,
    statuses: Vec<(&'static str, &'static str, bool)>,
    sources: Vec<(&'static str, &'static str, bool)>,
    created_from: &'a str,
    created_to: &'a str,
    error: Option<&'a str>,
    caption: &'a str,
    locked: bool,
    rows: Vec<ListRow<'a>>,
    next: Option<String>,
    export: Option<String>,
}

/// "Search learners": the form, a page of learners, the link to the next page, and "Export"
/// (the same filters as CSV; links the handler builds, always to `/operator/learners?...`).
pub fn learner_list(
    form: &ListForm<'_>,
    rows: &[ListedRow],
    next: Option<String>,
    export: Option<String>,
    error: Option<&str>,
) -> Page {
    use crate::domain::{StatusFilter, UserSource};
    let locked = form.status == Some(StatusFilter::Locked);
    let caption = if locked {
        "Locked now"
    } else if form.q.is_empty() {
        "Learners, newest first"
    } else {
        "Learners found"
    };
    let page = LearnerList {
        q: form.q,
        statuses: StatusFilter::ALL.iter().map(|s| (s.as_str(), s.label(), form.status == Some(*s))).collect(),
        sources: [
            (UserSource::SelfService, "Registered themselves"),
            (UserSource::Bulk, "Bulk"),
            (UserSource::Operator, "By an operator"),
        ]
        .into_iter()
        .map(|(s, label)| (s.as_str(), label, form.source == Some(s)))
        .collect(),
        created_from: &form.created_from,
        created_to: &form.created_to,
        error,
        caption,
        locked,
        rows: rows
            .iter()
            .map(|r| ListRow {
                email: &r.email,
                email_query: super::pages::urlencode(&r.email),
                username: &r.username,
                name: &r.name,
                status: &r.status,
                source: &r.source,
                created: when(Some(r.created)),
                locked_until: when(r.locked_until),
            })
            .collect(),
        next,
        export,
    };
    console_page(if locked { "Locked now" } else { "Search learners" }, &page)
}

/// A past job in the list.
pub struct JobRow {
    pub when: String,
    pub id: String,
    pub id_path: String,
    pub kind: &'static str,
    pub who: String,
    pub status: &'static str,
    pub total: u64,
    pub done: String,
    pub skipped: String,
    pub failed: String,
}

#[derive(Template)]
#[template(path = "console/jobs.html")]
struct Jobs<'a> {
    error: Option<&'a str>,
    rows: &'a [JobRow],
    next: Option<String>,
}

/// "Past jobs": bulk registrations and deletions, newest first, a page at a time.
pub fn past_jobs(rows: &[JobRow], next: Option<String>, error: Option<&str>) -> Page {
    console_page("Past jobs", &Jobs { error, rows, next })
}

/// A job as the list shows it.
pub fn job_row(job: &crate::domain::RowJob) -> JobRow {
    let count = |n: Option<u64>| n.map_or_else(|| "—".to_owned(), |n| n.to_string());
    JobRow {
        when: when(Some(job.created_at)),
        id: job.id.clone(),
        id_path: super::pages::urlencode(&job.id),
        kind: match job.kind {
            JobKind::BulkRegistration => "Bulk registration",
            JobKind::Deletion => "Deletion",
        },
        who: Actor::from_record(&job.operator).label().to_owned(),
        status: job.status.as_str(),
        total: job.total,
        done: count(job.final_counts.map(|c| c.done)),
        skipped: count(job.final_counts.map(|c| c.skipped)),
        failed: count(job.final_counts.map(|c| c.failed)),
    }
}
