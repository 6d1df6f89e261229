//! `make bench`: a report, not a test. Each figure is measured against its raw baseline in the
//! same run, on the same machine, so the ratios mean something on a noisy 2-core box.
//!
//! - registration throughput (in-memory backend, through the real handler) against the raw
//!   argon2id hash rate at the same parameters and the same concurrency (target >= 0.9);
//! - peak RSS of a process like a function's (the system allocator, as theirs) after 200
//!   registrations (target <= 64 MiB);
//! - sign-ins per second with the right password against the raw argon2id verify rate (>= 0.9);
//! - the cost of an attempt on a locked account against one verification (>= 50 times cheaper);
//! - bulk registration rows per second, upload to completed job, against the raw write rate of
//!   the same backend (>= 0.5), in memory and on moto; with passwords against cores x the
//!   argon2id hash rate (>= 0.9); the upload handler's peak memory on a 10 MB file;
//! - the intake of an uploaded file (`intake.rs`): rows per second and peak memory at 10,000,
//!   100,000 and 1,000,000 rows, each in a fresh process (<= 128 MiB), and the whole way through
//!   moto's S3 and SQS; `learners-bench intake` runs this part alone.
//!
//! - deletions per second through the deletion queue against raw deletes (>= 0.5);
//! - OpenID Connect code exchanges per second through the token handler against raw RS256
//!   signatures per second (>= 0.5; `learners-bench oidc` runs that part alone);
//! - the row-job pipeline with 1, 10 and 50 concurrent workers under the memory store's
//!   conflict model (`pipeline.rs`): rows per second, transactions cancelled by a conflict and
//!   retried, and the ratio to writing the same items directly; `learners-bench pipeline` runs
//!   this part alone;
//! - each function's cold start (init time and memory) against a `lambda_http` hello world's
//!   on the system allocator (<= 1.5x), see `coldstart.rs`; `learners-bench coldstart` runs
//!   this part alone;
//! - resident memory after repeated argon2id verifies, system allocator against mimalloc (the
//!   allocator's evidence with the cold start's), see `allocator.rs`; `learners-bench
//!   allocator` runs this part alone.
//!
//! `BENCH_BULK_ROWS` (default 100000), `BENCH_DELETIONS` (default 10000), `BENCH_MOTO_ROWS`
//! (default 100; 0 skips moto: its TransactWriteItems slows down as the table grows, so it is
//! measured small) and `BENCH_COLDSTART_RUNS` (default 15; 0 skips) set the sizes;
//! `BENCH_COLDSTART_EXTRA` (comma-separated) names more binaries of the bench profile's
//! directory for the cold-start table (a function built another way, copied there);
//! `LEARNERS_TEST_MOTO_URL` the moto server (`make bench` starts one).

mod allocator;
mod bulk;
mod capacity;
mod coldstart;
mod harness;
mod intake;
mod oidc;
mod pipeline;

