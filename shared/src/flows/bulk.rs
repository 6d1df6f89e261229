//! Bulk registration from a CSV file: validated on upload with the self-registration rules,
//! recorded as a job, spread over SQS messages, and settled row by row by the worker, each row
//! exactly once however often a message is delivered.

use crate::domain::{
    AuditEntry, BulkJob, Email, FullName, JobKind, JobStatus, RowOutcome, RowResult, User, UserId, UserSource,
    UserStatus, Username,
};
use crate::metrics::Metric;
use crate::ports::{BulkCreate, Queue};
use crate::App;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// API Gateway's payload limit.
pub const MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;
/// Rows per SQS message: with passwords, 25 hashes keep a message well inside a worker's time.
pub const ROWS_PER_MESSAGE: usize = 25;
const MESSAGES_PER_SEND: usize = 10;

/// One row on its way to the worker. Its password never travels with it (a queue message can
/// end in the dead-letter queue for 14 days): the upload keeps it in the store, and the write
/// that settles the row forgets it. Not `Debug`: it may hold the password in memory.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkRow {
    pub row: u64,
    pub email: String,
    pub username: String,
    pub name: String,
    /// The file gave a password: the worker reads it from the store (`BulkJobs::kept_password`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub has_password: bool,
    #[serde(skip)]
    pub password: Option<String>,
}

/// How long a kept password waits for its row (a job's messages are long settled by then).
const KEPT_PASSWORD_SECONDS: i64 = 86_400;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkMessage {
    pub job_id: String,
    pub rows: Vec<BulkRow>,
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("{0}")]
    Columns(String),
    #[error("the file has no header row")]
    Empty,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Where each known column is.
struct Columns {
    email: usize,
    username: usize,
    name: usize,
    password: Option<usize>,
}

fn columns(header: &csv::ByteRecord) -> Result<Columns, UploadError> {
    const KNOWN: [&str; 4] = ["email", "username", "name", "password"];
    let names: Vec<String> = header.iter().map(|h| String::from_utf8_lossy(h).trim().to_ascii_lowercase()).collect();
    let unknown: Vec<&str> = names.iter().map(String::as_str).filter(|n| !KNOWN.contains(n)).collect();
    let missing: Vec<&str> = KNOWN[..3].iter().copied().filter(|k| !names.iter().any(|n| n == k)).collect();
    let repeated: HashSet<&str> =
        names.iter().map(String::as_str).filter(|n| names.iter().filter(|m| m == n).count() > 1).collect();
    let mut problems = Vec::new();
    if !missing.is_empty() {
        problems.push(format!("missing columns: {}", missing.join(", ")));
    }
    if !unknown.is_empty() {
        problems.push(format!("unknown columns: {}", unknown.join(", ")));
    }
    if !repeated.is_empty() {
        let mut repeated: Vec<&str> = repeated.into_iter().collect();
        repeated.sort();
        problems.push(format!("repeated columns: {}", repeated.join(", ")));
    }
    if !problems.is_empty() {
        return Err(UploadError::Columns(format!(
            "The header row must name the columns email, username, name and optionally password; {}.",
            problems.join("; ")
        )));
    }
    let at = |name: &str| names.iter().position(|n| n == name);
    Ok(Columns {
        email: at("email").expect("checked above"),
        username: at("username").expect("checked above"),
        name: at("name").expect("checked above"),
        password: at("password"),
    })
}

fn reader(bytes: &[u8]) -> csv::Reader<&[u8]> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(bytes)
}

fn problem(row: u64, email: &str, result: RowResult, code: &str, message: impl Into<String>) -> RowOutcome {
    RowOutcome { row, email: email.to_owned(), result, code: code.to_owned(), message: message.into(), user_id: None }
}

