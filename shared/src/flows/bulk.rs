//! Bulk registration files: the rules a CSV file and its rows must follow (the
//! self-registration rules), the dry run, and the upload, which hands the rows to the row-job
//! pipeline (`jobs`, kind `jobs::bulk_registration`).

use crate::domain::{RowJob, RowOutcome, RowResult};
use crate::jobs::bulk_registration::{validate, BulkRegistration, BulkRow};
use crate::jobs::{submit_with, IntakeError, Submission};
use crate::App;
use std::collections::{HashMap, HashSet};

/// The largest body the direct routes take: a synchronous Lambda invocation carries at most
/// 6 MB, the rest of the event included (API Gateway's own 10 MB never comes into play). A
/// file sent as `text/csv` may be this large; a console form's file arrives base64-encoded
/// (a third larger), so about 4.5 MB of it fits. Larger files go by upload
/// (`POST .../uploads`: `open_upload`), which has no such limit.
pub const MAX_UPLOAD_BYTES: usize = 5_900_000;

/// The largest file a console form may upload to the bucket (the API's `PUT` is S3's own 5 GB).
pub const MAX_FORM_UPLOAD_BYTES: u64 = 200 * 1024 * 1024;
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("{0}")]
    Columns(String),
    #[error("the file has no header row")]
    Empty,
    #[error("this Idempotency-Key was used with another file")]
    KeyReused,
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
    // Counted in a map: linear in the number of columns (counting each name's copies over the
    // whole header is quadratic, and a header can be megabytes of one-letter columns).
    let mut counts: std::collections::HashMap<&str, usize> = std::collections::HashMap::with_capacity(names.len());
    for name in &names {
        *counts.entry(name.as_str()).or_default() += 1;
    }
    let repeated: HashSet<&str> = counts.into_iter().filter(|(_, count)| *count > 1).map(|(name, _)| name).collect();
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

fn reader<'a>(read: impl std::io::Read + 'a) -> csv::Reader<Box<dyn std::io::Read + 'a>> {
    use std::io::BufRead;
    let mut read = std::io::BufReader::new(read);
    if read.fill_buf().is_ok_and(|start| start.starts_with(b"\xEF\xBB\xBF")) {
        read.consume(3);
    }
    csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(Box::new(read))
}

impl From<IntakeError> for UploadError {
    fn from(error: IntakeError) -> Self {
        match error {
            IntakeError::KeyReused => Self::KeyReused,
            IntakeError::Unexpected(e) => Self::Unexpected(e),
        }
    }
}

/// Reads one record into a row (fields present, UTF-8), or says why it cannot be one.
fn extract(cols: &Columns, row: u64, record: &csv::ByteRecord) -> Result<BulkRow, RowOutcome> {
    let field = |i: usize| record.get(i).map(|f| std::str::from_utf8(f).map(str::to_owned));
    let raw_email = field(cols.email).and_then(Result::ok).unwrap_or_default();
    let fail = |code: &str, message: String| RowOutcome::new(row, &raw_email, RowResult::Failed, code, message);
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

/// A file read and checked: how many rows, what is wrong with which, and the valid ones.
pub struct Checked {
    pub rows: u64,
    /// Invalid rows (failed) and in-file duplicates (skipped), in row order.
    pub problems: Vec<RowOutcome>,
    valid: Vec<Candidate>,
}

/// A valid row the real run tries to create.
struct Candidate {
    row: BulkRow,
    email_key: String,
    username_key: String,
}

/// Validates a whole file, streaming over its rows. Within the file, the first of rows with the
/// same email or username (ignoring case) wins; the others are skipped and reported.
pub fn check(app: &App, bytes: &[u8]) -> Result<Checked, UploadError> {
    check_rows(app, bytes)
}

/// A dry run: what `check` finds, and also every row whose email or username an account holds
/// already, which the real run skips (`already_registered`): so a dry run names every row the
/// real run would not create. Looked up 16 at a time.
pub async fn dry_run(app: &App, bytes: &[u8]) -> Result<Checked, UploadError> {
    use futures::{StreamExt, TryStreamExt};
    let mut checked = check_rows(app, bytes)?;
    let candidates = std::mem::take(&mut checked.valid);
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
            checked.problems.push(RowOutcome::new(
                candidate.row.row,
                &candidate.row.email,
                RowResult::Skipped,
                "already_registered",
                message,
            ));
        }
    }
    checked.problems.sort_by_key(|p| p.row);
    Ok(checked)
}

