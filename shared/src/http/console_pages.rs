//! The operator console's pages (`/operator`): server-rendered forms that work without
//! JavaScript, in the same layout as the learners' pages. The visible labels ("Learner email",
//! "Proceed", "Activate"...) are how people and tests find the controls.

use super::pages::{alert, link, Input, Page};
use super::FieldErrors;
use crate::domain::UserView;
use crate::domain::{JobKind, JobProgress, JobStatus, RowOutcome, RowResult, Timestamp};
use crate::jobs::{Page as RowsPage, REPORT_ROWS_PER_PAGE};
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

fn nav() -> String {
    format!(
        r#"<nav aria-label="Operator console" class="actions">{} {} {} {} {}</nav>"#,
        link("/operator", "Learners"),
        link("/operator/bulk", "Bulk registration"),
        link("/operator/deletions", "Deletions"),
        link("/operator/audit", "Audit"),
        link("/account/settings", "Your account"),
    )
}

fn console_page(title: &str, body: String) -> Page {
    Page { wide: true, ..Page::new(title, format!("{}\n{body}", nav())) }
}

fn when(at: Option<Timestamp>) -> String {
    at.map(|t| t.to_rfc3339().replace('T', " ").replace('Z', " UTC")).unwrap_or_else(|| "—".to_owned())
}

/// "Your password", when a sensitive action needs it typed again.
fn your_password(needed: bool, errors: &FieldErrors) -> String {
    if !needed {
        return String::new();
    }
    let input = Input {
        name: "your_password",
        label: "Your password",
        kind: "password",
        autocomplete: "current-password",
        value: "",
        extra: "required",
    };
    format!(
        "<p>Confirm with your own password (asked when you have not typed it in the last 5 minutes).</p>\n{}",
        input.html(errors)
    )
}

/// What the card's actions need to know besides the account.
pub struct CardContext<'a> {
    /// A sensitive action needs the operator's password typed again.
    pub needs_password: bool,
    /// Problems of the "Set password" form.
    pub password_errors: &'a FieldErrors,
}

