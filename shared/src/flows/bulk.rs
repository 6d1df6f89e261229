//! Bulk registration files: the rules a CSV file and its rows must follow (the
//! self-registration rules), the dry run, and the upload, which hands the rows to the row-job
//! pipeline (`jobs`, kind `jobs::bulk_registration`).

use crate::domain::{RowJob, RowOutcome, RowResult};
use crate::jobs::bulk_registration::{validate, BulkRegistration, BulkRow};
use crate::jobs::spreadsheet::{self, FileError, Sheet};
use crate::jobs::{submit_with, IntakeError, Submission};
use crate::App;
use std::collections::HashMap;

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
    /// The file cannot be read as a whole (an unclosed quote, UTF-16 without its mark): said
    /// in words, with the row and column.
    #[error("{0}")]
    File(String),
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

const REQUIRED: [&str; 3] = ["email", "username", "name"];
const OPTIONAL: [&str; 1] = ["password"];
const EXPECTED: &str = "email, username, name and optionally password";

/// Finds the columns (`jobs::spreadsheet`'s rules: other columns are noted and read past).
fn columns(sheet: &mut Sheet<'_>) -> Result<Columns, UploadError> {
    let found = sheet.columns(&REQUIRED, &OPTIONAL, EXPECTED)?;
    let at = |name: &str| found.at(name).ok_or_else(|| anyhow::anyhow!("the {name} column was checked"));
    Ok(Columns { email: at("email")?, username: at("username")?, name: at("name")?, password: found.at("password") })
}

/// The file as CSV records, as a spreadsheet wrote it (`jobs::spreadsheet`).
fn reader<'r>(input: impl std::io::Read + Send + 'r) -> Result<Sheet<'r>, UploadError> {
    Ok(spreadsheet::open(input)?.into_sheet()?)
}

