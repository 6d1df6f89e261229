//! The intake of an uploaded bulk file (`handlers::intake`, S3's `ObjectCreated`): rows per
//! second and the function's peak memory, by file size.
//!
//! Each size runs in a fresh child process (`learners-bench intake-child ROWS`), which holds
//! only what the `intake` function holds: its object comes as a stream made on the fly (S3's
//! body, 64 KiB chunks) and its messages leave the process (a queue that counts them, as SQS
//! takes them away), so its peak resident set is the intake's own. On moto, a smaller file goes
//! the whole way: stored in moto's S3 by the signed `PUT`, read back by the S3 adapter, its
//! messages sent to moto's SQS.

use crate::harness::{self, memory_app, Report};
use async_trait::async_trait;
use learners::domain::JobKind;
use learners::ports::{JobQueue, ObjectStream, Queue, SignedUpload, Uploads};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The sizes measured, each in its own process: the peak should not follow the file.
const SIZES: [usize; 3] = [10_000, 100_000, 1_000_000];

/// The intake's target peak resident set, whatever the file (issue 24).
const PEAK_TARGET_MIB: f64 = 128.0;

/// The rate at which a 1,000,000-row file is taken in within half the function's 900 s timeout.
const MIN_ROWS_PER_SECOND: f64 = 1_000_000.0 / 450.0;

/// A row of the generated file (about 62 bytes, as `bulk::csv` writes them).
fn row(i: usize) -> String {
    format!("intake{i}@example.com,intake-{i},Intake Learner {i}\n")
}

pub async fn report(report: &mut Report) -> anyhow::Result<()> {
    report.note(
        "the intake of an uploaded file (each size in a fresh process; the object streamed, the messages counted)",
    );
    let mut peaks = Vec::new();
    for rows in SIZES {
        let (bytes, seconds, peak_kib, messages) = child(rows)?;
        let peak_mib = peak_kib as f64 / 1024.0;
        let rate = rows as f64 / seconds;
        report.figure(
            &format!("intake rows/s, {rows} rows ({:.1} MiB, {messages} messages)", bytes as f64 / 1048576.0),
            format!("{rate:.0}/s"),
            rate >= MIN_ROWS_PER_SECOND,
            &format!(">= {MIN_ROWS_PER_SECOND:.0}/s"),
        );
        report.figure(
            &format!("intake peak RSS, {rows} rows"),
            format!("{peak_mib:.1} MiB"),
            peak_mib <= PEAK_TARGET_MIB,
            &format!("<= {PEAK_TARGET_MIB:.0} MiB"),
        );
        peaks.push(peak_mib);
    }
    if let (Some(first), Some(last)) = (peaks.first(), peaks.last()) {
        report.note(&format!(
            "intake peak growth from {} to {} rows: {:.1} MiB (the in-file duplicate check holds two 64-bit hashes a row)",
            SIZES[0],
            SIZES[SIZES.len() - 1],
            last - first
        ));
    }
    Ok(())
}

