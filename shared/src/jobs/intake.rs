//! From numbered rows to a queued job (see the module above for the steps).

use super::{RowKind, RowMessage};
use crate::domain::{block_of, Counts, Idempotency, JobStatus, RowJob, RowOutcome};
use crate::ports::JobCreated;
use crate::App;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// A file (or list) read and checked: how many rows, the ones refused, the ones to settle.
pub struct Submission<R> {
    pub total: u64,
    /// Rows settled at intake (invalid, duplicates in the file), in any order.
    pub refused: Vec<RowOutcome>,
    /// The rows for the worker, in row order.
    pub rows: Vec<R>,
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("this Idempotency-Key was used with another body")]
    KeyReused,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Records the job and sends its rows out. With an `Idempotency-Key` (the operator's, with
/// the body it came with): the same key and body give the same job (an intake cut off
/// half-way is finished); the same key with another body is refused.
pub async fn submit<K: RowKind>(
    app: &App,
    operator: &str,
    submission: Submission<K::Row>,
    idempotency: Option<(&str, &[u8])>,
) -> Result<RowJob, IntakeError> {
    submit_with::<K>(app, operator, submission, idempotency, false).await
}

/// `submit`, recording `invite` on the job (bulk registration: each created learner is sent
/// an invitation, issue 26).
pub async fn submit_with<K: RowKind>(
    app: &App,
    operator: &str,
    mut submission: Submission<K::Row>,
    idempotency: Option<(&str, &[u8])>,
    invite: bool,
) -> Result<RowJob, IntakeError> {
    let idempotency = idempotency.map(|(key, body)| Idempotency {
        key: sha256_hex(&[operator.as_bytes(), key.as_bytes()]),
        body_sha256: sha256_hex(&[K::KIND.as_str().as_bytes(), body]),
    });
    let mut job = RowJob {
        id: uuid::Uuid::now_v7().to_string(),
        kind: K::KIND,
        operator: operator.to_owned(),
        created_at: app.clock.now(),
        status: JobStatus::Receiving,
        total: submission.total,
        final_counts: None,
        idempotency,
        invite,
    };
    let mut resumed = false;
    if let JobCreated::Existing(existing) = app.jobs.create_job(&job).await? {
        let same_body =
            existing.idempotency.as_ref().map(|i| &i.body_sha256) == job.idempotency.as_ref().map(|i| &i.body_sha256);
        if !same_body || existing.kind != K::KIND {
            return Err(IntakeError::KeyReused);
        }
        if existing.status != JobStatus::Receiving {
            return Ok(existing);
        }
        tracing::info!(job_id = %existing.id, "finishing an intake that was cut off");
        job = existing;
        resumed = true;
    }

    // The blocks that hold only refused rows get their tally from the intake (no worker
    // will see them), the others from their worker.
    let mut refused_blocks: BTreeMap<u64, Counts> = BTreeMap::new();
    for outcome in &submission.refused {
        refused_blocks.entry(block_of(outcome.row)).or_default().count(outcome.result);
    }
    for row in &submission.rows {
        refused_blocks.remove(&block_of(K::row_number(row)));
    }
    if resumed {
        // What the first intake's messages settled meanwhile stays as it is: no row is
        // written again (a deletion may have scrubbed it since), no password kept again.
        let settled = settled_rows::<K>(app, &job, &submission).await?;
        submission.refused.retain(|outcome| !settled.contains(&outcome.row));
        submission.rows.retain(|row| !settled.contains(&K::row_number(row)));
    }
    // Rows refused at intake, in batches.
    app.jobs.settle_at_intake(&job, &submission.refused).await?;
    let tallies: Vec<(u64, Counts)> = refused_blocks.into_iter().collect();
    for chunk in tallies.chunks(16) {
        futures::future::try_join_all(chunk.iter().map(|(block, counts)| app.jobs.record_tally(&job, *block, counts)))
            .await?;
    }

    K::before_enqueue(app, &job, &mut submission.rows).await?;
    let mut bodies = Vec::new();
    let mut rows = submission.rows.into_iter().peekable();
    while let Some(first) = rows.next() {
        let block = block_of(K::row_number(&first));
        let mut message = RowMessage { job_id: job.id.clone(), rows: vec![first] };
        while let Some(row) = rows.next_if(|row| block_of(K::row_number(row)) == block) {
            message.rows.push(row);
        }
        bodies.push(serde_json::to_string(&message).map_err(anyhow::Error::from)?);
    }
    app.queue.enqueue(K::QUEUE, &bodies).await?;
    app.jobs.mark_queued(&job.id).await?;
    job.status = JobStatus::Queued;
    tracing::info!(operator, job_id = %job.id, kind = K::KIND.as_str(), rows = job.total, messages = bodies.len(), "row job queued");
    Ok(job)
}

/// The rows of a submission's blocks that are settled already (one query a block, 16 at a
/// time).
async fn settled_rows<K: RowKind>(
    app: &App,
    job: &RowJob,
    submission: &Submission<K::Row>,
) -> anyhow::Result<std::collections::HashSet<u64>> {
    let mut blocks: std::collections::BTreeSet<u64> = submission.refused.iter().map(|o| block_of(o.row)).collect();
    blocks.extend(submission.rows.iter().map(|row| block_of(K::row_number(row))));
    let blocks: Vec<u64> = blocks.into_iter().collect();
    let mut settled = std::collections::HashSet::new();
    for chunk in blocks.chunks(16) {
        let found =
            futures::future::try_join_all(chunk.iter().map(|block| app.jobs.block_rows(&job.id, *block))).await?;
        settled.extend(found.into_iter().flatten().map(|outcome| outcome.row));
    }
    Ok(settled)
}