use harness::{active_user, memory_app, rate, registration_request, sign_in_request, spread, Report};
use learners::domain::{PasswordHash, PasswordPolicy, UserSource};
use std::time::Instant;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match std::env::args().nth(1).as_deref() {
        Some("rss-child") => return rss_child().await,
        Some("upload-child") => return upload_child().await,
        Some("intake-child") => return intake::child_main(env_arg(2)?).await,
        Some("intake") => {
            intake::report(&mut Report::new(1)).await?;
            return intake::moto_report(&mut Report::new(1)).await;
        }
        Some("coldstart") => return coldstart::run(env_number("BENCH_COLDSTART_RUNS", 15)).await,
        Some("allocator") => return allocator::run(),
        Some("capacity") => return capacity_report().await,
        Some("pipeline") => return pipeline_report(&mut Report::new(1)).await,
        Some("oidc") => {
            let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
            return oidc::report(&mut Report::new(cores), cores).await;
        }
        _ => {}
    }
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mut report = Report::new(cores);

    // Baseline measured before and after, and averaged: the machine's speed drifts.
    let hashes = 100;
    let before = raw_hash_rate(hashes, cores).await?;
    let registrations = registration_rate(hashes, cores).await?;
    let hash_rate = (before + raw_hash_rate(hashes, cores).await?) / 2.0;
    report.ratio("registration throughput / raw argon2id hash rate", registrations, hash_rate, ">= 0.9");

    let before = raw_verify_rate(hashes, cores).await?;
    let sign_ins = sign_in_rate(hashes, cores).await?;
    let verify_rate = (before + raw_verify_rate(hashes, cores).await?) / 2.0;
    report.ratio("sign-ins per second / raw argon2id verify rate", sign_ins, verify_rate, ">= 0.9");
    let locked = locked_attempt_rate(2000).await?;
    report.ratio(
        "attempts on a locked account / single-thread verify rate",
        locked,
        verify_rate / cores as f64,
        ">= 50",
    );

    let rows = env_number("BENCH_BULK_ROWS", 100_000);
    let app = bulk::worked_app(&bulk::Backend::Memory, "raw").await?;
    let raw = bulk::raw_bulk_write_rate(&app, rows, "raw", cores).await?;
    let app = bulk::worked_app(&bulk::Backend::Memory, "bulk").await?;
    let rate = bulk::bulk_rate(&app, rows, "bulk", false).await?;
    report.ratio(&format!("bulk rows/s ({rows}, no passwords) / raw writes of its items, memory"), rate, raw, ">= 0.5");
    let moto_rows = env_number("BENCH_MOTO_ROWS", 100);
    if let (Ok(url), true) = (std::env::var("LEARNERS_TEST_MOTO_URL"), moto_rows > 0) {
        let rows = moto_rows;
        let backend = bulk::Backend::Moto(url);
        let app = bulk::worked_app(&backend, "raw").await?;
        let raw = bulk::raw_bulk_write_rate(&app, rows, "raw", 4).await?;
        let app = bulk::worked_app(&backend, "bulk").await?;
        let rate = bulk::bulk_rate(&app, rows, "bulk", false).await?;
        report.ratio(
            &format!("bulk rows/s ({rows}, no passwords) / raw writes of its items, moto"),
            rate,
            raw,
            ">= 0.5",
        );
    } else {
        report.note("bulk on moto: skipped (LEARNERS_TEST_MOTO_URL not set; `make bench` sets it)");
    }
    let deletions = env_number("BENCH_DELETIONS", 10_000);
    let app = bulk::worked_app(&bulk::Backend::Memory, "del").await?;
    bulk::raw_write_rate(&app, deletions, "rawdel", cores).await?;
    let raw_deletes = bulk::raw_delete_rate(&app, deletions, "rawdel", cores).await?;
    bulk::raw_write_rate(&app, deletions, "qdel", cores).await?;
    let queued_deletes = bulk::deletion_rate(&app, deletions, "qdel").await?;
    report.ratio(
        &format!("deletions/s through the queue ({deletions}) / raw deletes of its items, memory"),
        queued_deletes,
        raw_deletes,
        ">= 0.5",
    );
    pipeline_report(&mut report).await?;
    oidc::report(&mut report, cores).await?;
    let app = bulk::worked_app(&bulk::Backend::Memory, "pw").await?;
    let with_passwords = bulk::bulk_rate(&app, 500, "pw", true).await?;
    report.ratio("bulk rows/s (500, with passwords) / cores x hash rate", with_passwords, hash_rate, ">= 0.9");
    let (file_mib, upload_peak) = upload_peak()?;
    report.figure(
        &format!("upload handler peak RSS, {file_mib:.1} MiB file"),
        format!("{:.1} MiB", upload_peak as f64 / 1024.0),
        upload_peak <= 64 * 1024,
        "<= 64 MiB",
    );
    intake::report(&mut report).await?;
    intake::moto_report(&mut report).await?;

    let peak = rss_after_registrations(200)?;
    report.figure(
        "peak RSS after 200 registrations",
        format!("{:.1} MiB", peak as f64 / 1024.0),
        peak <= 64 * 1024,
        "<= 64 MiB",
    );

    capacity_report().await?;
    coldstart::run(env_number("BENCH_COLDSTART_RUNS", 15)).await?;
    allocator::run()
}