impl From<FileError> for UploadError {
    fn from(error: FileError) -> Self {
        match error {
            FileError::Empty => Self::Empty,
            FileError::Columns(message) => Self::Columns(message),
            other => Self::File(other.to_string()),
        }
    }
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
fn extract(sheet: &Sheet<'_>, cols: &Columns, row: u64, record: &csv::ByteRecord) -> Result<BulkRow, RowOutcome> {
    let raw_email = sheet.text(row, record, cols.email).unwrap_or_default().to_owned();
    let fail = |code: &str, message: String| RowOutcome::new(row, &raw_email, RowResult::Failed, code, message);
    let last = [cols.email, cols.username, cols.name].into_iter().chain(cols.password).max().unwrap_or(0);
    if record.len() <= last {
        let missing = sheet.names().get(last).cloned().unwrap_or_default();
        let cells = if record.len() == 1 { "cell" } else { "cells" };
        return Err(fail(
            "wrong_field_count",
            format!("The row ends before its {missing} column: it has {} {cells}.", record.len()),
        ));
    }
    let text = |i: usize| match sheet.text(row, record, i) {
        Ok(value) => Ok(value.to_owned()),
        Err(e) => Err(fail("invalid_utf8", e.to_string())),
    };
    let (email, username, name) = (text(cols.email)?, text(cols.username)?, text(cols.name)?);
    let password = match cols.password {
        Some(i) => Some(text(i)?).filter(|p| !p.is_empty()),
        None => None,
    };
    Ok(BulkRow { row, email, username, name, has_password: password.is_some(), password })
}

/// A file read and checked: how many rows, what is wrong with which, and the valid ones.
pub struct Checked {
    pub rows: u64,
    /// Invalid rows (failed) and in-file duplicates (skipped), in row order.
    pub problems: Vec<RowOutcome>,
    /// What was done to read the file (its encoding, separator, columns not read) and, for a
    /// dry run cut short, how many rows were not compared with the accounts.
    pub warnings: Vec<String>,
    /// Valid rows a dry run had no time to compare with the accounts.
    pub unchecked: u64,
    /// The valid rows, as the real run submits them (without their lookup keys: a 100,000-row
    /// upload held both, and a second copy of the rows while it handed them over).
    valid: Vec<BulkRow>,
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

/// How long a dry run compares rows with the accounts: it answers within API Gateway's 30
/// seconds (the file's reading and checking come first, and the answer must travel back).
pub const DRY_RUN_BUDGET: std::time::Duration = std::time::Duration::from_secs(20);

/// Valid rows compared with the accounts per store call (two claims each: 200 keys, two
/// BatchGetItem requests).
const LOOKUP_ROWS: usize = 100;

/// A dry run: what `check` finds, and also every row whose email or username an account holds
/// already, which the real run skips (`already_registered`): so a dry run names every row the
/// real run would not create. Looked up in batches (`UserStore::claims_held`), within
/// `DRY_RUN_BUDGET`: a file too large for that answers with what was compared, and says how
/// many rows were not.
pub async fn dry_run(app: &App, bytes: &[u8]) -> Result<Checked, UploadError> {
    dry_run_within(app, bytes, DRY_RUN_BUDGET).await
}

/// `dry_run` with its time budget given (the tests give a tiny one).
pub async fn dry_run_within(app: &App, bytes: &[u8], budget: std::time::Duration) -> Result<Checked, UploadError> {
    let started = std::time::Instant::now();
    let (mut checked, candidates) = check_keeping(app, bytes, |candidate| candidate)?;
    let mut compared = 0;
    for block in candidates.chunks(LOOKUP_ROWS) {
        if started.elapsed() >= budget {
            break;
        }
        let emails: Vec<String> = block.iter().map(|c| c.email_key.clone()).collect();
        let usernames: Vec<String> = block.iter().map(|c| c.username_key.clone()).collect();
        let held = app.store.claims_held(&emails, &usernames).await?;
        for candidate in block {
            let what = if held.emails.contains_key(&candidate.email_key) {
                "email"
            } else if held.usernames.contains(&candidate.username_key) {
                "username"
            } else {
                continue;
            };
            let message = format!("An account with this {what} already exists; it would be left as it is.");
            checked.problems.push(RowOutcome::new(
                candidate.row.row,
                &candidate.row.email,
                RowResult::Skipped,
                "already_registered",
                message,
            ));
        }
        compared += block.len();
    }
    checked.unchecked = (candidates.len() - compared) as u64;
    if checked.unchecked > 0 {
        let rows = if checked.unchecked == 1 { "row was" } else { "rows were" };
        checked.warnings.push(format!(
            "The check ran out of time: {} valid {rows} not compared with the existing accounts (every other \
             check was made). The real run skips any that exist, as already_registered.",
            checked.unchecked
        ));
    }
    checked.problems.sort_by_key(|p| p.row);
    Ok(checked)
}

fn check_rows(app: &App, bytes: &[u8]) -> Result<Checked, UploadError> {
    let (checked, valid) = check_keeping(app, bytes, |candidate| candidate.row)?;
    Ok(Checked { valid, ..checked })
}

/// Checks the file, keeping of each valid row what `keep` takes of it (the real run: the row;
/// a dry run: the row and its lookup keys). The `Checked` it gives holds no valid row.
fn check_keeping<T>(app: &App, bytes: &[u8], keep: impl Fn(Candidate) -> T) -> Result<(Checked, Vec<T>), UploadError> {
    let mut problems = Vec::new();
    // Room for every line at once (a quoted line break only over-counts): grown by doubling,
    // the rows would be held twice while the last copy was made.
    let lines = bytes.iter().filter(|&&byte| byte == b'\n').count() + 1;
    let mut valid = Vec::with_capacity(lines);
    let (rows, warnings) = each_candidate(app, &mut &*bytes, Whole::Refused, &mut |found| {
        match found {
            Ok(candidate) => valid.push(keep(candidate)),
            Err(outcome) => problems.push(outcome),
        }
        true
    })?;
    Ok((Checked { rows, problems, warnings, unchecked: 0, valid: Vec::new() }, valid))
}

/// The first row of each email and of each username (lower-cased) seen in a file, kept as a
/// 64-bit hash under a key of this reading and the row: 12 bytes a name, not the name. Each
/// table is cut in 256 parts by the hash's middle bits, so growing one moves 1/256 of it (one
/// table growing whole would hold its old and new buckets at once: at a million rows the two
/// did, 100 MB at the peak). A million-row file holds about 40 MB. Two names share a hash with
/// odds of about one in ten million in a million-row file: the later row would be skipped as a
/// duplicate (and reported, so the operator sees it).
struct FirstSeen {
    key: std::collections::hash_map::RandomState,
    emails: Vec<Rows>,
    usernames: Vec<Rows>,
}

/// One part of a `FirstSeen` table: a name's hash to its first row.
type Rows = HashMap<Hash64, u32, std::hash::BuildHasherDefault<Prehashed>>;

/// How many parts a `FirstSeen` table is cut in.
const SEEN_PARTS: usize = 256;

impl Default for FirstSeen {
    fn default() -> Self {
        let parts = || (0..SEEN_PARTS).map(|_| Rows::default()).collect();
        Self { key: Default::default(), emails: parts(), usernames: parts() }
    }
}

impl FirstSeen {
    /// The earlier row with this email or username; else the row is recorded as their first.
    fn earlier_or_note(&mut self, email_key: &str, username_key: &str, row: u64) -> Option<u64> {
        use std::hash::BuildHasher;
        let (email, username) = (self.key.hash_one(email_key), self.key.hash_one(username_key));
        // The part by bits the map itself uses for neither the bucket (low) nor the tag (top).
        let part = |hash: u64| (hash >> 24) as usize % SEEN_PARTS;
        let (emails, usernames) = (&mut self.emails[part(email)], &mut self.usernames[part(username)]);
        let (email, username) = (Hash64::from(email), Hash64::from(username));
        if let Some(first) = emails.get(&email).or_else(|| usernames.get(&username)) {
            return Some(u64::from(*first));
        }
        let row = u32::try_from(row).unwrap_or(u32::MAX);
        emails.insert(email, row);
        usernames.insert(username, row);
        None
    }
}

/// A 64-bit hash as two halves: with its `u32` row, 12 bytes a slot instead of 16.
#[derive(PartialEq, Eq)]
struct Hash64([u32; 2]);

impl From<u64> for Hash64 {
    fn from(hash: u64) -> Self {
        Self([(hash >> 32) as u32, hash as u32])
    }
}

impl std::hash::Hash for Hash64 {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64((u64::from(self.0[0]) << 32) | u64::from(self.0[1]));
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
        each_candidate(&app, read, Whole::RowFailed, &mut |found| emit(found.map(|candidate| candidate.row)))
            .map(|(rows, _)| rows)
            .map_err(|error| {
                let code = match &error {
                    UploadError::Columns(_) => "bad_columns",
                    UploadError::Empty => "empty_file",
                    UploadError::File(_) | UploadError::KeyReused | UploadError::Unexpected(_) => "unreadable_file",
                };
                RowOutcome::new(1, "", RowResult::Failed, code, error.to_string())
            })
    })
}