fn check_rows(app: &App, bytes: &[u8]) -> Result<Checked, UploadError> {
    let mut problems = Vec::new();
    let mut valid = Vec::new();
    let rows = each_candidate(app, &mut &*bytes, &mut |found| {
        match found {
            Ok(candidate) => valid.push(candidate),
            Err(outcome) => problems.push(outcome),
        }
        true
    })?;
    Ok(Checked { rows, problems, valid })
}

/// The first row of each email and of each username (lower-cased) seen in a file, kept as a
/// 64-bit hash under a key of this reading and the row: 16 bytes a name, not the name (a
/// million-row file holds two tables of about 36 MB instead of hundreds). Two names share a
/// hash with odds of about one in ten million in a million-row file: the later row would be
/// skipped as a duplicate (and reported, so the operator sees it).
#[derive(Default)]
struct FirstSeen {
    key: std::collections::hash_map::RandomState,
    emails: HashMap<u64, u32, std::hash::BuildHasherDefault<Prehashed>>,
    usernames: HashMap<u64, u32, std::hash::BuildHasherDefault<Prehashed>>,
}

impl FirstSeen {
    /// The earlier row with this email or username; else the row is recorded as their first.
    fn earlier_or_note(&mut self, email_key: &str, username_key: &str, row: u64) -> Option<u64> {
        use std::hash::BuildHasher;
        let (email, username) = (self.key.hash_one(email_key), self.key.hash_one(username_key));
        if let Some(first) = self.emails.get(&email).or_else(|| self.usernames.get(&username)) {
            return Some(u64::from(*first));
        }
        let row = u32::try_from(row).unwrap_or(u32::MAX);
        self.emails.insert(email, row);
        self.usernames.insert(username, row);
        None
    }
}

/// The keys of `FirstSeen` are hashes already: used as they are.
#[derive(Default)]
struct Prehashed(u64);

impl std::hash::Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = bytes.iter().fold(self.0, |hash, b| hash.rotate_left(8) ^ u64::from(*b));
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

/// What the intake of an uploaded file reads it with (`jobs::receive_upload`): the rows as
/// `check` finds them, one at a time; a file refused as a whole (its header) is its row 1.
pub fn parser(app: &App) -> crate::jobs::Parser<BulkRow> {
    let app = app.clone();
    Box::new(move |read, emit| {
        each_candidate(&app, read, &mut |found| emit(found.map(|candidate| candidate.row))).map_err(|error| {
            let code = match &error {
                UploadError::Columns(_) => "bad_columns",
                UploadError::Empty => "empty_file",
                UploadError::KeyReused | UploadError::Unexpected(_) => "unreadable_file",
            };
            RowOutcome::new(1, "", RowResult::Failed, code, error.to_string())
        })
    })
}

