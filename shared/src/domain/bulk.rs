//! Bulk registration jobs: the job, its rows, and what happened to each row.

use super::{Timestamp, UserId};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Queued,
    Running,
    Completed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Completed => "completed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "queued" => Some(Self::Queued),
            "running" => Some(Self::Running),
            "completed" => Some(Self::Completed),
            _ => None,
        }
    }
}

/// What a job does. Both kinds settle rows the same way; for a deletion job, `created` counts
/// deleted accounts and `skipped` addresses that had none.
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
}

/// A job as stored: counts move as rows are settled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BulkJob {
    pub id: String,
    pub kind: JobKind,
    pub operator: String,
    pub created_at: Timestamp,
    pub status: JobStatus,
    pub total: u64,
    pub created: u64,
    pub skipped: u64,
    pub failed: u64,
}

impl BulkJob {
    pub fn settled(&self) -> u64 {
        self.created + self.skipped + self.failed
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowResult {
    Created,
    Skipped,
    Failed,
}

impl RowResult {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "created" => Some(Self::Created),
            "skipped" => Some(Self::Skipped),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }

    /// The job counter this result adds to.
    pub fn counter(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
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
