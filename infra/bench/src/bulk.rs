//! Bulk registration figures: rows per second from upload to completed job, against the raw
//! write rate of the same backend for the same items, and with passwords against the argon2id
//! hash rate of every core. Also the peak memory of the upload handler on a 10 MB file.

use crate::harness::{active_user, completed_rate, new_job, spread};
use learners::adapters::aws::{provision, AwsClients};
use learners::adapters::clock::SystemClock;
use learners::domain::{email_hmac, AuditEntry, Email, JobKind, Retirement, RowOutcome, RowResult, UserSource};
use learners::ports::DeleteRequest;
use learners::{App, Config};
use learners_gateway::workers::{spawn_in_process, spawn_sqs_pollers};
use learners_gateway::{RouteTable, Workers};
use std::sync::Arc;
use std::time::Instant;

pub enum Backend {
    Memory,
    Moto(String),
}

fn config(pairs: &[(&str, &str)]) -> Config {
    let mut all = vec![
        ("LEARNERS_SITE_URL", "https://learn.example.org"),
        ("LEARNERS_RETIREMENT_SECRET", "bench-retirement-secret-0123456789abcdef"),
        ("LEARNERS_COUNTER_KEY", "bench-counter-key-0123456789abcdef0123456789"),
    ];
    all.extend_from_slice(pairs);
    Config::from_pairs(&all).expect("bench configuration")
}

/// An app whose queues are worked, as in the local gateway.
pub async fn worked_app(backend: &Backend, tag: &str) -> anyhow::Result<App> {
    let workers = Workers::from_routes(&RouteTable::from_template(learners_gateway::routes::TEMPLATE)?)?;
    match backend {
        Backend::Memory => {
            let (app, parts) = learners::wiring::in_memory(config(&[]), Arc::new(SystemClock));
            spawn_in_process(app.clone(), workers, parts.queue, parts.pending);
            Ok(app)
        }
        Backend::Moto(url) => {
            let clients = AwsClients::for_endpoint(url).await;
            let made = provision::provision(&clients, &format!("bench-{tag}-{}", uuid_suffix())).await?;
            let variables = made.variables();
            let pairs: Vec<(&str, &str)> = variables.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let app = learners::wiring::aws(config(&pairs), &clients, Arc::new(SystemClock));
            spawn_sqs_pollers(app.clone(), workers, clients.sqs.clone(), 4);
            Ok(app)
        }
    }
}

/// An app on moto whose queues nobody works (what is sent stays in SQS).
pub async fn unworked_moto_app(url: &str, tag: &str) -> anyhow::Result<App> {
    let clients = AwsClients::for_endpoint(url).await;
    let made = provision::provision(&clients, &format!("bench-{tag}-{}", uuid_suffix())).await?;
    let variables = made.variables();
    let pairs: Vec<(&str, &str)> = variables.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Ok(learners::wiring::aws(config(&pairs), &clients, Arc::new(SystemClock)))
}

/// Sends `body` by a signed `PUT`, with the headers that were signed.
pub async fn put(signed: &learners::ports::SignedUpload, body: Vec<u8>) -> anyhow::Result<()> {
    let mut request = reqwest::Client::new().put(&signed.url).body(body);
    for (name, value) in &signed.headers {
        request = request.header(name, value);
    }
    let answer = request.send().await?;
    anyhow::ensure!(answer.status().is_success(), "the signed PUT answered {}", answer.status());
    Ok(())
}

fn uuid_suffix() -> String {
    learners::domain::Token::generate().as_str()[..8].to_ascii_lowercase().replace(['-', '_'], "x")
}

pub fn csv(rows: usize, tag: &str, with_passwords: bool) -> String {
    let mut csv = String::from(if with_passwords { "email,username,name,password\n" } else { "email,username,name\n" });
    for i in 0..rows {
        csv.push_str(&format!("b{i}-{tag}@example.com,b{i}-{tag},Bulk Learner {i}"));
        if with_passwords {
            csv.push_str(",correct horse battery staple");
        }
        csv.push('\n');
    }
    csv
}

/// Rows per second from upload to completed job.
pub async fn bulk_rate(app: &App, rows: usize, tag: &str, with_passwords: bool) -> anyhow::Result<f64> {
    let file = csv(rows, tag, with_passwords);
    let start = Instant::now();
    let job =
        learners::flows::bulk::upload(app, "bench", file.as_bytes(), None).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    completed_rate(app, &job.id, rows, start).await
}