/// Reads a file as it comes and hands each row, in row order, to `emit` (false: stop): a valid
/// row, or why it is refused (invalid, or a duplicate of an earlier row of the file). The rows
/// read.
fn each_candidate(
    app: &App,
    read: &mut dyn std::io::Read,
    emit: &mut dyn FnMut(Result<Candidate, RowOutcome>) -> bool,
) -> Result<u64, UploadError> {
    let mut reader = reader(read);
    let header = reader.byte_headers().map_err(|_| UploadError::Empty)?.clone();
    if header.is_empty() || header.iter().all(|h| h.is_empty()) {
        return Err(UploadError::Empty);
    }
    let cols = columns(&header)?;
    let mut seen = FirstSeen::default();
    let mut rows = 0;
    let mut record = csv::ByteRecord::new();
    let mut go_on = true;
    while go_on {
        let row = rows + 2;
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            // The file could not be read on (an upload cut short): no row past here is whole.
            Err(e) if e.is_io_error() => return Err(UploadError::Unexpected(anyhow::Error::from(e))),
            Err(e) => {
                rows += 1;
                go_on = emit(Err(RowOutcome::new(
                    row,
                    "",
                    RowResult::Failed,
                    "malformed_row",
                    format!("The row is not valid CSV: {e}"),
                )));
                continue;
            }
        }
        rows += 1;
        let (candidate, checked) = match extract(&cols, row, &record).and_then(|c| validate(app, &c).map(|v| (c, v))) {
            Ok(found) => found,
            Err(outcome) => {
                go_on = emit(Err(outcome));
                continue;
            }
        };
        let email_key = candidate.email.trim().to_ascii_lowercase();
        let username_key = candidate.username.trim().to_ascii_lowercase();
        if let Some(first) = seen.earlier_or_note(&email_key, &username_key, row) {
            let message = format!("Row {first} has the same email or username; the first one wins.");
            let duplicate = RowOutcome::new(row, &candidate.email, RowResult::Skipped, "duplicate_in_file", message);
            go_on = emit(Err(duplicate));
            continue;
        }
        go_on = emit(Ok(Candidate {
            row: candidate,
            email_key: checked.email.key(),
            username_key: checked.username.key(),
        }));
    }
    Ok(rows)
}

/// Checks the file, then hands its rows to the pipeline: the job is recorded, the refused
/// rows settled, the valid ones queued (their passwords kept apart). `idempotency`: the
/// request's `Idempotency-Key` (the same key and file give the same job).
pub async fn upload(app: &App, operator: &str, bytes: &[u8], idempotency: Option<&str>) -> Result<RowJob, UploadError> {
    upload_with(app, operator, bytes, idempotency, false).await
}

/// `upload`, where the operator chose whether each learner it creates is sent an invitation
/// (`invite`, recorded on the job; the bulk worker queues the mails). The choice is part of
/// what an `Idempotency-Key` covers: the same key and file with the other choice is refused.
pub async fn upload_with(
    app: &App,
    operator: &str,
    bytes: &[u8],
    idempotency: Option<&str>,
    invite: bool,
) -> Result<RowJob, UploadError> {
    let checked = check(app, bytes)?;
    let submission = Submission {
        total: checked.rows,
        refused: checked.problems,
        rows: checked.valid.into_iter().map(|candidate| candidate.row).collect(),
    };
    let marked: Vec<u8>;
    let body = if invite {
        marked = [b"invite\n".as_slice(), bytes].concat();
        &marked
    } else {
        bytes
    };
    let idempotency = idempotency.map(|key| (key, body));
    Ok(submit_with::<BulkRegistration>(app, operator, submission, idempotency, invite).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header of 50,000 columns: each new name compared with every earlier one would be 10^9
    /// comparisons. Asserts what the header yields: which columns repeat, and where each is.
    #[test]
    fn a_header_of_many_columns_is_checked_and_its_repeats_named() {
        let mut names: Vec<String> = vec!["email".into(), "username".into(), "name".into(), "password".into()];
        names.extend((0..50_000).map(|i| format!("c{i}")));
        names.push("c49999".into());
        names.push("Email".into());
        let header = csv::ByteRecord::from(names.clone());
        let Err(UploadError::Columns(message)) = columns(&header) else { panic!("repeated columns are refused") };
        assert!(message.contains("repeated columns: c49999, email"), "{}", &message[message.len() - 200..]);
        assert!(message.contains("unknown columns: c0, c1, "));

        let header = csv::ByteRecord::from(vec!["name", "password", "username", "email"]);
        let found = columns(&header).unwrap();
        assert_eq!((found.email, found.username, found.name, found.password), (3, 2, 0, Some(1)));
    }
}