/// DynamoDB capacity units of each flow, measured on moto (see `capacity.rs`), their on-demand
/// price, and what a month of a site costs in DynamoDB at two sizes.
async fn capacity_report() -> anyhow::Result<()> {
    let Ok(url) = std::env::var("LEARNERS_TEST_MOTO_URL") else {
        println!("\ncapacity units: skipped (LEARNERS_TEST_MOTO_URL not set; `make bench` sets it)");
        return Ok(());
    };
    let (flows, largest) = capacity::measure(&url).await?;
    println!("\nDynamoDB capacity units per flow (the adapter's requests, billed as on-demand DynamoDB bills them)");
    println!("{:<56} {:>6} {:>6} {:>9} {:>12}", "flow", "RRU", "WRU", "requests", "$ / million");
    for flow in &flows {
        let units = flow.units;
        println!(
            "{:<56} {:>6.1} {:>6.1} {:>9} {:>12.2}",
            flow.flow,
            units.reads,
            units.writes,
            units.requests,
            units.dollars_per_million()
        );
    }
    println!("largest item written: {largest} bytes (every write is then 1 WRU, 2 in a transaction)");
    println!(
        "prices: ${} per million WRU, ${} per million RRU (on-demand, us-east-1)",
        capacity::DOLLARS_PER_MILLION_WRITES,
        capacity::DOLLARS_PER_MILLION_READS
    );
    let month: Vec<String> = capacity::MONTH.iter().map(|(flow, n)| format!("{n} x {flow}")).collect();
    println!("a learner's month, as assumed: {}", month.join(", "));
    for learners in [10_000.0, 1_000_000.0] {
        println!(
            "DynamoDB requests a month for {learners:>9} learners: ${:.2}",
            capacity::monthly_dollars(&flows, learners)
        );
    }
    Ok(())
}

/// argon2id hashes per second with `workers` concurrent hashes, as the flows run them.
async fn raw_hash_rate(total: usize, workers: usize) -> anyhow::Result<f64> {
    let password = PasswordPolicy::default().check("bench-password-Qx7!", &[]).map_err(anyhow::Error::msg)?;
    spread(total, workers, move |_| {
        let password = password.clone();
        async move { PasswordHash::of(&password).await.map(drop) }
    })
    .await
}

/// Registrations per second through the register handler, `workers` at a time.
async fn registration_rate(total: usize, workers: usize) -> anyhow::Result<f64> {
    let app = memory_app();
    spread(total, workers, move |i| {
        let app = app.clone();
        async move {
            let response = learners::handlers::register::handle(&app, registration_request(i)).await;
            anyhow::ensure!(response.status() == 202, "registration {i} answered {}", response.status());
            Ok(())
        }
    })
    .await
}

/// Runs 200 registrations in a child process and reads its peak resident set (KiB).
fn rss_after_registrations(count: usize) -> anyhow::Result<u64> {
    let output =
        std::process::Command::new(std::env::current_exe()?).args(["rss-child", &count.to_string()]).output()?;
    anyhow::ensure!(output.status.success(), "child failed: {}", String::from_utf8_lossy(&output.stderr));
    Ok(String::from_utf8(output.stdout)?.trim().parse()?)
}

async fn rss_child() -> anyhow::Result<()> {
    let count: usize = std::env::args().nth(2).unwrap_or_else(|| "200".into()).parse()?;
    let app = memory_app();
    for i in 0..count {
        let response = learners::handlers::register::handle(&app, registration_request(i)).await;
        anyhow::ensure!(response.status() == 202, "registration {i} answered {}", response.status());
    }
    println!("{}", harness::peak_rss_kib()?);
    Ok(())
}

const PASSWORD: &str = "correct horse battery staple";

/// argon2id verifications per second with `workers` at a time.
async fn raw_verify_rate(total: usize, workers: usize) -> anyhow::Result<f64> {
    let password = PasswordPolicy::default().check(PASSWORD, &[]).map_err(anyhow::Error::msg)?;
    let hash = PasswordHash::of(&password).await?;
    spread(total, workers, move |_| {
        let hash = hash.clone();
        async move {
            anyhow::ensure!(hash.verify(PASSWORD).await?, "the hash verifies");
            Ok(())
        }
    })
    .await
}

/// An app with `count` active accounts `learner{i}@example.com` (one shared hash, to save time).
async fn app_with_accounts(count: usize) -> anyhow::Result<learners::App> {
    let app = memory_app();
    let password = PasswordPolicy::default().check(PASSWORD, &[]).map_err(anyhow::Error::msg)?;
    let hash = PasswordHash::of(&password).await?;
    for i in 0..count {
        let (email, username) = (format!("learner{i}@example.com"), format!("learner{i}"));
        let user = active_user(
            &email,
            &username,
            "Bench Learner",
            Some(hash.clone()),
            UserSource::SelfService,
            app.clock.now(),
        )?;
        app.store.create_user(&user, None).await?;
    }
    Ok(app)
}

/// Sign-ins per second with the right password through the sessions handler.
async fn sign_in_rate(total: usize, workers: usize) -> anyhow::Result<f64> {
    let app = app_with_accounts(total).await?;
    spread(total, workers, move |i| {
        let app = app.clone();
        async move {
            let response = learners::handlers::sessions::handle(&app, sign_in_request(i, PASSWORD)).await;
            anyhow::ensure!(response.status() == 200, "sign-in {i} answered {}", response.status());
            Ok(())
        }
    })
    .await
}