/// Reads one record into a row (fields present, UTF-8), or says why it cannot be one.
fn extract(cols: &Columns, row: u64, record: &csv::ByteRecord) -> Result<BulkRow, RowOutcome> {
    let field = |i: usize| record.get(i).map(|f| std::str::from_utf8(f).map(str::to_owned));
    let raw_email = field(cols.email).and_then(Result::ok).unwrap_or_default();
    let fail = |code: &str, message: String| problem(row, &raw_email, RowResult::Failed, code, message);
    let expected = [cols.email, cols.username, cols.name].into_iter().chain(cols.password).max().unwrap_or(0) + 1;
    if record.len() < expected {
        return Err(fail(
            "wrong_field_count",
            format!("The row has {} fields; the header has {expected} or more.", record.len()),
        ));
    }
    let text = |i: usize, what: &str| match field(i) {
        Some(Ok(value)) => Ok(value),
        _ => Err(fail("invalid_utf8", format!("The {what} is not valid UTF-8."))),
    };
    let (email, username, name) =
        (text(cols.email, "email")?, text(cols.username, "username")?, text(cols.name, "name")?);
    let password = match cols.password {
        Some(i) => Some(text(i, "password")?).filter(|p| !p.is_empty()),
        None => None,
    };
    Ok(BulkRow { row, email, username, name, has_password: password.is_some(), password })
}

/// A row that passed the self-registration rules.
struct ValidRow {
    email: Email,
    username: Username,
    name: FullName,
    password: Option<crate::domain::Password>,
}

/// Applies the self-registration rules to every field (the password policy too, when a
/// password is given).
fn validate(app: &App, row: &BulkRow) -> Result<ValidRow, RowOutcome> {
    let fail = |code: &str, message: String| problem(row.row, &row.email, RowResult::Failed, code, message);
    let email = Email::parse(&row.email).map_err(|e| fail("invalid_email", e.to_string()))?;
    let username = Username::parse(&row.username).map_err(|e| fail("invalid_username", e.to_string()))?;
    let name = FullName::parse(&row.name).map_err(|e| fail("invalid_name", e.to_string()))?;
    let password = match &row.password {
        Some(password) => {
            let personal = [username.as_ref(), email.local_part(), name.as_ref()];
            Some(
                app.password_policy()
                    .check(password, &personal)
                    .map_err(|e| fail("invalid_password", e.to_string()))?,
            )
        }
        None => None,
    };
    Ok(ValidRow { email, username, name, password })
}

/// The first pass over a file: how many rows, and what is wrong with which.
pub struct Checked {
    pub rows: u64,
    /// Invalid rows (failed) and in-file duplicates (skipped), in row order.
    pub problems: Vec<RowOutcome>,
}

/// A valid row the real run would try to create (kept by a dry run only).
struct Candidate {
    row: u64,
    email: String,
    email_key: String,
    username_key: String,
}

/// Validates a whole file, streaming over its rows. Within the file, the first of rows with the
/// same email or username (ignoring case) wins; the others are skipped and reported.
pub fn check(app: &App, bytes: &[u8]) -> Result<Checked, UploadError> {
    check_rows(app, bytes, None)
}

/// A dry run: what `check` finds, and also every row whose email or username an account holds
/// already, which the real run skips (`already_registered`): so a dry run names every row the
/// real run would not create. Looked up 16 at a time.
pub async fn dry_run(app: &App, bytes: &[u8]) -> Result<Checked, UploadError> {
    use futures::{StreamExt, TryStreamExt};
    let mut candidates = Vec::new();
    let mut checked = check_rows(app, bytes, Some(&mut candidates))?;
    let taken: Vec<(Candidate, Option<&str>)> = futures::stream::iter(candidates)
        .map(|candidate| async move {
            let what = if app.store.user_by_email_key(&candidate.email_key).await?.is_some() {
                Some("email")
            } else if app.store.username_taken(&candidate.username_key).await? {
                Some("username")
            } else {
                None
            };
            Ok::<_, anyhow::Error>((candidate, what))
        })
        .buffered(16)
        .try_collect()
        .await?;
    for (candidate, what) in taken {
        if let Some(what) = what {
            let message = format!("An account with this {what} already exists; it would be left as it is.");
            checked.problems.push(problem(
                candidate.row,
                &candidate.email,
                RowResult::Skipped,
                "already_registered",
                message,
            ));
        }
    }
    checked.problems.sort_by_key(|p| p.row);
    Ok(checked)
}