/// What a quote left open at the end of a file refuses: the whole file (a file in hand: the
/// operator sends it again, mended), or the row it opens on (an upload read as it comes, whose
/// earlier rows are on their way already).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Whole {
    Refused,
    RowFailed,
}

/// Reads a file as it comes and hands each row, in row order, to `emit` (false: stop): a valid
/// row, or why it is refused (invalid, or a duplicate of an earlier row of the file). The rows
/// read, and what was done to read the file (`jobs::spreadsheet`'s notes).
fn each_candidate(
    app: &App,
    read: &mut (dyn std::io::Read + Send),
    unclosed: Whole,
    emit: &mut dyn FnMut(Result<Candidate, RowOutcome>) -> bool,
) -> Result<(u64, Vec<String>), UploadError> {
    let mut sheet = reader(read)?;
    let cols = columns(&mut sheet)?;
    let mut seen = FirstSeen::default();
    let mut rows = 0;
    let mut record = csv::ByteRecord::new();
    let mut go_on = true;
    while go_on {
        let row = match sheet.next(&mut record) {
            Ok(Some(row)) => row,
            Ok(None) => break,
            Err(error @ FileError::UnclosedQuote { row, .. }) if unclosed == Whole::RowFailed => {
                rows += 1;
                emit(Err(RowOutcome::new(row, "", RowResult::Failed, "malformed_row", error.to_string())));
                break;
            }
            Err(error) => return Err(error.into()),
        };
        rows += 1;
        let (candidate, checked) =
            match extract(&sheet, &cols, row, &record).and_then(|c| validate(app, &c).map(|v| (c, v))) {
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
    Ok((rows, sheet.into_notes()))
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
    let submission = Submission { total: checked.rows, refused: checked.problems, rows: checked.valid };
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

    fn sheet(text: &str) -> Sheet<'_> {
        reader(text.as_bytes()).unwrap()
    }

    /// A header of 50,000 columns: each new name compared with every earlier one would be 10^9
    /// comparisons. Asserts what the header yields: which columns repeat, where each is, and
    /// that the others are named as not read.
    #[test]
    fn a_header_of_many_columns_is_checked_and_its_repeats_named() {
        let mut names: Vec<String> = vec!["email".into(), "username".into(), "name".into(), "password".into()];
        names.extend((0..50_000).map(|i| format!("c{i}")));
        names.push("Email".into());
        let header = names.join(",") + "\n";
        let Err(UploadError::Columns(message)) = columns(&mut sheet(&header)) else {
            panic!("repeated columns are refused")
        };
        assert!(message.ends_with("it names the email column more than once."), "{message}");

        let header = names[..names.len() - 1].join(",") + "\n";
        let mut many = sheet(&header);
        columns(&mut many).unwrap();
        assert!(many.notes()[0].contains("c0, c1, c2"), "{:?}", many.notes());
        assert!(many.notes()[0].ends_with("and 49990 more."), "{:?}", many.notes());

        let found = columns(&mut sheet("name,password,username,email\n")).unwrap();
        assert_eq!((found.email, found.username, found.name, found.password), (3, 2, 0, Some(1)));
    }
}
