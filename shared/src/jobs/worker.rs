//! The one worker loop of every kind of row job.

use super::{RowKind, RowMessage};
use crate::domain::{block_of, Counts};
use crate::App;
use std::collections::{BTreeMap, HashSet};

/// Settles every row of a message, then tallies its blocks. Rows settled before (a
/// redelivery) are passed over. Err: the message comes back; on its last delivery
/// (`final_attempt`) a row that still fails is settled as failed, and the loop goes on.
pub async fn process<K: RowKind>(app: &App, message: &RowMessage<K::Row>, final_attempt: bool) -> anyhow::Result<()> {
    // A message proves nothing by itself (anything that may send to the queue could have
    // written it): the worker acts only for a job of its kind that it can read, and only on
    // rows that job has.
    let job = match app.jobs.job(&message.job_id).await? {
        Some(job) if job.kind == K::KIND => job,
        _ => {
            tracing::warn!(job_id = %message.job_id, kind = K::KIND.as_str(), "message names no job of its kind: nothing done");
            return Ok(());
        }
    };
    // The intake sends one block a message; a message is input, so group it anyway.
    let mut blocks: BTreeMap<u64, Vec<&K::Row>> = BTreeMap::new();
    for row in &message.rows {
        let number = K::row_number(row);
        if (1..=job.total + 1).contains(&number) {
            blocks.entry(block_of(number)).or_default().push(row);
        } else {
            tracing::warn!(job_id = %job.id, row = number, "not a row of the job: nothing done");
        }
    }
    let mut first_error = None;
    for (block, rows) in blocks {
        let settled: HashSet<u64> = app.jobs.block_rows(&job.id, block).await?.iter().map(|o| o.row).collect();
        for row in rows.into_iter().filter(|row| !settled.contains(&K::row_number(row))) {
            let Err(error) = K::settle(app, &job, row).await else {
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
        // written again (only ever larger) by every delivery.
        let outcomes = app.jobs.block_rows(&job.id, block).await?;
        app.jobs.record_tally(&job, block, &Counts::of(&outcomes)).await?;
    }
    first_error.map_or(Ok(()), Err)
}