fn check_rows(app: &App, bytes: &[u8], mut keep: Option<&mut Vec<Candidate>>) -> Result<Checked, UploadError> {
    let mut reader = reader(bytes);
    let header = reader.byte_headers().map_err(|_| UploadError::Empty)?.clone();
    if header.is_empty() || header.iter().all(|h| h.is_empty()) {
        return Err(UploadError::Empty);
    }
    let cols = columns(&header)?;
    let mut first_email: HashMap<String, u64> = HashMap::new();
    let mut first_username: HashMap<String, u64> = HashMap::new();
    let mut problems = Vec::new();
    let mut rows = 0;
    let mut record = csv::ByteRecord::new();
    loop {
        let row = rows + 2;
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                rows += 1;
                problems.push(problem(
                    row,
                    "",
                    RowResult::Failed,
                    "malformed_row",
                    format!("The row is not valid CSV: {e}"),
                ));
                continue;
            }
        }
        rows += 1;
        let (candidate, valid) = match extract(&cols, row, &record).and_then(|c| validate(app, &c).map(|v| (c, v))) {
            Ok(found) => found,
            Err(outcome) => {
                problems.push(outcome);
                continue;
            }
        };
        let email_key = candidate.email.trim().to_ascii_lowercase();
        let username_key = candidate.username.trim().to_ascii_lowercase();
        let earlier = first_email.get(&email_key).or_else(|| first_username.get(&username_key)).copied();
        if let Some(first) = earlier {
            let message = format!("Row {first} has the same email or username; the first one wins.");
            problems.push(problem(row, &candidate.email, RowResult::Skipped, "duplicate_in_file", message));
            continue;
        }
        first_email.insert(email_key, row);
        first_username.insert(username_key, row);
        if let Some(keep) = keep.as_deref_mut() {
            keep.push(Candidate {
                row,
                email: candidate.email.clone(),
                email_key: valid.email.key(),
                username_key: valid.username.key(),
            });
        }
    }
    Ok(Checked { rows, problems })
}

/// Records the job, then enqueues its valid rows, `ROWS_PER_MESSAGE` to a message. The job
/// exists before anything is enqueued, so a worker never meets a message without its job.
pub async fn upload(app: &App, operator: &str, bytes: &[u8]) -> Result<BulkJob, UploadError> {
    let checked = check(app, bytes)?;
    let count = |result| checked.problems.iter().filter(|p| p.result == result).count() as u64;
    let mut job = BulkJob {
        id: uuid::Uuid::now_v7().to_string(),
        kind: JobKind::BulkRegistration,
        operator: operator.to_owned(),
        created_at: app.clock.now(),
        status: JobStatus::Queued,
        total: checked.rows,
        created: 0,
        skipped: count(RowResult::Skipped),
        failed: count(RowResult::Failed),
    };
    if job.settled() == job.total {
        job.status = JobStatus::Completed;
    }
    app.bulk.create_job(&job, &checked.problems).await?;
    let settled: HashSet<u64> = checked.problems.iter().map(|p| p.row).collect();

    // Second pass over the same bytes: only the rows the first pass accepted.
    let mut reader = reader(bytes);
    let cols = columns(&reader.byte_headers().map_err(|_| UploadError::Empty)?.clone())?;
    let mut record = csv::ByteRecord::new();
    let (mut rows, mut message, mut pending): (u64, Vec<BulkRow>, Vec<String>) = (0, Vec::new(), Vec::new());
    let mut passwords: Vec<(u64, String)> = Vec::new();
    let kept_until = job.created_at.plus_seconds(KEPT_PASSWORD_SECONDS);
    // A message goes out only after the passwords of its rows are kept.
    let job_id = job.id.as_str();
    let send = |pending: Vec<String>, passwords: Vec<(u64, String)>| async move {
        if !passwords.is_empty() {
            app.bulk.keep_passwords(job_id, &passwords, kept_until).await?;
        }
        app.queue.enqueue(Queue::BulkRegistration, &pending).await
    };
    while reader.read_byte_record(&mut record).unwrap_or(true) {
        rows += 1;
        let row = rows + 1;
        if settled.contains(&row) {
            continue;
        }
        // The first pass validated this row: only its fields are needed now.
        let Ok(mut bulk_row) = extract(&cols, row, &record) else {
            continue;
        };
        if let Some(password) = bulk_row.password.take() {
            passwords.push((row, password));
        }
        message.push(bulk_row);
        if message.len() == ROWS_PER_MESSAGE {
            pending.push(
                serde_json::to_string(&BulkMessage { job_id: job.id.clone(), rows: std::mem::take(&mut message) })
                    .map_err(anyhow::Error::from)?,
            );
        }
        if pending.len() == MESSAGES_PER_SEND {
            send(std::mem::take(&mut pending), std::mem::take(&mut passwords)).await?;
        }
    }
    if !message.is_empty() {
        pending.push(
            serde_json::to_string(&BulkMessage { job_id: job.id.clone(), rows: message })
                .map_err(anyhow::Error::from)?,
        );
    }
    if !pending.is_empty() {
        send(pending, passwords).await?;
    }
    tracing::info!(operator, job_id = %job.id, rows = job.total, problems = checked.problems.len(), "bulk registration queued");
    Ok(job)
}

