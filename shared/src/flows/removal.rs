//! Account removal: a learner's own request (GDPR, when the site allows it), an operator's list
//! of addresses, and the deletion worker both feed. Every deletion goes through the deletion
//! queue; a redelivered message, or the same list twice, leaves the same final state.

use crate::domain::{Email, RowJob, RowOutcome, RowResult, SessionRecord, User};
use crate::flows::outbox::{send_later, MailRequest};
use crate::flows::signin::verify_own_password;
pub use crate::jobs::deletion::DeletionTarget;
use crate::jobs::deletion::{delete_one, Deletion};
use crate::jobs::spreadsheet::{self, FileError};
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
    /// The file cannot be read as a whole (`jobs::spreadsheet`): said in words, with the row.
    #[error("{0}")]
    File(String),
}

impl From<FileError> for ListError {
    fn from(error: FileError) -> Self {
        match error {
            FileError::Empty => Self::Empty,
            FileError::Columns(_) => Self::NoEmailColumn,
            other => Self::File(other.to_string()),
        }
    }
}

/// A list as read from a file: its addresses with their rows, and what was done to read it
/// (its encoding, separator, columns not read).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReadList {
    pub emails: Vec<(u64, String)>,
    pub warnings: Vec<String>,
}

/// The addresses of a CSV file's `email` column, with their rows as a spreadsheet shows them
/// (the header is row 1), read by `jobs::spreadsheet`'s rules.
pub fn emails_from_csv(bytes: &[u8]) -> Result<Vec<(u64, String)>, ListError> {
    Ok(csv_list(spreadsheet::open(bytes)?)?.emails)
}

fn csv_list(opened: spreadsheet::Opened<'_>) -> Result<ReadList, ListError> {
    let mut sheet = opened.into_sheet()?;
    let column = sheet.columns(&["email"], &[], "email")?.at("email").ok_or(ListError::NoEmailColumn)?;
    let mut emails = Vec::new();
    let mut record = csv::ByteRecord::new();
    while let Some(row) = sheet.next(&mut record)? {
        emails.push((row, sheet.text(row, &record, column)?.to_owned()));
    }
    Ok(ReadList { emails, warnings: sheet.into_notes() })
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
/// the console's file field), read by `jobs::spreadsheet`'s rules: one address per line when
/// its first line is an address alone, else a CSV file that must have an `email` column. So a
/// CSV whose header says `mail` is refused as a whole instead of read as a list of bad
/// addresses.
pub fn emails_from_file(bytes: &[u8]) -> Result<Vec<(u64, String)>, ListError> {
    Ok(read_list(bytes)?.emails)
}

/// `emails_from_file`, with what was done to read the file.
pub fn read_list(input: impl std::io::Read + Send) -> Result<ReadList, ListError> {
    let opened = spreadsheet::open(input)?;
    let first = String::from_utf8_lossy(opened.first_line()).trim().to_owned();
    let address_alone = !first.contains([',', '"', ';', '\t']) && Email::parse(&first).is_ok();
    if !address_alone {
        return csv_list(opened);
    }
    let (lines, warnings) = opened.into_lines();
    let mut text = Vec::new();
    for (i, line) in lines.enumerate() {
        text.push(line.map_err(|_| FileError::NotUtf8Line { row: i as u64 + 1 })?);
    }
    Ok(ReadList { emails: emails_from_lines(&text.join("\n")), warnings })
}

/// The size rules of every list, wherever it came from.
pub fn check_list(list: &[(u64, String)]) -> Result<(), ListError> {
    match list.len() {
        0 => Err(ListError::Empty),
        n if n > MAX_EMAILS => Err(ListError::TooMany),
        _ => Ok(()),
    }
}

/// What deleting a list would do, as the console's check and `learnerctl delete` show it
/// before anything is deleted. Addresses are one account whatever their case (`erin@x` and
/// `ERIN@x` are one), as the store's claims are.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DeletionCheck {
    /// Lines (or rows) given.
    pub lines: usize,
    /// Valid addresses, each once.
    pub addresses: usize,
    /// Accounts the list would delete.
    pub accounts: usize,
    /// Lines that are no address: (row, what was written, why).
    pub invalid: Vec<(u64, String, String)>,
    /// Lines repeating an address of an earlier line (in any case).
    pub repeated: usize,
    /// Rows naming an account with the operator role: a list never deletes one.
    pub operator_rows: Vec<u64>,
}

