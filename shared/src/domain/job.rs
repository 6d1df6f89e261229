//! Row jobs (bulk registration, deletion by list): the job, its rows, what happened to each
//! row, and how rows are grouped into blocks (one queue message each) and spread over shards.

use super::{Timestamp, UserId};
use serde::{Deserialize, Serialize};

/// Rows per block. A block is one queue message and one tally: with passwords, 25 hashes keep
/// a message well inside a worker's time.
pub const ROWS_PER_BLOCK: u64 = 25;
/// Row items are spread over this many partition keys, by block: concurrent workers (each on
/// its own block) write to different partitions, so no partition's 1,000 write units a
/// second caps a job (see docs/architecture.md, "Row jobs at scale").
pub const ROW_SHARDS: u64 = 16;
/// An intake still `receiving` this long after it started was cut off (a request lives 30 s
/// behind API Gateway; a function at most its timeout).
pub const INTAKE_DEADLINE_SECONDS: i64 = 900;

/// The block a row belongs to. Rows count from 1 (a list) or 2 (a CSV file under its header).
pub fn block_of(row: u64) -> u64 {
    row / ROWS_PER_BLOCK
}

/// The partition shard of a row (every row of a block shares it).
pub fn shard_of(row: u64) -> u64 {
    block_of(row) % ROW_SHARDS
}

/// The first and last row numbers a block can hold.
pub fn block_rows(block: u64) -> (u64, u64) {
    (block * ROWS_PER_BLOCK, block * ROWS_PER_BLOCK + ROWS_PER_BLOCK - 1)
}

/// A job's life as stored. `Running` and `Completed` are derived from its rows when read
/// (`JobProgress`); only the intake's own steps, and completion once seen, are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// The upload is still writing its rows and messages.
    Receiving,
    Queued,
    Running,
    Completed,
    /// The upload stopped before every row was queued (see `INTAKE_DEADLINE_SECONDS`).
    CutOff,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Receiving => "receiving",
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::CutOff => "cut_off",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "receiving" => Some(Self::Receiving),
            "queued" => Some(Self::Queued),
            "running" => Some(Self::Running),
            "completed" => Some(Self::Completed),
            "cut_off" => Some(Self::CutOff),
            _ => None,
        }
    }
}

/// What a job does. Both kinds settle rows the same way and name their outcomes their own way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    BulkRegistration,
    Deletion,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BulkRegistration => "bulk_registration",
            Self::Deletion => "deletion",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "bulk_registration" => Some(Self::BulkRegistration),
            "deletion" => Some(Self::Deletion),
            _ => None,
        }
    }

    /// The kind's own name of a row result, as the API, the report and the console show it.
    pub fn outcome_name(self, result: RowResult) -> &'static str {
        match (self, result) {
            (Self::BulkRegistration, RowResult::Done) => "created",
            (Self::BulkRegistration, RowResult::Skipped) => "skipped",
            (Self::Deletion, RowResult::Done) => "deleted",
            (Self::Deletion, RowResult::Skipped) => "not_found",
            (_, RowResult::Failed) => "failed",
        }
    }
}

/// How many rows ended each way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub done: u64,
    pub skipped: u64,
    pub failed: u64,
}

impl Counts {
    pub fn settled(&self) -> u64 {
        self.done + self.skipped + self.failed
    }

    pub fn count(&mut self, result: RowResult) {
        match result {
            RowResult::Done => self.done += 1,
            RowResult::Skipped => self.skipped += 1,
            RowResult::Failed => self.failed += 1,
        }
    }

    pub fn of<'a>(outcomes: impl IntoIterator<Item = &'a RowOutcome>) -> Self {
        let mut counts = Self::default();
        for outcome in outcomes {
            counts.count(outcome.result);
        }
        counts
    }

    pub fn plus(self, other: Self) -> Self {
        Self { done: self.done + other.done, skipped: self.skipped + other.skipped, failed: self.failed + other.failed }
    }

    /// The count of one result.
    pub fn of_result(&self, result: RowResult) -> u64 {
        match result {
            RowResult::Done => self.done,
            RowResult::Skipped => self.skipped,
            RowResult::Failed => self.failed,
        }
    }
}

/// A job as stored: written by its intake (and once more when seen complete), never by a row.
/// Rows the intake refused are settled (and tallied) by the intake itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowJob {
    pub id: String,
    pub kind: JobKind,
    pub operator: String,
    pub created_at: Timestamp,
    /// `Receiving`, `Queued` or `Completed`.
    pub status: JobStatus,
    pub total: u64,
    /// Its counts, written once when it was seen completed (until then they are the sum of its
    /// blocks' tallies).
    pub final_counts: Option<Counts>,
    /// The upload's `Idempotency-Key` (hashed with the operator) and its body's SHA-256.
    pub idempotency: Option<Idempotency>,
    /// Bulk registration only: each learner the job creates is sent an invitation to choose
    /// their password (chosen per upload; off by default, the seed's behaviour).
    pub invite: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idempotency {
    pub key: String,
    pub body_sha256: String,
}

