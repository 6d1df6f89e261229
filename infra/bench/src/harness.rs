//! Shared pieces of the benchmarks: apps, requests, rates and the printed report.

use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use lambda_http::request::RequestContext;
use lambda_http::RequestExt;
use learners::adapters::clock::SystemClock;
use learners::domain::{
    Email, FullName, JobKind, JobStatus, PasswordHash, RowJob, Timestamp, User, UserId, UserSource, UserStatus,
    Username,
};
use learners::{App, Config};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

pub fn memory_app() -> App {
    let config = Config::from_pairs(&[
        ("LEARNERS_SITE_URL", "https://learn.example.org"),
        ("LEARNERS_OPERATOR_PRINCIPALS", "arn:aws:iam::000000000000:user/bench"),
        ("LEARNERS_COUNTER_KEY", "bench-counter-key-0123456789abcdef0123456789"),
    ])
    .expect("bench configuration");
    let (app, parts) = learners::wiring::in_memory(config, Arc::new(SystemClock));
    std::mem::forget(parts.queue);
    app
}

pub fn request(route_key: &str, body: String) -> lambda_http::Request {
    let (method, path) = route_key.split_once(' ').expect("METHOD /path");
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.route_key = Some(route_key.to_owned());
    lambda_http::http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(lambda_http::Body::Text(body))
        .expect("a valid request")
        .with_request_context(RequestContext::ApiGatewayV2(context))
}

pub fn registration_request(i: usize) -> lambda_http::Request {
    let body = serde_json::json!({
        "email": format!("learner{i}@example.com"),
        "username": format!("learner{i}"),
        "name": "Bench Learner",
        "password": "correct horse battery staple",
        "terms_accepted": true,
    });
    request("POST /api/v1/registrations", body.to_string())
}

pub fn sign_in_request(i: usize, password: &str) -> lambda_http::Request {
    let body = serde_json::json!({"email": format!("learner{i}@example.com"), "password": password});
    request("POST /api/v1/sessions", body.to_string())
}

pub fn rate(count: usize, since: Instant) -> f64 {
    count as f64 / since.elapsed().as_secs_f64()
}

/// Peak resident set size of this process, in KiB (Linux).
pub fn peak_rss_kib() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).ok_or_else(|| anyhow::anyhow!("no VmHWM"))?;
    Ok(line.split_whitespace().nth(1).unwrap_or("0").parse()?)
}

/// The report, printed a line at a time as figures come in (a long run shows progress).
pub struct Report;

impl Report {
    pub fn new(cores: usize) -> Self {
        println!("learners bench ({cores} cores, in-memory backend unless named)");
        Self
    }

    pub fn ratio(&mut self, name: &str, measured: f64, baseline: f64, target: &str) {
        let ratio = measured / baseline;
        let met = target.strip_prefix(">= ").and_then(|t| t.parse::<f64>().ok()).is_some_and(|t| ratio >= t);
        println!(
            "{:<62} {measured:>10.1}/s vs {baseline:>10.1}/s = {ratio:>7.2}  target {target:<8} {}",
            name,
            if met { "MET" } else { "NOT MET" }
        );
    }

    pub fn figure(&mut self, name: &str, value: String, met: bool, target: &str) {
        println!("{name:<62} {value:>35}  target {target:<8} {}", if met { "MET" } else { "NOT MET" });
    }

    pub fn note(&mut self, text: &str) {
        println!("{text}");
    }
}

/// Runs `work(i)` for every `i` in `0..total`, `workers` at a time; items per second.
pub async fn spread<F, Fut>(total: usize, workers: usize, work: F) -> anyhow::Result<f64>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let start = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let work = work.clone();
            tokio::spawn(async move {
                for i in (w..total).step_by(workers) {
                    work(i).await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(rate(total, start))
}

/// An active account, as the benchmarks put them straight into a store.
pub fn active_user(
    email: &str,
    username: &str,
    name: &str,
    password_hash: Option<PasswordHash>,
    source: UserSource,
    now: Timestamp,
) -> anyhow::Result<User> {
    Ok(User {
        id: UserId::generate(),
        email: Email::parse(email)?,
        username: Username::parse(username)?,
        name: FullName::parse(name)?,
        password_hash,
        status: UserStatus::Active,
        created_at: now,
        activated_at: Some(now),
        terms_accepted_at: None,
        terms_version: None,
        source,
        auth_epoch: 0,
        operator: false,
        mail_refused: None,
        support: false,
        disabled_at: None,
    })
}

/// A queued job of `rows` rows, not yet stored.
pub fn new_job(app: &App, id: String, kind: JobKind, rows: usize) -> RowJob {
    RowJob {
        id,
        kind,
        operator: "bench".into(),
        created_at: app.clock.now(),
        status: JobStatus::Queued,
        total: rows as u64,
        final_counts: None,
        idempotency: None,
        invite: false,
    }
}

/// Waits until a job completes with `rows` rows done; rows per second since `start`.
pub async fn completed_rate(app: &App, job_id: &str, rows: usize, start: Instant) -> anyhow::Result<f64> {
    loop {
        let job = learners::jobs::progress(app, job_id).await?.ok_or_else(|| anyhow::anyhow!("the job vanished"))?;
        if job.status == JobStatus::Completed {
            anyhow::ensure!(job.counts.done == rows as u64, "{} of {rows} rows done", job.counts.done);
            return Ok(rate(rows, start));
        }
        anyhow::ensure!(start.elapsed() < Duration::from_secs(3600), "the job did not complete in an hour");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
