//! Account removal: a learner's own request (GDPR, when the site allows it), an operator's list
//! of addresses, and the deletion worker both feed. Every deletion goes through the deletion
//! queue; a redelivered message, or the same list twice, leaves the same final state.

use crate::domain::{Email, RowJob, RowOutcome, RowResult, SessionRecord, User};
use crate::flows::outbox::{send_later, MailRequest};
use crate::flows::signin::verify_own_password;
pub use crate::jobs::deletion::DeletionTarget;
use crate::jobs::deletion::{delete_one, Deletion};
use crate::jobs::{submit, IntakeError, Submission};
use crate::ports::Queue;
use crate::App;
use anyhow::Context;
use serde::{Deserialize, Serialize};

pub use crate::jobs::deletion::MAX_EMAILS;

/// A learner's own removal request on its way to the deletion worker (an operator's list goes
/// through the row-job pipeline, `jobs::deletion`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeletionMessage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// `self`, or the operator's identity.
    pub requested_by: String,
    pub targets: Vec<DeletionTarget>,
}

#[derive(Debug, thiserror::Error)]
pub enum RemovalError {
    #[error("the password is not right")]
    InvalidPassword,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// A signed-in learner asks for their account to be removed. The password is verified as at
/// sign-in (a failure counts toward the lockout, a locked account verifies nothing). Then the
/// deletion is queued, every session ends, and the learner is mailed a confirmation.
pub async fn request_self_removal(
    app: &App,
    user: &User,
    _session: &SessionRecord,
    password: &str,
) -> Result<(), RemovalError> {
    if !verify_own_password(app, user, password).await? {
        return Err(RemovalError::InvalidPassword);
    }
    // Queued first: once marked, the account must not be left without its deletion.
    let message = DeletionMessage {
        job_id: None,
        requested_by: "self".into(),
        targets: vec![DeletionTarget { row: 1, email: None, user_id: Some(user.id.to_string()) }],
    };
    app.queue.enqueue(Queue::Deletion, &[serde_json::to_string(&message).context("encoding the deletion")?]).await?;
    app.store.request_removal(&user.id).await?;
    let confirmation = MailRequest::RemovalRequested {
        user_id: user.id.to_string(),
        email: user.email.to_string(),
        name: user.name.as_ref().to_owned(),
    };
    send_later(app, &confirmation).await?;
    tracing::info!(user_id = %user.id, "removal requested by the learner");
    Ok(())
}

/// Why a list of addresses to delete was refused as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("The CSV file has no readable header row.")]
    NoHeader,
    #[error("The CSV file needs an email column.")]
    NoEmailColumn,
    #[error("Row {0} is not valid UTF-8 CSV.")]
    BadRow(u64),
    #[error("Give at least one address.")]
    Empty,
    #[error("At most {MAX_EMAILS} addresses a request.")]
    TooMany,
}

/// The addresses of a CSV file's `email` column, with their rows as a spreadsheet shows them
/// (the header is row 1). A byte-order mark is fine.
pub fn emails_from_csv(bytes: &[u8]) -> Result<Vec<(u64, String)>, ListError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
    let header = reader.headers().map_err(|_| ListError::NoHeader)?.clone();
    let column = header.iter().position(|h| h.trim().eq_ignore_ascii_case("email")).ok_or(ListError::NoEmailColumn)?;
    let mut list = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let row = i as u64 + 2;
        let record = record.map_err(|_| ListError::BadRow(row))?;
        list.push((row, record.get(column).unwrap_or_default().to_owned()));
    }
    Ok(list)
}

/// A list as a person pastes it: one address a line, blank lines left out, numbered from 1 in
/// the order given.
pub fn emails_from_lines(text: &str) -> Vec<(u64, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, l)| (i as u64 + 1, l.to_owned()))
        .collect()
}

/// A file of addresses, whoever sends it (`learnerctl delete --emails`, the API's `text/csv`,
/// the console's file field): one address per line when its first line is an address alone,
/// else a CSV file that must have an `email` column. So a CSV whose header says `mail` is
/// refused as a whole instead of read as a list of bad addresses.
pub fn emails_from_file(bytes: &[u8]) -> Result<Vec<(u64, String)>, ListError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|_| ListError::BadRow(1))?;
    let first = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default();
    if !first.contains([',', '"']) && Email::parse(first).is_ok() {
        return Ok(emails_from_lines(text));
    }
    emails_from_csv(bytes)
}

/// The size rules of every list, wherever it came from.
pub fn check_list(list: &[(u64, String)]) -> Result<(), ListError> {
    match list.len() {
        0 => Err(ListError::Empty),
        n if n > MAX_EMAILS => Err(ListError::TooMany),
        _ => Ok(()),
    }
}

/// How many addresses of a list name an account now (what a deletion job would delete).
pub async fn matching_accounts(app: &App, list: &[(u64, String)]) -> anyhow::Result<usize> {
    let mut count = 0;
    // A few look-ups at a time: 10,000 one after the other would outlast a request.
    for chunk in list.chunks(16) {
        let found = futures::future::try_join_all(chunk.iter().map(|(_, raw)| has_account(app, raw))).await?;
        count += found.into_iter().filter(|f| *f).count();
    }
    Ok(count)
}

async fn has_account(app: &App, raw: &str) -> anyhow::Result<bool> {
    match Email::parse(raw) {
        Ok(email) => Ok(app.store.user_by_email_key(&email.key()).await?.is_some()),
        Err(_) => Ok(false),
    }
}