/// Attempts per second on a locked account (one at a time, like the verify baseline per core).
async fn locked_attempt_rate(total: usize) -> anyhow::Result<f64> {
    let app = app_with_accounts(1).await?;
    for _ in 0..app.config.lockout.max_failures {
        learners::handlers::sessions::handle(&app, sign_in_request(0, "wrong password")).await;
    }
    let start = Instant::now();
    for _ in 0..total {
        let response = learners::handlers::sessions::handle(&app, sign_in_request(0, PASSWORD)).await;
        anyhow::ensure!(response.status() == 401, "a locked account answered {}", response.status());
    }
    Ok(rate(total, start))
}

/// The command line's argument `n`, a number.
fn env_arg(n: usize) -> anyhow::Result<usize> {
    let text = std::env::args().nth(n).ok_or_else(|| anyhow::anyhow!("argument {n} missing"))?;
    Ok(text.parse()?)
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Peak RSS of a process that takes one bulk upload of about 10 MB (100,000 rows).
fn upload_peak() -> anyhow::Result<(f64, u64)> {
    let output = std::process::Command::new(std::env::current_exe()?).arg("upload-child").output()?;
    anyhow::ensure!(output.status.success(), "child failed: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout)?;
    let mut parts = text.split_whitespace();
    let file_mib: f64 = parts.next().unwrap_or("0").parse()?;
    let peak: u64 = parts.next().unwrap_or("0").parse()?;
    Ok((file_mib, peak))
}

/// The upload handler alone (its queue has no worker): parse, validate, record, enqueue.
async fn upload_child() -> anyhow::Result<()> {
    let app = memory_app();
    let file = bulk::csv(100_000, "mem", false);
    let file_mib = file.len() as f64 / (1024.0 * 1024.0);
    let mut context = lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext::default();
    context.route_key = Some("POST /admin/v1/bulk-registrations".into());
    let mut iam = lambda_http::aws_lambda_events::apigw::ApiGatewayRequestAuthorizerIamDescription::default();
    iam.user_arn = Some("arn:aws:iam::000000000000:user/bench".into());
    let mut authorizer = lambda_http::aws_lambda_events::apigw::ApiGatewayRequestAuthorizer::default();
    authorizer.iam = Some(iam);
    context.authorizer = Some(authorizer);
    use lambda_http::RequestExt;
    let request = lambda_http::http::Request::builder()
        .method("POST")
        .uri("/admin/v1/bulk-registrations")
        .header("content-type", "text/csv")
        .body(lambda_http::Body::Text(file))?
        .with_request_context(lambda_http::request::RequestContext::ApiGatewayV2(context));
    let response = learners::handlers::bulk_registrations::handle(&app, request).await;
    anyhow::ensure!(response.status() == 202, "upload answered {}", response.status());
    println!("{file_mib:.2} {}", harness::peak_rss_kib()?);
    Ok(())
}

/// The pipeline at 1, 10 and 50 workers, messages delivered once and twice (`pipeline.rs`).
async fn pipeline_report(report: &mut Report) -> anyhow::Result<()> {
    let rows = env_number("BENCH_PIPELINE_ROWS", 5_000);
    report.note(&format!(
        "row-job pipeline, {rows} rows, transactions of {} ms that conflict as DynamoDB's do:",
        pipeline::TRANSACTION_MS
    ));
    for deliveries in [1, 2] {
        for workers in [1, 10, 50] {
            let run = pipeline::run(rows, workers, deliveries).await?;
            let name = format!(
                "  {workers:>2} workers, each message x{deliveries}: {:>6.0} rows/s, {:>5} conflicts retried",
                run.rows_per_second, run.conflicts
            );
            if deliveries == 1 {
                report.ratio(&name, run.rows_per_second, run.raw_rows_per_second, ">= 0.5");
            } else {
                // Every message's twin runs beside it, meets it in conflicts, and redoes its
                // reads: a report of the worst case, with no target.
                report.note(&format!(
                    "{name:<62} {:.1}/s vs {:.1}/s = {:.2} (worst case, no target)",
                    run.rows_per_second,
                    run.raw_rows_per_second,
                    run.rows_per_second / run.raw_rows_per_second
                ));
            }
        }
    }
    Ok(())
}