/// Creates `rows` accounts `w{i}-{tag}@example.com` straight in the store; returns their rate.
pub async fn raw_write_rate(app: &App, rows: usize, tag: &str, writers: usize) -> anyhow::Result<f64> {
    let (app, tag) = (app.clone(), tag.to_owned());
    spread(rows, writers, move |i| {
        let (app, tag) = (app.clone(), tag.clone());
        async move {
            let (email, username) = (format!("w{i}-{tag}@example.com"), format!("w{i}-{tag}"));
            let user =
                active_user(&email, &username, &format!("Bulk Learner {i}"), None, UserSource::Bulk, app.clock.now())?;
            app.store.create_user(&user, None).await.map_err(|e| anyhow::anyhow!("{e}"))
        }
    })
    .await
}

/// Deletions per second through the deletion queue (request to completed job) of the accounts
/// `raw_write_rate` made with `tag`.
pub async fn deletion_rate(app: &App, rows: usize, tag: &str) -> anyhow::Result<f64> {
    let emails: Vec<(u64, String)> = (0..rows).map(|i| (i as u64 + 1, format!("w{i}-{tag}@example.com"))).collect();
    let start = Instant::now();
    let job = learners::flows::removal::request_deletions(app, "bench", &emails, None).await?;
    completed_rate(app, &job.id, rows, start).await
}

/// The same deletions straight on the store, writing the same items a queued deletion writes
/// (retirement record, job row, audit entry), `writers` at a time.
pub async fn raw_delete_rate(app: &App, rows: usize, tag: &str, writers: usize) -> anyhow::Result<f64> {
    let job = new_job(app, format!("rawdel-{tag}"), JobKind::Deletion, rows);
    app.jobs.create_job(&job).await?;
    let (app, tag) = (app.clone(), tag.to_owned());
    spread(rows, writers, move |i| {
        let (app, tag, job) = (app.clone(), tag.clone(), job.clone());
        async move {
            let email = Email::parse(&format!("w{i}-{tag}@example.com"))?;
            let user =
                app.store.user_by_email_key(&email.key()).await?.ok_or_else(|| anyhow::anyhow!("no user {i}"))?;
            let now = app.clock.now();
            let retirement = Retirement {
                email_hmac: email_hmac("bench-retirement-secret-0123456789abcdef", &email),
                user_id: user.id.clone(),
                retired_at: now,
                requested_by: "bench".into(),
            };
            let outcome = row_done(i as u64 + 1, "", "deleted", None);
            let audit = AuditEntry::new(now, "bench", "delete", &user.id, "deleted");
            let request = DeleteRequest {
                user: &user,
                counter_key: &app.counter_key(&email)?,
                retirement: &retirement,
                job_row: Some((&job, &outcome)),
                audit: Some(&audit),
            };
            app.store.delete_user(&request).await.map(drop)
        }
    })
    .await
}

/// The items a bulk row writes (account, claims, row outcome, audit entry) written
/// straight through the store for `rows` rows, `writers` at a time: the baseline of the bulk
/// pipeline (CSV, validation, queue, worker) on the same backend.
pub async fn raw_bulk_write_rate(app: &App, rows: usize, tag: &str, writers: usize) -> anyhow::Result<f64> {
    let job = new_job(app, format!("raw-{tag}"), JobKind::BulkRegistration, rows);
    app.jobs.create_job(&job).await?;
    let (app, tag) = (app.clone(), tag.to_owned());
    spread(rows, writers, move |i| {
        let (app, tag, job) = (app.clone(), tag.clone(), job.clone());
        async move {
            let (email, username) = (format!("r{i}-{tag}@example.com"), format!("r{i}-{tag}"));
            let now = app.clock.now();
            let user = active_user(&email, &username, &format!("Bulk Learner {i}"), None, UserSource::Bulk, now)?;
            let outcome = row_done(i as u64 + 2, &email, "created", Some(user.id.clone()));
            let audit = AuditEntry::new(now, "bench", "bulk_register", &user.id, "created");
            app.jobs.create_bulk_user(&job, &user, &outcome, &audit).await.map(drop)
        }
    })
    .await
}

fn row_done(row: u64, email: &str, code: &str, user_id: Option<learners::domain::UserId>) -> RowOutcome {
    RowOutcome {
        row,
        email: email.to_owned(),
        result: RowResult::Done,
        code: code.into(),
        message: String::new(),
        user_id,
    }
}