/// Runs one size in a child: (file bytes, seconds, peak KiB, messages).
fn child(rows: usize) -> anyhow::Result<(u64, f64, u64, u64)> {
    let output =
        std::process::Command::new(std::env::current_exe()?).args(["intake-child", &rows.to_string()]).output()?;
    anyhow::ensure!(output.status.success(), "intake child failed: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout)?;
    let fields: Vec<&str> = text.split_whitespace().collect();
    anyhow::ensure!(fields.len() == 4, "intake child printed {text:?}");
    Ok((fields[0].parse()?, fields[1].parse()?, fields[2].parse()?, fields[3].parse()?))
}

/// The child: one upload of `rows` rows taken in, then its figures on one line.
pub async fn child_main(rows: usize) -> anyhow::Result<()> {
    let mut app = memory_app();
    let upload = Arc::new(GeneratedUpload { rows, bytes: Arc::new(AtomicU64::new(0)) });
    let queue = Arc::new(CountingQueue::default());
    app.uploads = upload.clone();
    app.queue = queue.clone();
    let job = learners::jobs::open_upload(&app, JobKind::BulkRegistration, "bench", false, None)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let key = learners::jobs::object_key(JobKind::BulkRegistration, &job.id);
    let start = Instant::now();
    learners::handlers::intake::handle(&app, learners::handlers::intake::object_created("bench", &key)).await?;
    let seconds = start.elapsed().as_secs_f64();
    let stored = app.jobs.job(&job.id).await?.ok_or_else(|| anyhow::anyhow!("the job is gone"))?;
    anyhow::ensure!(stored.total == rows as u64, "the job counts {} rows of {rows}", stored.total);
    anyhow::ensure!(queue.rows.load(Ordering::Relaxed) == rows as u64, "not every row was sent out");
    println!(
        "{} {seconds:.3} {} {}",
        upload.bytes.load(Ordering::Relaxed),
        harness::peak_rss_kib()?,
        queue.messages.load(Ordering::Relaxed)
    );
    Ok(())
}

/// An object of `rows` rows made as it is read, in S3-sized chunks: nothing of it is held.
struct GeneratedUpload {
    rows: usize,
    bytes: Arc<AtomicU64>,
}

#[async_trait]
impl Uploads for GeneratedUpload {
    async fn presign_put(&self, _key: &str, _valid_for: Duration) -> anyhow::Result<SignedUpload> {
        anyhow::bail!("the bench makes its object")
    }

    async fn presign_post(&self, _: &str, _: &str, _: u64, _: Duration) -> anyhow::Result<SignedUpload> {
        anyhow::bail!("the bench makes its object")
    }

    async fn open(&self, _key: &str) -> anyhow::Result<Option<ObjectStream>> {
        const CHUNK: usize = 64 * 1024;
        let rows = self.rows;
        let counted = self.bytes.clone();
        counted.store(0, Ordering::Relaxed);
        let state = (0usize, String::from("email,username,name\n"));
        let stream = futures::stream::unfold(state, move |(mut next, mut text)| {
            let counted = counted.clone();
            async move {
                while text.len() < CHUNK && next < rows {
                    text.push_str(&row(next));
                    next += 1;
                }
                if text.is_empty() {
                    return None;
                }
                counted.fetch_add(text.len() as u64, Ordering::Relaxed);
                let chunk = bytes::Bytes::from(std::mem::take(&mut text));
                Some((Ok(chunk), (next, text)))
            }
        });
        Ok(Some(Box::pin(stream)))
    }

    async fn delete(&self, _key: &str) -> anyhow::Result<()> {
        Ok(())
    }
}

/// A queue that counts what it is given and keeps nothing (SQS holds it, not the function).
#[derive(Default)]
struct CountingQueue {
    messages: AtomicU64,
    rows: AtomicU64,
}

#[async_trait]
impl JobQueue for CountingQueue {
    async fn enqueue(&self, _queue: Queue, bodies: &[String]) -> anyhow::Result<()> {
        self.messages.fetch_add(bodies.len() as u64, Ordering::Relaxed);
        let rows: usize = bodies
            .iter()
            .map(|body| {
                serde_json::from_str::<serde_json::Value>(body)
                    .ok()
                    .and_then(|m| m["rows"].as_array().map(Vec::len))
                    .unwrap_or(0)
            })
            .sum();
        self.rows.fetch_add(rows as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// On moto, the whole way for a smaller file (`BENCH_MOTO_INTAKE_ROWS`, 10,000 by default; 0
/// skips it): stored in S3 by the signed `PUT`, read back as a stream by the S3 adapter, its
/// messages sent to SQS (no worker takes them: the intake alone is timed).
pub async fn moto_report(report: &mut Report) -> anyhow::Result<()> {
    let rows = crate::env_number("BENCH_MOTO_INTAKE_ROWS", 10_000);
    let Ok(url) = std::env::var("LEARNERS_TEST_MOTO_URL") else {
        report.note("intake on moto: skipped (LEARNERS_TEST_MOTO_URL not set; `make bench` sets it)");
        return Ok(());
    };
    if rows == 0 {
        return Ok(());
    }
    let app = crate::bulk::unworked_moto_app(&url, "intake").await?;
    let job = learners::jobs::open_upload(&app, JobKind::BulkRegistration, "bench", false, None)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let key = learners::jobs::object_key(JobKind::BulkRegistration, &job.id);
    let mut file = String::from("email,username,name\n");
    (0..rows).for_each(|i| file.push_str(&row(i)));
    let signed = app.uploads.presign_put(&key, Duration::from_secs(600)).await?;
    crate::bulk::put(&signed, file.into_bytes()).await?;
    let start = Instant::now();
    learners::handlers::intake::handle(&app, learners::handlers::intake::object_created("bench", &key)).await?;
    let seconds = start.elapsed().as_secs_f64();
    let stored = app.jobs.job(&job.id).await?.ok_or_else(|| anyhow::anyhow!("the job is gone"))?;
    anyhow::ensure!(stored.total == rows as u64, "the job counts {} rows of {rows}", stored.total);
    anyhow::ensure!(app.uploads.open(&key).await?.is_none(), "the intake left its object in the bucket");
    let rate = rows as f64 / seconds;
    report.figure(
        &format!("intake rows/s, {rows} rows, moto (S3 and SQS)"),
        format!("{rate:.0}/s"),
        rate > 0.0,
        "completes",
    );
    Ok(())
}