fn card(view: &UserView, context: &CardContext<'_>) -> String {
    let email = attr(&view.email);
    let hidden = format!(r#"<input type="hidden" name="email" value="{email}">"#);
    let status = view.status.as_str().replace('_', " ");
    let mut actions = String::new();
    if view.status == crate::domain::UserStatus::PendingActivation {
        actions.push_str(&format!(
            r#"<form method="post" action="/operator/activate">{hidden}<button type="submit">Activate</button></form>"#
        ));
    }
    if view.failed_logins > 0 || view.locked_until.is_some() {
        actions.push_str(&format!(
            r#"<form method="post" action="/operator/unlock">{hidden}<button type="submit">Unlock</button></form>"#
        ));
    }
    let removable = view.status != crate::domain::UserStatus::RemovalRequested;
    let set_password = if removable {
        let new_password = Input {
            name: "password",
            label: "New password",
            kind: "password",
            autocomplete: "new-password",
            value: "",
            extra: r#"required minlength="8" maxlength="128""#,
        };
        format!(
            r#"<section>
<h2>Set password</h2>
<p>The site's password rules apply. Every session of the learner ends. Telling the learner to use "Forgot my password" is safer: then nobody else knows it.</p>
<form method="post" action="/operator/password">{hidden}
{new_password}
<label class="check" for="f-notify"><input id="f-notify" type="checkbox" name="notify" value="true" checked> Notify the learner</label>
{confirm}
<button type="submit">Set password</button>
</form>
</section>"#,
            new_password = new_password.html(context.password_errors),
            confirm = your_password(context.needs_password, context.password_errors),
        )
    } else {
        String::new()
    };
    let delete = if removable {
        format!(
            r#"<section>
<h2>Delete account</h2>
<form method="post" action="/operator/delete">{hidden}<button type="submit" class="danger">Delete account</button></form>
</section>"#
        )
    } else {
        String::new()
    };
    format!(
        r#"<section aria-label="Learner">
<h2>{email_text}</h2>
<dl>
<dt>Email</dt><dd>{email_text}</dd>
<dt>Username</dt><dd>{username}</dd>
<dt>Name</dt><dd>{name}</dd>
<dt>Status</dt><dd>{status}</dd>
<dt>Source</dt><dd>{source}</dd>
<dt>Created</dt><dd>{created}</dd>
<dt>Activated</dt><dd>{activated}</dd>
<dt>Failed sign-ins</dt><dd>{failed}</dd>
<dt>Locked until</dt><dd>{locked}</dd>
<dt>Known browsers</dt><dd>{devices} ({device_failures} failed sign-ins)</dd>
<dt>Operator</dt><dd>{operator}</dd>
<dt>Mail</dt><dd>{mail}</dd>
</dl>
<div class="actions">{actions}</div>
<p>{audit}</p>
</section>
{set_password}
{delete}"#,
        email_text = text(&view.email),
        username = text(&view.username),
        name = text(&view.name),
        status = text(&status),
        source = view.source.as_str(),
        created = when(Some(view.created_at)),
        activated = when(view.activated_at),
        failed = view.failed_logins,
        locked = when(view.locked_until),
        devices = view.known_devices,
        device_failures = view.known_device_failed_logins,
        operator = if view.operator { "yes" } else { "no" },
        mail = match &view.mail_refused {
            None => "no bounce or complaint reported".to_owned(),
            Some(refusal) => format!(
                "not sent: the address {} on {} (it gets no mail until its email changes)",
                match refusal.kind {
                    crate::domain::MailRefusalKind::Bounce => "bounced",
                    crate::domain::MailRefusalKind::Complaint => "marked our mail as spam",
                },
                when(Some(refusal.at)),
            ),
        },
        audit = link(&format!("/operator/audit?email={}", urlencode(&view.email)), "Operator actions on this learner"),
    )
}

/// The Learners page: the look-up form, and the card of the learner found (if any).
pub fn learners(
    email: &str,
    found: Option<(&UserView, CardContext<'_>)>,
    notice: Option<&str>,
    errors: &FieldErrors,
) -> Page {
    let lookup = Input {
        name: "email",
        label: "Learner email",
        kind: "email",
        autocomplete: "off",
        value: email,
        extra: r#"required maxlength="254""#,
    };
    let body = format!(
        r#"{notice}<form method="get" action="/operator">
{lookup}
<button type="submit">Proceed</button>
</form>
{card}"#,
        notice = notice.map(alert).unwrap_or_default(),
        lookup = lookup.html(errors),
        card = found.map(|(view, context)| card(view, &context)).unwrap_or_default(),
    );
    console_page("Learners", body)
}

/// "Delete account" from a card: the confirm step.
pub fn delete_confirm(email: &str, needs_password: bool, errors: &FieldErrors) -> Page {
    let body = format!(
        r#"<p>Delete the account of <strong>{email_text}</strong>, with everything that is its own? This cannot be undone.</p>
<form method="post" action="/operator/delete">
<input type="hidden" name="email" value="{email}">
<input type="hidden" name="confirm" value="yes">
{confirm}
<button type="submit" class="danger">Yes, delete this account</button>
</form>
<p>{back}</p>"#,
        email_text = text(email),
        email = attr(email),
        confirm = your_password(needs_password, errors),
        back = link(&format!("/operator?email={}", urlencode(email)), "No, back to the learner"),
    );
    console_page("Delete account", body)
}

pub fn bulk_upload(errors: &FieldErrors) -> Page {
    let problem = errors.values().next().map(|m| alert(m)).unwrap_or_default();
    let body = format!(
        r#"{problem}<p>A UTF-8 CSV file with a header naming <code>email</code>, <code>username</code>, <code>name</code> and optionally <code>password</code>. Accounts are created active, with no mail sent: tell the learners yourself. Nothing is created until you confirm.</p>
<form method="post" action="/operator/bulk/check" enctype="multipart/form-data">
<label for="f-csv_file">CSV file</label>
<input id="f-csv_file" type="file" name="csv_file" accept=".csv,text/csv" required>
<button type="submit">Check file</button>
</form>"#
    );
    console_page("Bulk registration", body)
}

fn problems_table(kind: JobKind, problems: &[RowOutcome]) -> String {
    if problems.is_empty() {
        return String::new();
    }
    let rows: String = problems
        .iter()
        .map(|p| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                p.row,
                text(&p.email),
                text(&kind.outcome_name(p.result).replace('_', " ")),
                text(&p.message)
            )
        })
        .collect();
    format!(
        r#"<table>
<caption>Problem rows</caption>
<thead><tr><th scope="col">Row</th><th scope="col">Email</th><th scope="col">Result</th><th scope="col">Reason</th></tr></thead>
<tbody>{rows}</tbody>
</table>"#
    )
}