/// An operator's deletion of a list of addresses: handed to the row-job pipeline (invalid
/// addresses are settled as failed at intake). `idempotency`: the request's key and body.
pub async fn request_deletions(
    app: &App,
    operator: &str,
    emails: &[(u64, String)],
    idempotency: Option<(&str, &[u8])>,
) -> Result<RowJob, IntakeError> {
    let mut refused = Vec::new();
    let mut rows = Vec::new();
    for (row, raw) in emails {
        match target(*row, raw) {
            Ok(target) => rows.push(target),
            Err(outcome) => refused.push(outcome),
        }
    }
    let submission = Submission { total: emails.len() as u64, refused, rows };
    submit::<Deletion>(app, operator, submission, idempotency).await
}

/// A row of a list: the address to delete, or why it is refused at intake.
fn target(row: u64, raw: &str) -> Result<DeletionTarget, RowOutcome> {
    match Email::parse(raw) {
        Ok(email) => Ok(DeletionTarget { row, email: Some(email.to_string()), user_id: None }),
        Err(e) => Err(RowOutcome::new(row, raw, RowResult::Failed, "invalid_email", e.to_string())),
    }
}

/// What the intake of an uploaded list reads it with (`jobs::receive_upload`): the rule of
/// `emails_from_file` (one address a line when the first line is an address alone, else a CSV
/// file with an `email` column), read as it comes. No limit on its length (`MAX_EMAILS` is
/// the direct routes'); a row that is not UTF-8 is an invalid address, not the whole file's
/// refusal (the rows before it are on their way by then).
pub fn parser() -> crate::jobs::Parser<DeletionTarget> {
    Box::new(|read, emit| {
        match each_email(read, &mut |row, raw| emit(target(row, &raw))) {
            Ok(0) => Err(ListError::Empty),
            other => other,
        }
        .map_err(|error| {
            let code = match error {
                ListError::NoEmailColumn => "bad_columns",
                ListError::Empty => "empty_file",
                _ => "unreadable_file",
            };
            RowOutcome::new(1, "", RowResult::Failed, code, error.to_string())
        })
    })
}

/// Hands each address of a list to `emit` (false: stop) with its row; the rows read.
fn each_email(read: &mut dyn std::io::Read, emit: &mut dyn FnMut(u64, String) -> bool) -> Result<u64, ListError> {
    use std::io::{BufRead, Read};
    let mut read = std::io::BufReader::new(read);
    // The lines up to the first that is not blank decide what the file is; they are read again.
    let mut start = Vec::new();
    let mut first = String::new();
    while first.is_empty() {
        let at = start.len();
        if read.read_until(b'\n', &mut start).map_err(|_| ListError::NoHeader)? == 0 {
            break;
        }
        first = String::from_utf8_lossy(&start[at..]).trim().trim_start_matches('\u{FEFF}').trim().to_owned();
    }
    let start = start.strip_prefix(b"\xEF\xBB\xBF").map(<[u8]>::to_vec).unwrap_or(start);
    let whole = std::io::Cursor::new(start).chain(read);
    let mut rows = 0;
    if !first.contains([',', '"']) && Email::parse(&first).is_ok() {
        for line in whole.split(b'\n') {
            let line = line.map_err(|_| ListError::BadRow(rows + 1))?;
            let line = String::from_utf8_lossy(&line);
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            rows += 1;
            if !emit(rows, line.to_owned()) {
                break;
            }
        }
        return Ok(rows);
    }
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(whole);
    let header = reader.byte_headers().map_err(|_| ListError::NoHeader)?.clone();
    let column = header
        .iter()
        .position(|h| String::from_utf8_lossy(h).trim().eq_ignore_ascii_case("email"))
        .ok_or(ListError::NoEmailColumn)?;
    let mut record = csv::ByteRecord::new();
    loop {
        let row = rows + 2;
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) if e.is_io_error() => return Err(ListError::BadRow(row)),
            Err(_) => record.clear(),
        }
        rows += 1;
        if !emit(row, String::from_utf8_lossy(record.get(column).unwrap_or_default()).into_owned()) {
            break;
        }
    }
    Ok(rows)
}

/// The worker's part for a learner's own request (a job's rows go through `jobs::process`).
/// Err: the message comes back.
pub async fn process_own_request(app: &App, message: &DeletionMessage) -> anyhow::Result<()> {
    let secret = app
        .config
        .retirement_secret
        .as_deref()
        .context("LEARNERS_RETIREMENT_SECRET is not set: no deletion can run")?;
    let mut first_error = None;
    for target in &message.targets {
        if let Err(error) = delete_one(app, secret, None, &message.requested_by, target).await {
            tracing::warn!(error = format!("{error:#}"), "deletion failed");
            first_error.get_or_insert(error);
        }
    }
    first_error.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_a_list_of_addresses_or_a_csv_with_an_email_column() {
        let list = emails_from_file(b"\xEF\xBB\xBFada@example.org\n\n bob@example.org \n").unwrap();
        assert_eq!(list, vec![(1, "ada@example.org".to_owned()), (2, "bob@example.org".to_owned())]);
        let csv = emails_from_file(b"name,Email\nAda,ada@example.org\n").unwrap();
        assert_eq!(csv, vec![(2, "ada@example.org".to_owned())]);
        // A header that is not `email` refuses the file: its rows are not addresses to try.
        assert!(matches!(emails_from_file(b"mail,name\nada@example.org,Ada\n"), Err(ListError::NoEmailColumn)));
        assert!(matches!(emails_from_file(b"mail\nada@example.org\n"), Err(ListError::NoEmailColumn)));
        assert!(matches!(emails_from_file(b"\xFF\xFE"), Err(ListError::BadRow(1))));
    }
}