/// Checks a list against the accounts (looked up in batches, `UserStore::claims_held`).
pub async fn check_deletions(app: &App, list: &[(u64, String)]) -> anyhow::Result<DeletionCheck> {
    let mut check = DeletionCheck { lines: list.len(), ..DeletionCheck::default() };
    let mut first_row: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    for (row, raw) in list {
        match Email::parse(raw) {
            Ok(email) => match first_row.entry(email.key()) {
                std::collections::hash_map::Entry::Occupied(_) => check.repeated += 1,
                std::collections::hash_map::Entry::Vacant(first) => {
                    first.insert(*row);
                }
            },
            Err(e) => check.invalid.push((*row, raw.clone(), e.to_string())),
        }
    }
    check.addresses = first_row.len();
    let keys: Vec<String> = first_row.keys().cloned().collect();
    let held = app.store.claims_held(&keys, &[]).await?;
    for (key, user) in &held.emails {
        if user.operator {
            check.operator_rows.extend(first_row.get(key));
        } else {
            check.accounts += 1;
        }
    }
    check.operator_rows.sort_unstable();
    Ok(check)
}

/// How many addresses of a list name an account now (what a deletion job would delete).
pub async fn matching_accounts(app: &App, list: &[(u64, String)]) -> anyhow::Result<usize> {
    Ok(check_deletions(app, list).await?.accounts)
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

/// Hands each address of a list to `emit` (false: stop) with its row; the rows read. The rules
/// of `read_list` (`jobs::spreadsheet`), as the file comes.
fn each_email(
    read: &mut (dyn std::io::Read + Send),
    emit: &mut dyn FnMut(u64, String) -> bool,
) -> Result<u64, ListError> {
    let opened = spreadsheet::open(read)?;
    let first = String::from_utf8_lossy(opened.first_line()).trim().to_owned();
    let address_alone = !first.contains([',', '"', ';', '\t']) && Email::parse(&first).is_ok();
    let mut rows = 0;
    if address_alone {
        let (lines, _) = opened.into_lines();
        for line in lines {
            // A line that is not UTF-8 is an invalid address (its row is refused, not the file).
            let line = line.unwrap_or_else(|_| "(not UTF-8 text)".to_owned());
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
    let mut sheet = opened.into_sheet()?;
    let column = sheet.columns(&["email"], &[], "email")?.at("email").ok_or(ListError::NoEmailColumn)?;
    let mut record = csv::ByteRecord::new();
    loop {
        let row = match sheet.next(&mut record) {
            Ok(Some(row)) => row,
            Ok(None) => break,
            // The rows before it are on their way: the row the quote opens on is refused.
            Err(FileError::UnclosedQuote { row, .. }) => {
                rows += 1;
                emit(row, "(a quote not closed)".to_owned());
                break;
            }
            Err(error) => return Err(error.into()),
        };
        rows += 1;
        let raw = String::from_utf8_lossy(record.get(column).unwrap_or_default()).into_owned();
        if !emit(row, raw) {
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
        assert!(matches!(emails_from_file(b"\xFF\xFE"), Err(ListError::Empty)));
    }

    #[test]
    fn a_list_is_read_as_a_spreadsheet_wrote_it() {
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("email\r\nada@example.org\r\n".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let read = read_list(utf16.as_slice()).unwrap();
        assert_eq!(read.emails, vec![(2, "ada@example.org".to_owned())]);
        assert!(read.warnings[0].contains("UTF-16"));
        let read = read_list(b"name;email;cohort\nAda;ada@example.org;B\n".as_slice()).unwrap();
        assert_eq!(read.emails, vec![(2, "ada@example.org".to_owned())]);
        assert_eq!(read.warnings.len(), 2, "{:?}", read.warnings);
        assert!(read.warnings[1].contains("name, cohort"), "{:?}", read.warnings);
        let unclosed = read_list(b"email\n\"ada@example.org\nbob@example.org\n".as_slice()).unwrap_err();
        assert!(unclosed.to_string().starts_with("Row 2: the quote"), "{unclosed}");
        let lines = read_list(utf16_lines().as_slice()).unwrap();
        assert_eq!(lines.emails, vec![(1, "ada@example.org".to_owned()), (2, "ERIN@example.org".to_owned())]);
    }

    fn utf16_lines() -> Vec<u8> {
        [0xFE, 0xFF]
            .into_iter()
            .chain("ada@example.org\nERIN@example.org\n".encode_utf16().flat_map(u16::to_be_bytes))
            .collect()
    }
}
