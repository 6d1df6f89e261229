//! The one worker loop of every kind of row job.

use super::{RowKind, RowMessage};
use crate::domain::{block_of, Counts};
use crate::App;
use std::collections::{BTreeMap, HashSet};

/// Settles every row of a message, then tallies its blocks. Rows settled before (a
/// redelivery) are passed over. Err: the message comes back; on its last delivery
/// (`final_attempt`) a row that still fails is settled as failed, and the loop goes on.
pub async fn process<K: RowKind>(app: &App, message: &RowMessage<K::Row>, final_attempt: bool) -> anyhow::Result<()> {
    // A message proves little by itself: the worker acts only for a job of its kind that it
    // can read, and only on row numbers within the job's range. (Which addresses a row names
    // is not checked here: only the stack's own functions may send to the queues, see each
    // queue's policy in template.yaml.)
    let job = match app.jobs.job(&message.job_id).await? {
        Some(job) if job.kind == K::KIND => job,
        _ => {
            tracing::warn!(job_id = %message.job_id, kind = K::KIND.as_str(), "message names no job of its kind: nothing done");
            return Ok(());
        }
    };
    // The intake sends one block a message; a message is input, so group it anyway.
    let mut blocks: BTreeMap<u64, Vec<&K::Row>> = BTreeMap::new();
    // An uploaded file's rows go out while it is read: its total is known only at the end.
    let last = match job.status {
        crate::domain::JobStatus::Receiving => u64::MAX,
        _ => job.total + 1,
    };
    for row in &message.rows {
        let number = K::row_number(row);
        if (1..=last).contains(&number) {
            blocks.entry(block_of(number)).or_default().push(row);
        } else {
            tracing::warn!(job_id = %job.id, row = number, "not a row of the job: nothing done");
        }
    }
    let mut first_error = None;
    for (block, rows) in blocks {
        let settled: HashSet<u64> = app.jobs.block_rows(&job.id, block).await?.iter().map(|o| o.row).collect();
        for row in rows.into_iter().filter(|row| !settled.contains(&K::row_number(row))) {
            let started = std::time::Instant::now();
            let result = K::settle(app, &job, row).await;
            // The pace (`LEARNERS_ROW_MIN_MILLIS`): what bounds a job's writes a second.
            let pace = std::time::Duration::from_millis(app.config.row_min_millis);
            tokio::time::sleep(pace.saturating_sub(started.elapsed())).await;
            let Err(error) = result else {
                continue;
            };
            tracing::warn!(job_id = %job.id, row = K::row_number(row), error = format!("{error:#}"), "row failed");
            if final_attempt {
                if let Err(error) = app.jobs.settle_row(&job, &K::failed(row)).await {
                    tracing::error!(job_id = %job.id, row = K::row_number(row), error = format!("{error:#}"), "row could not even be settled as failed");
                }
            }
            first_error.get_or_insert(error);
        }
        // The tally is counted from the rows as stored: exact whoever settled them, and
        // written again (only ever larger) by every delivery. On the last delivery it is
        // tried a few more times: no later delivery would write it.
        let attempts = if final_attempt { TALLY_ATTEMPTS } else { 1 };
        let mut attempt = 1;
        while let Err(error) = tally(app, &job, block).await {
            if attempt >= attempts {
                return Err(error);
            }
            tracing::warn!(job_id = %job.id, block, error = format!("{error:#}"), "tally failed; trying again");
            tokio::time::sleep(std::time::Duration::from_millis(200 << attempt)).await;
            attempt += 1;
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// How often the last delivery of a message tries to write its blocks' tallies.
const TALLY_ATTEMPTS: u32 = 4;

async fn tally(app: &App, job: &crate::domain::RowJob, block: u64) -> anyhow::Result<()> {
    let outcomes = app.jobs.block_rows(&job.id, block).await?;
    app.jobs.record_tally(job, block, &Counts::of(&outcomes)).await
}
