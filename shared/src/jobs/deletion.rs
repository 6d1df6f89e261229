//! Row job kind: deletion by list. A row is an address whose account goes; it ends `deleted`,
//! `not_found` or `failed`, and keeps no address it was not asked to keep (only a row that
//! is no valid address at all shows what was written, to say what was wrong).

use super::RowKind;
use crate::domain::{JobKind, RowJob, RowOutcome, RowResult};
use crate::flows::removal::{delete_one, target_outcome};
use crate::ports::Queue;
use crate::App;
use anyhow::Context;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// One account to delete: by address (an operator's list) or by id (the learner's own request).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeletionTarget {
    pub row: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

pub struct Deletion;

#[async_trait]
impl RowKind for Deletion {
    const KIND: JobKind = JobKind::Deletion;
    const QUEUE: Queue = Queue::Deletion;
    type Row = DeletionTarget;

    fn row_number(row: &DeletionTarget) -> u64 {
        row.row
    }

    fn failed(row: &DeletionTarget) -> RowOutcome {
        target_outcome(row, RowResult::Failed, "processing_failed", "The account could not be deleted; try again.")
    }

    async fn settle(app: &App, job: &RowJob, row: &DeletionTarget) -> anyhow::Result<()> {
        let secret = app
            .config
            .retirement_secret
            .as_deref()
            .context("LEARNERS_RETIREMENT_SECRET is not set: no deletion can run")?;
        delete_one(app, secret, Some(job), &job.operator, row).await
    }
}