/// The worker's part: settles every row of a message. Rows settled before (a redelivery) are
/// passed over before any hashing. Err: the message comes back; on its last receive
/// (`final_attempt`) the rows that still fail are settled as failed first.
pub async fn process(app: &App, message: &BulkMessage, final_attempt: bool) -> anyhow::Result<()> {
    let Some(job) = app.bulk.job(&message.job_id).await? else {
        anyhow::bail!("no job {}", message.job_id);
    };
    let mut first_error = None;
    for row in &message.rows {
        if let Err(error) = settle(app, &job, row).await {
            tracing::warn!(job_id = %job.id, row = row.row, error = format!("{error:#}"), "bulk row failed");
            if final_attempt {
                let outcome = problem(
                    row.row,
                    &row.email,
                    RowResult::Failed,
                    "processing_failed",
                    "The account could not be created; try this row again.",
                );
                settle_row(app, &job.id, &outcome).await?;
            }
            first_error.get_or_insert(error);
        }
    }
    app.bulk.refresh_status(&job.id).await?;
    match first_error {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// Settles a row that creates no account, and counts it (once: not when it was settled before).
async fn settle_row(app: &App, job_id: &str, outcome: &RowOutcome) -> anyhow::Result<()> {
    if app.bulk.settle_row(job_id, outcome).await? {
        app.metrics.count(match outcome.result {
            RowResult::Created => Metric::BulkRowsCreated,
            RowResult::Skipped => Metric::BulkRowsSkipped,
            RowResult::Failed => Metric::BulkRowsFailed,
        });
    }
    Ok(())
}

async fn settle(app: &App, job: &BulkJob, row: &BulkRow) -> anyhow::Result<()> {
    if app.bulk.row_settled(&job.id, row.row).await? {
        return Ok(());
    }
    let mut row = row.clone();
    if row.has_password {
        row.password = app.bulk.kept_password(&job.id, row.row, app.clock.now()).await?;
        if row.password.is_none() {
            let outcome = problem(
                row.row,
                &row.email,
                RowResult::Failed,
                "password_expired",
                "The row's password was kept for a day and is gone; register this row again.",
            );
            settle_row(app, &job.id, &outcome).await?;
            return Ok(());
        }
    }
    let row = &row;
    // The rules are applied again: a message is input too.
    let valid = match validate(app, row) {
        Ok(valid) => valid,
        Err(outcome) => {
            settle_row(app, &job.id, &outcome).await?;
            return Ok(());
        }
    };
    let password_hash = match &valid.password {
        Some(password) => Some(app.passwords.hash(password).await?),
        None => None,
    };
    let now = app.clock.now();
    let email_text = valid.email.to_string();
    let user = User {
        id: UserId::generate(),
        email: valid.email,
        username: valid.username,
        name: valid.name,
        password_hash,
        status: UserStatus::Active,
        created_at: now,
        activated_at: Some(now),
        terms_accepted_at: None,
        source: UserSource::Bulk,
        auth_epoch: 0,
        operator: false,
        mail_refused: None,
    };
    let outcome = RowOutcome {
        row: row.row,
        email: email_text.clone(),
        result: RowResult::Created,
        code: "created".into(),
        message: String::new(),
        user_id: Some(user.id.clone()),
    };
    let audit = AuditEntry::new(
        now,
        &job.operator,
        "bulk_register",
        &user.id,
        format!("created by job {} (row {})", job.id, row.row),
    );
    match app.bulk.create_bulk_user(&job.id, &user, &outcome, &audit).await? {
        BulkCreate::Created => {
            app.metrics.count(Metric::BulkRowsCreated);
            Ok(())
        }
        BulkCreate::AlreadySettled => Ok(()),
        BulkCreate::Taken { email_taken, .. } => {
            let what = if email_taken { "email" } else { "username" };
            // The row names that account: it goes with it if the account is deleted.
            let owner =
                if email_taken { app.store.user_by_email_key(&user.email.key()).await?.map(|u| u.id) } else { None };
            let mut outcome = problem(
                row.row,
                &email_text,
                RowResult::Skipped,
                "already_registered",
                format!("An account with this {what} already exists; it was left as it is."),
            );
            outcome.user_id = owner;
            settle_row(app, &job.id, &outcome).await?;
            Ok(())
        }
    }
}

/// The per-row report: every field quoted, and a cell that a spreadsheet would take for a
/// formula (`=`, `+`, `-`, `@`, tab, CR) prefixed with `'` (OWASP CSV injection).
pub fn report_csv(outcomes: &[RowOutcome]) -> anyhow::Result<String> {
    let mut writer = csv::WriterBuilder::new().quote_style(csv::QuoteStyle::Always).from_writer(Vec::new());
    writer.write_record(["row", "email", "result", "code", "message"])?;
    for outcome in outcomes {
        let row = outcome.row.to_string();
        writer.write_record(
            [&row, &outcome.email, outcome.result.as_str(), &outcome.code, &outcome.message].map(defuse),
        )?;
    }
    Ok(String::from_utf8(writer.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)?)
}

fn defuse(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formula_cells_are_defused_and_every_field_quoted() {
        let outcome = problem(7, "=cmd|' /C calc'!A0", RowResult::Failed, "invalid_email", "+1");
        let report = report_csv(&[outcome]).unwrap();
        assert_eq!(report, "\"row\",\"email\",\"result\",\"code\",\"message\"\n\"7\",\"'=cmd|' /C calc'!A0\",\"failed\",\"invalid_email\",\"'+1\"\n");
        for dangerous in ["=1", "+1", "-1", "@x", "\tx", "\rx"] {
            assert!(defuse(dangerous).starts_with('\''));
        }
        assert_eq!(defuse("Ada"), "Ada");
    }

    proptest! {
        #[test]
        fn report_cells_never_start_a_formula(cells in proptest::collection::vec("\\PC{0,12}", 1..5)) {
            let outcomes: Vec<RowOutcome> = cells.iter().enumerate().map(|(i, c)| problem(i as u64, c, RowResult::Failed, "x", c.clone())).collect();
            let report = report_csv(&outcomes).unwrap();
            let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(report.as_bytes());
            for record in reader.records() {
                for cell in record.unwrap().iter() {
                    prop_assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']));
                }
            }
        }
    }
}