impl RowJob {
    /// When its rows' records go (DynamoDB TTL): computed from the job, never read per row.
    pub fn rows_expire_at(&self) -> Timestamp {
        self.created_at.plus_seconds(JOB_RETENTION_SECONDS)
    }
}

/// Jobs and their rows are kept this long, then go by themselves.
pub const JOB_RETENTION_SECONDS: i64 = 30 * 86_400;

/// A job as its readers see it: the stored job, plus what its blocks' tallies count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobProgress {
    pub job: RowJob,
    pub counts: Counts,
    pub status: JobStatus,
}

impl JobProgress {
    pub fn new(job: RowJob, tallied: Counts, now: Timestamp) -> Self {
        let counts = job.final_counts.unwrap_or(tallied);
        // A job still receiving has no total yet (an uploaded file's is known once it is read).
        let receiving = job.status == JobStatus::Receiving;
        let status = if job.status == JobStatus::Completed || (!receiving && counts.settled() >= job.total) {
            JobStatus::Completed
        } else if receiving {
            if now.unix() - job.created_at.unix() > INTAKE_DEADLINE_SECONDS {
                JobStatus::CutOff
            } else {
                JobStatus::Receiving
            }
        } else if counts.settled() > 0 {
            JobStatus::Running
        } else {
            JobStatus::Queued
        };
        Self { job, counts, status }
    }
}

/// How a row ended, whatever its kind; each kind names it its own way
/// (`JobKind::outcome_name`: `created`/`skipped`/`failed`, `deleted`/`not_found`/`failed`), and
/// rows are stored and shown under those names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowResult {
    /// The row did what its job does (an account created, an account deleted).
    Done,
    Skipped,
    Failed,
}

impl RowResult {
    /// A stored row's result under any kind's name. A deletion row stored before rows were
    /// named per kind reads `created`, and still means done.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "created" | "deleted" => Some(Self::Done),
            "skipped" | "not_found" => Some(Self::Skipped),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// What happened to one row of the file. Rows are numbered as a spreadsheet shows them: the
/// header is row 1.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RowOutcome {
    pub row: u64,
    /// As written in the file (it may not be a valid address).
    pub email: String,
    pub result: RowResult,
    /// `created`, `already_registered`, `duplicate_in_file`, `invalid_email`, ...
    pub code: String,
    pub message: String,
    #[serde(skip)]
    pub user_id: Option<UserId>,
}

impl RowOutcome {
    pub fn new(row: u64, email: &str, result: RowResult, code: &str, message: impl Into<String>) -> Self {
        Self { row, email: email.to_owned(), result, code: code.to_owned(), message: message.into(), user_id: None }
    }

    pub fn is_problem(&self) -> bool {
        self.result != RowResult::Done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_holds_its_rows_and_neighbouring_blocks_use_other_shards() {
        let (first, last) = block_rows(block_of(57));
        assert!((first..=last).contains(&57));
        assert_eq!(last - first + 1, ROWS_PER_BLOCK);
        assert!((first..=last).all(|row| shard_of(row) == shard_of(57)));
        let shards: std::collections::HashSet<u64> = (0..ROW_SHARDS).map(|b| shard_of(b * ROWS_PER_BLOCK)).collect();
        assert_eq!(shards.len() as u64, ROW_SHARDS);
    }

    #[test]
    fn progress_is_derived_from_the_tallies() {
        let job = RowJob {
            id: "j".into(),
            kind: JobKind::Deletion,
            operator: "op".into(),
            created_at: Timestamp::from_unix(1_000),
            status: JobStatus::Queued,
            total: 3,
            final_counts: None,
            idempotency: None,
            invite: false,
        };
        let now = Timestamp::from_unix(1_010);
        assert_eq!(JobProgress::new(job.clone(), Counts::default(), now).status, JobStatus::Queued);
        let one = Counts { done: 1, ..Counts::default() };
        assert_eq!(JobProgress::new(job.clone(), one, now).status, JobStatus::Running);
        let done = JobProgress::new(job.clone(), Counts { done: 1, skipped: 1, failed: 1 }, now);
        assert_eq!((done.status, done.counts.settled()), (JobStatus::Completed, 3));
        let receiving = RowJob { status: JobStatus::Receiving, ..job };
        assert_eq!(JobProgress::new(receiving.clone(), one, now).status, JobStatus::Receiving);
        let late = Timestamp::from_unix(1_000 + INTAKE_DEADLINE_SECONDS + 1);
        assert_eq!(JobProgress::new(receiving, one, late).status, JobStatus::CutOff);
    }
}
