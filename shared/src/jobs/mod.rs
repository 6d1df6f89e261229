//! Row jobs: one pipeline for every "list of rows, settled one by one through a queue". Bulk
//! registration and deletion by list are its two kinds; a third (enrolment, unlock by list)
//! is one new file implementing `RowKind`.
//!
//! - `intake`: the rows, numbered once, become a job (`Receiving`, under the upload's
//!   `Idempotency-Key`), the rows refused at intake are settled in batches, the rest go out as
//!   one message per block of 25 rows, and the job is `Queued`. Every step may run again: a
//!   retried upload with the same key and body finishes a job that was cut off.
//! - `worker`: per message, skips the block's settled rows, settles the others (each exactly
//!   once, by a conditional write that is also what the row does), settles a row as failed on
//!   the message's last delivery and goes on, then writes the block's tally.
//! - `status`: a job's counts are the sum of its blocks' tallies (no write of a row touches
//!   the job: concurrent workers share no item); problem rows and the report come in pages.

pub mod bulk_registration;
pub mod deletion;
mod intake;
pub mod spreadsheet;
mod status;
mod worker;

pub use intake::{
    job_of_key, object_key, open_upload, receive_upload, submit, submit_with, IntakeError, Parser, Submission,
    UPLOAD_PREFIX, UPLOAD_VALID_FOR,
};
pub use status::{
    parse_cursor, problems_page, progress, report_page, safe_csv, CursorError, Paged, PROBLEMS_PER_PAGE,
    REPORT_ROWS_PER_PAGE,
};
pub use worker::process;

use crate::domain::{JobKind, RowJob, RowOutcome};
use crate::ports::Queue;
use crate::App;
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// What a kind of job does with its rows.
#[async_trait]
pub trait RowKind: Send + Sync + 'static {
    const KIND: JobKind;
    const QUEUE: Queue;
    /// One row as its message carries it.
    type Row: Serialize + DeserializeOwned + Send + Sync;

    fn row_number(row: &Self::Row) -> u64;

    /// The outcome of a row that could not be settled by its last delivery.
    fn failed(row: &Self::Row) -> RowOutcome;

    /// Called once before the rows go out: takes out what must never travel through a queue.
    async fn before_enqueue(_app: &App, _job: &RowJob, _rows: &mut [Self::Row]) -> anyhow::Result<()> {
        Ok(())
    }

    /// Settles one row, exactly once however often it is called (the store's conditional
    /// write of the row's item is also what the row does, in one transaction).
    async fn settle(app: &App, job: &RowJob, row: &Self::Row) -> anyhow::Result<()>;
}

/// One block of a job's rows on its way to the worker.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowMessage<R> {
    pub job_id: String,
    pub rows: Vec<R>,
}
