//! From numbered rows to a queued job (see the module above for the steps).

use super::{RowKind, RowMessage};
use crate::domain::{block_of, Counts, Idempotency, JobKind, JobStatus, RowJob, RowOutcome};
use crate::ports::JobCreated;
use crate::App;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

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
    submission: Submission<K::Row>,
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

    let total = submission.total;
    let messages = send_out::<K>(app, &job, submission, resumed).await?;
    app.jobs.mark_queued(&job.id, total).await?;
    job.status = JobStatus::Queued;
    tracing::info!(operator, job_id = %job.id, kind = K::KIND.as_str(), rows = job.total, messages, "row job queued");
    Ok(job)
}

/// Settles the refused rows of whole blocks and sends the other rows out, one message a
/// block; on a `resumed` intake, the rows settled meanwhile are left as they are. The number
/// of messages sent.
async fn send_out<K: RowKind>(
    app: &App,
    job: &RowJob,
    mut submission: Submission<K::Row>,
    resumed: bool,
) -> Result<usize, IntakeError> {
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
        let settled = settled_rows::<K>(app, job, &submission).await?;
        submission.refused.retain(|outcome| !settled.contains(&outcome.row));
        submission.rows.retain(|row| !settled.contains(&K::row_number(row)));
    }
    // Rows refused at intake, in batches.
    app.jobs.settle_at_intake(job, &submission.refused).await?;
    let tallies: Vec<(u64, Counts)> = refused_blocks.into_iter().collect();
    for chunk in tallies.chunks(16) {
        futures::future::try_join_all(chunk.iter().map(|(block, counts)| app.jobs.record_tally(job, *block, counts)))
            .await?;
    }

    K::before_enqueue(app, job, &mut submission.rows).await?;
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
    Ok(bodies.len())
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

/// The object key of an uploaded job's file: the job's kind and id (what the intake is started
/// with), under `uploads/`, the prefix the bucket's notification and lifecycle rules name.
pub fn object_key(kind: JobKind, job_id: &str) -> String {
    format!("{UPLOAD_PREFIX}{}/{job_id}.csv", kind.as_str())
}

/// Where uploaded files go in the bucket.
pub const UPLOAD_PREFIX: &str = "uploads/";

/// The job an object key names (`object_key`'s inverse); `None` for any other key.
pub fn job_of_key(key: &str) -> Option<(JobKind, &str)> {
    let (kind, file) = key.strip_prefix(UPLOAD_PREFIX)?.split_once('/')?;
    let id = file.strip_suffix(".csv")?;
    let valid = !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    Some((JobKind::parse(kind)?, id)).filter(|_| valid)
}

/// How long a signed upload may be used: long enough for a slow link to send 100 MB.
pub const UPLOAD_VALID_FOR: Duration = Duration::from_secs(3600);

/// A new job whose file comes by upload: recorded `Receiving` with no rows yet, under the
/// request's `Idempotency-Key` if any (the same key gives the same job, while it waits for its
/// file; a key used with a file sent directly is refused). Its file's key is `object_key`.
pub async fn open_upload(
    app: &App,
    kind: JobKind,
    operator: &str,
    invite: bool,
    idempotency: Option<&str>,
) -> Result<RowJob, IntakeError> {
    let job = RowJob {
        id: uuid::Uuid::now_v7().to_string(),
        kind,
        operator: operator.to_owned(),
        created_at: app.clock.now(),
        status: JobStatus::Receiving,
        total: 0,
        final_counts: None,
        idempotency: idempotency.map(|key| Idempotency {
            key: sha256_hex(&[operator.as_bytes(), key.as_bytes()]),
            body_sha256: sha256_hex(&[kind.as_str().as_bytes(), b"upload", &[u8::from(invite)]]),
        }),
        invite,
    };
    match app.jobs.create_job(&job).await? {
        JobCreated::Created => Ok(job),
        JobCreated::Existing(existing)
            if existing.idempotency.as_ref().map(|i| &i.body_sha256)
                == job.idempotency.as_ref().map(|i| &i.body_sha256) =>
        {
            Ok(existing)
        }
        JobCreated::Existing(_) => Err(IntakeError::KeyReused),
    }
}

/// Reads an uploaded file and hands its rows, in row order, to `emit` (false: stop reading);
/// the rows read, or the whole file's refusal (its header row's outcome).
pub type Parser<R> = Box<
    dyn FnOnce(&mut (dyn Read + Send), &mut dyn FnMut(Result<R, RowOutcome>) -> bool) -> Result<u64, RowOutcome> + Send,
>;

/// Rows sent out together: the refused ones settled in one batch, the passwords sealed in one
/// call, the messages enqueued ten at a time. Bounds what the intake holds, whatever the file.
const ROWS_PER_FLUSH: usize = 1_000;