/// The dry run of a file: its rows and problems, and the button that registers the rest.
pub fn bulk_checked(rows: u64, problems: &[RowOutcome], csv: &str) -> Page {
    let good = rows.saturating_sub(problems.len() as u64);
    let register = if good > 0 {
        format!(
            r#"<form method="post" action="/operator/bulk" enctype="multipart/form-data">
<input type="hidden" name="csv" value="{csv}">
<button type="submit">Register {good} learners</button>
</form>"#,
            csv = attr(csv)
        )
    } else {
        "<p>No row of this file can be registered.</p>".to_owned()
    };
    let body = format!(
        r#"<p>The file has {rows} rows: {good} can be registered, {bad} cannot (below).</p>
{table}
{register}
<p>{back}</p>"#,
        bad = problems.len(),
        table = problems_table(JobKind::BulkRegistration, problems),
        back = link("/operator/bulk", "Check another file"),
    );
    console_page("Check file", body)
}

pub fn deletions_form(errors: &FieldErrors) -> Page {
    let problem = errors.values().next().map(|m| alert(m)).unwrap_or_default();
    let body = format!(
        r#"{problem}<p>Paste the addresses, one per line, or choose a CSV file with an <code>email</code> column (up to 10,000 addresses). Nothing is deleted until you confirm.</p>
<form method="post" action="/operator/deletions/check" enctype="multipart/form-data">
<label for="f-emails">Emails (one per line)</label>
<textarea id="f-emails" name="emails" rows="6"></textarea>
<label for="f-csv_file">CSV file</label>
<input id="f-csv_file" type="file" name="csv_file" accept=".csv,text/csv">
<button type="submit">Check list</button>
</form>"#
    );
    console_page("Deletions", body)
}

/// A checked list: how many addresses name an account, and the confirm step.
/// `source` says how `list` is to be read again: `csv` (a file's text) or `lines`.
pub fn deletions_checked(
    total: usize,
    matching: usize,
    source: &str,
    list: &str,
    needs_password: bool,
    errors: &FieldErrors,
) -> Page {
    let confirm = if matching > 0 {
        format!(
            r#"<form method="post" action="/operator/deletions" enctype="multipart/form-data">
<input type="hidden" name="source" value="{source}">
<input type="hidden" name="list" value="{list}">
{password}
<button type="submit" class="danger">Delete {matching} accounts</button>
</form>"#,
            source = attr(source),
            list = attr(list),
            password = your_password(needs_password, errors),
        )
    } else {
        "<p>No address of this list has an account.</p>".to_owned()
    };
    let body = format!(
        r#"<p>{total} addresses, {matching} of them with an account. Deleting removes each account with everything that is its own; it cannot be undone.</p>
{confirm}
<p>{back}</p>"#,
        back = link("/operator/deletions", "Check another list"),
    );
    console_page("Check list", body)
}