/// The intake of an uploaded file, started by its arrival (S3's `ObjectCreated`, at least
/// once). The object is read as a stream: `parse` runs on a blocking thread over the bytes as
/// they come, and its rows go out a thousand at a time, so what is held stays the same for a
/// file of a thousand rows or a million. Then the job is `Queued` with its total and the file
/// deleted.
///
/// Idempotent: a job no longer `Receiving` (a repeated event) is left alone; an intake cut off
/// half-way (the function timed out, a read failed) runs again from the start on the retried
/// event and leaves the rows settled meanwhile as they are (`send_out`).
pub async fn receive_upload<K: RowKind>(app: &App, key: &str, parse: Parser<K::Row>) -> anyhow::Result<()> {
    let Some((kind, job_id)) = job_of_key(key).filter(|(kind, _)| *kind == K::KIND) else {
        tracing::warn!(key, "an object that names no job of this kind: ignored");
        return Ok(());
    };
    let job = match app.jobs.job(job_id).await? {
        Some(job) if job.kind == kind && job.status == JobStatus::Receiving => job,
        Some(_) => {
            tracing::info!(job_id, "the job's file was taken in before (a repeated event)");
            return Ok(());
        }
        None => {
            tracing::warn!(job_id, "an uploaded file of no job: deleted");
            return app.uploads.delete(key).await;
        }
    };
    let Some(mut object) = app.uploads.open(key).await? else {
        tracing::warn!(job_id, "the job's file is gone (taken in and deleted by another delivery)");
        return Ok(());
    };
    // A row of the job settled already: an earlier intake ran (part of) this file.
    let resumed = !app.jobs.rows(&job.id, 0, 1).await?.is_empty();

    let (bytes_in, bytes_out) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(8);
    let (rows_in, mut rows_out) = tokio::sync::mpsc::channel::<Result<K::Row, RowOutcome>>(4 * ROWS_PER_FLUSH);
    let parsing = tokio::task::spawn_blocking(move || {
        let mut read = ChannelRead { chunks: bytes_out, current: bytes::Bytes::new() };
        parse(&mut read, &mut |row| rows_in.blocking_send(row).is_ok())
    });
    let reading = async move {
        use futures::StreamExt;
        while let Some(chunk) = object.next().await {
            // A failed read reaches the parser as an error, never as the end of the file (a
            // row cut short there would be settled as invalid).
            let failed = chunk.as_ref().err().map(|e| format!("{e:#}"));
            let sent = bytes_in.send(chunk.map_err(|_| std::io::Error::other("the upload could not be read"))).await;
            if let Some(error) = failed {
                anyhow::bail!("reading the uploaded file: {error}");
            }
            if sent.is_err() {
                break;
            }
        }
        anyhow::Ok(())
    };
    let sending = async {
        let mut batch = Submission { total: 0, refused: Vec::new(), rows: Vec::new() };
        let mut last_block = None;
        let mut messages = 0;
        while let Some(row) = rows_out.recv().await {
            let number = match &row {
                Ok(row) => K::row_number(row),
                Err(outcome) => outcome.row,
            };
            // Whole blocks go out together: a block's tally is written by one party.
            let block = block_of(number);
            if batch.refused.len() + batch.rows.len() >= ROWS_PER_FLUSH && last_block != Some(block) {
                let full =
                    std::mem::replace(&mut batch, Submission { total: 0, refused: Vec::new(), rows: Vec::new() });
                messages += send_out::<K>(app, &job, full, resumed).await?;
            }
            last_block = Some(block);
            match row {
                Ok(row) => batch.rows.push(row),
                Err(outcome) => batch.refused.push(outcome),
            }
        }
        messages += send_out::<K>(app, &job, batch, resumed).await?;
        anyhow::Ok(messages)
    };
    let (read, sent) = tokio::join!(reading, sending);
    let parsed = parsing.await.map_err(|e| anyhow::anyhow!("the parser stopped: {e}"))?;
    // A failed read first: what the parser made of a file cut short is not its answer (the
    // event comes again, and the rows sent out so far were whole ones).
    read?;
    let messages = sent?;
    let total = match parsed {
        Ok(total) => total,
        // The file as a whole is refused: its header row says why.
        Err(header) => {
            let refused = Submission { total: 1, refused: vec![header], rows: Vec::new() };
            send_out::<K>(app, &job, refused, resumed).await?;
            1
        }
    };
    app.jobs.mark_queued(&job.id, total).await?;
    tracing::info!(operator = %job.operator, job_id = %job.id, kind = K::KIND.as_str(), rows = total, messages, "uploaded row job queued");
    if let Err(error) = app.uploads.delete(key).await {
        // The bucket's lifecycle rule deletes it within a day.
        tracing::warn!(job_id = %job.id, error = format!("{error:#}"), "the uploaded file could not be deleted");
    }
    Ok(())
}

/// The object's bytes as a `Read`, for the CSV reader on its blocking thread. A parser stops at
/// its first read error, giving no row it had not finished.
struct ChannelRead {
    chunks: tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>,
    current: bytes::Bytes,
}

impl Read for ChannelRead {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(chunk) => self.current = chunk?,
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.current.len());
        out[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}