/// A job's progress, counts and a page of its problem rows. Until it completes, the response
/// asks the browser to load it again (the `Refresh` header), so it updates without JavaScript.
pub fn job(progress: &JobProgress, problems: &RowsPage<RowOutcome>) -> Page {
    let job = &progress.job;
    let title = match job.kind {
        JobKind::BulkRegistration => "Bulk registration job",
        JobKind::Deletion => "Deletion job",
    };
    let counts: String = [RowResult::Done, RowResult::Skipped, RowResult::Failed]
        .into_iter()
        .map(|result| {
            let name = job.kind.outcome_name(result).replace('_', " ");
            let label = name[..1].to_uppercase() + &name[1..];
            format!("<dt>{label}</dt><dd>{}</dd>", progress.counts.of_result(result))
        })
        .collect();
    let done = matches!(progress.status, JobStatus::Completed | JobStatus::CutOff);
    let cut_off = if progress.status == JobStatus::CutOff {
        "<p>The upload was cut off before every row was queued: upload the file again (the API's Idempotency-Key finishes this job instead of starting another).</p>"
    } else {
        ""
    };
    let more = match &problems.next_cursor {
        Some(next) => format!(
            "<p>{}</p>",
            link(&format!("/operator/jobs/{}?cursor={}", urlencode(&job.id), urlencode(next)), "Next problem rows")
        ),
        None => String::new(),
    };
    let parts = if job.total as usize > REPORT_ROWS_PER_PAGE {
        format!(
            " (in parts of {REPORT_ROWS_PER_PAGE} rows; each response names the next part in its x-next-cursor header)"
        )
    } else {
        String::new()
    };
    let body = format!(
        r#"<dl>
<dt>Job</dt><dd>{id}</dd>
<dt>Status</dt><dd id="job-status">{status}</dd>
<dt>Rows</dt><dd>{total}</dd>
{counts}
<dt>Requested by</dt><dd>{by}</dd>
<dt>Started</dt><dd>{started}</dd>
</dl>
{cut_off}
{refresh}
{table}
{more}
<p>{report}{parts}</p>"#,
        id = text(&job.id),
        status = progress.status.as_str().replace('_', " "),
        total = job.total,
        by = text(crate::domain::Actor::from_record(&job.operator).label()),
        started = when(Some(job.created_at)),
        refresh = if done { "" } else { "<p>This page refreshes by itself until the job completes.</p>" },
        table = problems_table(job.kind, &problems.items),
        report = link(&format!("/operator/jobs/{}/report.csv", urlencode(&job.id)), "Download report"),
    );
    console_page(title, body)
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

pub fn audit(email: &str, lines: &[AuditLine], errors: &FieldErrors) -> Page {
    let filter = Input {
        name: "email",
        label: "Learner email",
        kind: "email",
        autocomplete: "off",
        value: email,
        extra: r#"maxlength="254""#,
    };
    let rows: String = lines
        .iter()
        .map(|l| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                when(Some(l.at)),
                text(&l.who),
                text(&l.action),
                text(&l.learner),
                text(&l.outcome)
            )
        })
        .collect();
    let table = if lines.is_empty() {
        "<p>No operator actions to show.</p>".to_owned()
    } else {
        format!(
            r#"<table>
<caption>{caption}</caption>
<thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">Action</th><th scope="col">Learner</th><th scope="col">Outcome</th></tr></thead>
<tbody>{rows}</tbody>
</table>"#,
            caption = if email.is_empty() {
                "Latest operator actions".to_owned()
            } else {
                format!("Operator actions on {}", text(email))
            },
        )
    };
    let body = format!(
        r#"<form method="get" action="/operator/audit">
{filter}
<button type="submit">Filter</button>
</form>
{table}"#,
        filter = filter.html(errors),
    );
    console_page("Audit", body)
}

/// Everything but RFC 3986's unreserved characters is encoded.
const COMPONENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Percent-encodes a path segment or a query value.
pub fn urlencode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, COMPONENT).to_string()
}
