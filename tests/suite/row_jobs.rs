//! The row-job pipeline under what real DynamoDB and SQS do to it: many concurrent workers
//! with transactions that conflict, every message delivered twice, a failure at any store
//! call, client retries of an upload, and jobs too big for one response.

use learners::adapters::clock::ManualClock;
use learners::adapters::memory::{Fault, MemoryStore, QueuedBatch};
use learners::domain::{Counts, JobStatus, RowOutcome, RowResult, INTAKE_DEADLINE_SECONDS};
use learners::jobs::bulk_registration::{BulkRegistration, BulkRow};
use learners::jobs::deletion::{Deletion, DeletionTarget};
use learners::jobs::{process, progress, RowKind, RowMessage};
use learners::App;
use learners_tests::{unique, Backend, TestApp};
use serde_json::Value;
use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

fn memory_app() -> (App, Arc<MemoryStore>, UnboundedReceiver<QueuedBatch>, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new());
    let (app, parts) = learners::wiring::in_memory(learners_tests::config("unused", &[]), clock.clone());
    (app, parts.store, parts.queue, clock)
}

fn drain(receiver: &mut UnboundedReceiver<QueuedBatch>) -> Vec<String> {
    let mut bodies = Vec::new();
    while let Ok(batch) = receiver.try_recv() {
        bodies.extend(batch.bodies);
    }
    bodies
}

fn active_user(email: &str, username: &str) -> learners::domain::User {
    let user = learners_tests::stored_user(email, username);
    learners::domain::User { status: learners::domain::UserStatus::Active, ..user }
}

fn bulk_csv(rows: usize, tag: &str) -> String {
    let mut csv = String::from("email,username,name\n");
    for i in 0..rows {
        csv.push_str(&format!("w{i}-{tag}@example.com,w{i}-{tag},Learner {i}\n"));
    }
    csv
}

/// 50 workers settle a 10,000-row job while every message is delivered twice at once, on a
/// store whose transactions take 2 ms and cancel each other when they meet (as DynamoDB's
/// do): the counts are exact, the job completes, and every row is settled once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_workers_settle_ten_thousand_rows_exactly_with_conflicts_on() {
    let (app, store, mut queue, _) = memory_app();
    store.set_transaction_time(Duration::from_millis(2));
    let tag = unique("c");
    let job = learners::flows::bulk::upload(&app, "tester", bulk_csv(10_000, &tag).as_bytes(), None).await.unwrap();
    let bodies = drain(&mut queue);
    assert_eq!(bodies.len(), 401, "10,000 rows (rows 2..=10,001) in blocks of 25");

    // Every message twice, side by side; a failed delivery goes back to the end of the queue.
    let deliveries: VecDeque<(String, u32)> = bodies.iter().flat_map(|b| [(b.clone(), 1), (b.clone(), 1)]).collect();
    let deliveries = Arc::new(Mutex::new(deliveries));
    let outstanding = Arc::new(std::sync::atomic::AtomicUsize::new(bodies.len() * 2));
    let workers: Vec<_> = (0..50)
        .map(|_| {
            let (app, deliveries, outstanding) = (app.clone(), deliveries.clone(), outstanding.clone());
            tokio::spawn(async move {
                let mut retried = 0;
                while outstanding.load(std::sync::atomic::Ordering::SeqCst) > 0 {
                    let next = deliveries.lock().unwrap().pop_front();
                    let Some((body, receives)) = next else {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        continue;
                    };
                    let message: RowMessage<BulkRow> = serde_json::from_str(&body).unwrap();
                    match process::<BulkRegistration>(&app, &message, false).await {
                        Ok(()) => {
                            outstanding.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                        }
                        Err(_) => {
                            assert!(receives < 20, "a message kept failing");
                            retried += 1;
                            deliveries.lock().unwrap().push_back((body, receives + 1));
                        }
                    }
                }
                retried
            })
        })
        .collect();
    let mut retried = 0;
    for worker in workers {
        retried += worker.await.unwrap();
    }
    let job = progress(&app, &job.id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(job.counts, Counts { done: 10_000, skipped: 0, failed: 0 });
    let rows = app.jobs.rows(&job.job.id, 0, 20_000).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.row).collect::<Vec<_>>(), (2..=10_001).collect::<Vec<_>>(), "every row once");
    for i in [0, 4_999, 9_999] {
        assert!(app.store.user_by_email_key(&format!("w{i}-{tag}@example.com")).await.unwrap().is_some());
    }
    assert!(store.conflicts() > 0, "the duplicate deliveries met in conflicting transactions");
    eprintln!("conflicts: {}, deliveries retried: {retried}", store.conflicts());
}

/// The store calls a message's processing makes, counted on a clean run.
async fn calls_of<K: RowKind, F: Future<Output = (App, Arc<MemoryStore>, RowMessage<K::Row>)>>(
    setup: &impl Fn() -> F,
) -> u64 {
    let (app, store, message) = setup().await;
    let before = store.calls();
    process::<K>(&app, &message, false).await.unwrap();
    store.calls() - before
}

/// A fault at each store call of a message's processing, before or after the call's change,
/// then the message again: the job ends with exactly the counts of a clean run.
async fn every_fault_then_redelivery_gives_exact_counts<K: RowKind, F>(setup: impl Fn() -> F, expected: Counts)
where
    F: Future<Output = (App, Arc<MemoryStore>, RowMessage<K::Row>)>,
{
    let calls = calls_of::<K, F>(&setup).await;
    assert!(calls >= 5, "only {calls} store calls: the message did not run");
    for call in 1..=calls {
        for fault in [Fault::Before, Fault::After] {
            let (app, store, message) = setup().await;
            store.inject_fault(call, fault);
            let first = process::<K>(&app, &message, false).await;
            assert!(first.is_err(), "call {call} ({fault:?}): the fault did not surface");
            process::<K>(&app, &message, false).await.unwrap();
            let job_id = &message.job_id;
            let job = progress(&app, job_id).await.unwrap().unwrap();
            assert_eq!((job.counts, job.status), (expected, JobStatus::Completed), "call {call} ({fault:?})");
            let rows: Vec<u64> = app.jobs.rows(job_id, 0, 100).await.unwrap().iter().map(|r| r.row).collect();
            let unique: HashSet<u64> = rows.iter().copied().collect();
            assert_eq!(rows.len(), unique.len(), "call {call} ({fault:?}): a row settled twice");
            assert_eq!(rows.len() as u64, expected.settled(), "call {call} ({fault:?})");
        }
    }
}

/// A bulk message of three rows: one with a password, one whose email has an account, one new.
async fn bulk_message() -> (App, Arc<MemoryStore>, RowMessage<BulkRow>) {
    let (app, store, mut queue, _) = memory_app();
    let taken = "taken@example.com";
    app.store.create_user(&active_user(taken, "taken_one"), None).await.unwrap();
    let csv = format!(
        "email,username,name,password\nnew@example.com,new_one,New One,correct horse battery staple\n{taken},other_one,Other,\nfresh@example.com,fresh_one,Fresh One,\n"
    );
    learners::flows::bulk::upload(&app, "tester", csv.as_bytes(), None).await.unwrap();
    let bodies = drain(&mut queue);
    assert_eq!(bodies.len(), 1);
    (app, store, serde_json::from_str(&bodies[0]).unwrap())
}

/// A deletion message of three addresses: two with an account, one without.
async fn deletion_message() -> (App, Arc<MemoryStore>, RowMessage<DeletionTarget>) {
    let (app, store, mut queue, _) = memory_app();
    for (email, username) in [("gone1@example.com", "gone_one"), ("gone2@example.com", "gone_two")] {
        app.store.create_user(&active_user(email, username), None).await.unwrap();
    }
    let list = [
        (1, "gone1@example.com".to_owned()),
        (2, "nobody@example.com".to_owned()),
        (3, "gone2@example.com".to_owned()),
    ];
    learners::flows::removal::request_deletions(&app, "tester", &list, None).await.unwrap();
    let bodies = drain(&mut queue);
    assert_eq!(bodies.len(), 1);
    (app, store, serde_json::from_str(&bodies[0]).unwrap())
}

#[tokio::test]
async fn a_fault_at_any_store_call_of_a_bulk_message_then_redelivery_gives_exact_counts() {
    every_fault_then_redelivery_gives_exact_counts::<BulkRegistration, _>(
        bulk_message,
        Counts { done: 2, skipped: 1, failed: 0 },
    )
    .await;
}

#[tokio::test]
async fn a_fault_at_any_store_call_of_a_deletion_message_then_redelivery_gives_exact_counts() {
    every_fault_then_redelivery_gives_exact_counts::<Deletion, _>(
        deletion_message,
        Counts { done: 2, skipped: 1, failed: 0 },
    )
    .await;
}

async fn post_with_key(app: &TestApp, path: &str, content_type: &str, key: &str, body: &str) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(learners_tests::ADMIN_TOKEN)
        .header("content-type", content_type)
        .header("idempotency-key", key)
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

/// A client that retries an upload with the same `Idempotency-Key` gets the same job, once;
/// the same key with another file is refused; an upload cut off half-way reads `cut_off`
/// after the deadline, and its retry finishes the same job.
#[tokio::test]
async fn the_same_idempotency_key_twice_makes_one_job() {
    let app = TestApp::spawn(Backend::Memory).await;
    let tag = unique("k");
    let csv = bulk_csv(3, &tag);
    let key = unique("key-");
    let path = "/admin/v1/bulk-registrations";
    let first = post_with_key(&app, path, "text/csv", &key, &csv).await;
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    let again: Value = post_with_key(&app, path, "text/csv", &key, &csv).await.json().await.unwrap();
    assert_eq!(again["job_id"], first["job_id"]);
    let other = post_with_key(&app, path, "text/csv", &key, &bulk_csv(4, &tag)).await;
    assert_eq!(other.status(), 409);
    assert_eq!(other.json::<Value>().await.unwrap()["error"]["code"], "idempotency_key_reused");
    assert_eq!(post_with_key(&app, path, "text/csv", "bad key", &csv).await.status(), 400);
    app.settle().await;
    let job: Value =
        app.admin_get(&format!("{path}/{}", first["job_id"].as_str().unwrap())).await.json().await.unwrap();
    assert_eq!((job["created"].as_u64(), job["status"].as_str()), (Some(3), Some("completed")), "{job}");

    // Deletions: the same rule.
    let list = serde_json::json!({"emails": [format!("w0-{tag}@example.com")]}).to_string();
    let key = unique("key-");
    let one: Value =
        post_with_key(&app, "/admin/v1/deletions", "application/json", &key, &list).await.json().await.unwrap();
    let two: Value =
        post_with_key(&app, "/admin/v1/deletions", "application/json", &key, &list).await.json().await.unwrap();
    assert_eq!(one["job_id"], two["job_id"]);
    app.settle().await;
    assert!(app.user(&format!("w0-{tag}@example.com")).await.is_none());
}

#[tokio::test]
async fn an_upload_cut_off_half_way_does_not_stay_running_and_its_retry_finishes_it() {
    let (app, store, mut queue, clock) = memory_app();
    let csv = bulk_csv(30, &unique("cut"));
    // The intake dies at its last step (marking the job queued), its messages out.
    let before = store.calls();
    learners::flows::bulk::upload(&app, "tester", csv.as_bytes(), Some("k1")).await.unwrap();
    let intake_calls = store.calls() - before;
    let csv = bulk_csv(30, &unique("cut"));
    store.inject_fault(intake_calls, Fault::Before);
    assert!(learners::flows::bulk::upload(&app, "tester", csv.as_bytes(), Some("k2")).await.is_err());
    drain(&mut queue);
    let left: Vec<_> = store.jobs().into_iter().filter(|job| job.status == JobStatus::Receiving).collect();
    assert_eq!(left.len(), 1, "the cut-off upload left its job receiving");
    let job_id = left[0].id.clone();
    assert_eq!(progress(&app, &job_id).await.unwrap().unwrap().status, JobStatus::Receiving);
    clock.advance(INTAKE_DEADLINE_SECONDS + 1);
    assert_eq!(progress(&app, &job_id).await.unwrap().unwrap().status, JobStatus::CutOff);
    let finished = learners::flows::bulk::upload(&app, "tester", csv.as_bytes(), Some("k2")).await.unwrap();
    assert_eq!(finished.id, job_id, "the retry finishes the same job");
    assert_eq!(finished.status, JobStatus::Queued);
    for body in drain(&mut queue) {
        process::<BulkRegistration>(&app, &serde_json::from_str(&body).unwrap(), false).await.unwrap();
    }
    let done = progress(&app, &job_id).await.unwrap().unwrap();
    assert_eq!((done.status, done.counts.done), (JobStatus::Completed, 30));
}

/// 250 bad rows among good ones: the status pages hold at most 100 problem rows each, and
/// following `next_cursor` lists every problem row exactly once.
#[tokio::test]
async fn paged_status_lists_every_problem_row_once() {
    let app = TestApp::spawn(Backend::Memory).await;
    let tag = unique("pg");
    let mut csv = String::from("email,username,name\n");
    for i in 0..400 {
        if i % 8 < 5 {
            csv.push_str(&format!("not-an-address-{i},bad{i}-{tag},Bad {i}\n"));
        } else {
            csv.push_str(&format!("g{i}-{tag}@example.com,g{i}-{tag},Good {i}\n"));
        }
    }
    let created: Value = app.admin_post_csv("/admin/v1/bulk-registrations", csv).await.json().await.unwrap();
    let id = created["job_id"].as_str().unwrap().to_owned();
    app.settle().await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = cursor.as_ref().map(|c| format!("?cursor={c}")).unwrap_or_default();
        let page: Value =
            app.admin_get(&format!("/admin/v1/bulk-registrations/{id}{query}")).await.json().await.unwrap();
        let errors = page["errors"].as_array().unwrap();
        assert!(errors.len() <= 100);
        seen.extend(errors.iter().map(|e| e["row"].as_u64().unwrap()));
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => {
                assert_eq!(page["failed"].as_u64().unwrap() as usize, seen.len());
                break;
            }
        }
    }
    let unique: HashSet<u64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "a problem row on two pages");
    assert_eq!((seen.len(), pages), (250, 3), "250 problem rows in pages of 100");
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "in row order");
    let bad = app.admin_get(&format!("/admin/v1/bulk-registrations/{id}?cursor=abc")).await;
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.json::<Value>().await.unwrap()["error"]["code"], "bad_cursor");
}

/// The report of a 1,000,000-row job comes in pages that each stay far inside Lambda's 6 MB
/// response limit, and following `x-next-cursor` downloads every row once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_of_a_million_row_job_downloads_completely() {
    const ROWS: u64 = 1_000_000;
    let app = TestApp::spawn(Backend::Memory).await;
    let job = learners::domain::RowJob {
        id: uuid::Uuid::now_v7().to_string(),
        kind: learners::domain::JobKind::BulkRegistration,
        operator: "tester".into(),
        created_at: learners::ports::Clock::now(app.clock.as_ref()),
        status: JobStatus::Receiving,
        total: ROWS,
        final_counts: None,
        idempotency: None,
        invite: false,
    };
    app.app.jobs.create_job(&job).await.unwrap();
    let rows: Vec<u64> = (2..ROWS + 2).collect();
    for chunk in rows.chunks(50_000) {
        let outcomes: Vec<RowOutcome> = chunk
            .iter()
            .map(|row| {
                let result = if row % 10 == 0 { RowResult::Failed } else { RowResult::Done };
                RowOutcome::new(
                    *row,
                    "",
                    result,
                    if result == RowResult::Done { "created" } else { "invalid_email" },
                    "",
                )
            })
            .collect();
        app.app.jobs.settle_at_intake(&job, &outcomes).await.unwrap();
    }
    let mut cursor: Option<String> = None;
    let (mut next_row, mut pages, mut largest) = (2u64, 0, 0);
    loop {
        let query = cursor.as_ref().map(|c| format!("?cursor={c}")).unwrap_or_default();
        let response = app.admin_get(&format!("/admin/v1/bulk-registrations/{}/report.csv{query}", job.id)).await;
        assert_eq!(response.status(), 200);
        let next = response.headers().get("x-next-cursor").map(|v| v.to_str().unwrap().to_owned());
        let body = response.text().await.unwrap();
        largest = largest.max(body.len());
        let mut reader = csv::Reader::from_reader(body.as_bytes());
        assert_eq!(reader.headers().unwrap(), vec!["row", "email", "result", "code", "message"]);
        for record in reader.records() {
            let record = record.unwrap();
            assert_eq!(record[0].parse::<u64>().unwrap(), next_row, "every row once, in order");
            next_row += 1;
        }
        pages += 1;
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(next_row, ROWS + 2, "all {ROWS} rows");
    assert!(largest < 6 * 1024 * 1024 / 4, "a page of {largest} bytes");
    eprintln!("{pages} pages, the largest {largest} bytes");
}

/// The last delivery of a message writes its tally even if the first try fails (no later
/// delivery would), and a deletion row that could not be processed keeps no address.
#[tokio::test]
async fn the_last_delivery_tries_its_tally_again_and_a_failed_deletion_keeps_no_address() {
    let (app, store, message) = deletion_message().await;
    // The calls of a clean run: job, block_rows, then per row the look-up and the deletion...
    // the last two are the tally's block_rows and record_tally.
    let calls = {
        let (app, store, message) = deletion_message().await;
        let before = store.calls();
        process::<Deletion>(&app, &message, true).await.unwrap();
        store.calls() - before
    };
    store.inject_fault(calls, Fault::Before);
    process::<Deletion>(&app, &message, true).await.expect("the tally is tried again");
    let job = progress(&app, &message.job_id).await.unwrap().unwrap();
    assert_eq!((job.status, job.counts), (JobStatus::Completed, Counts { done: 2, skipped: 1, failed: 0 }));

    // A deletion that fails on the last delivery: settled as failed, without the address.
    let (app, store, message) = deletion_message().await;
    let first_deletion = {
        let (app, store, message) = deletion_message().await;
        let before = store.calls();
        // job, block_rows, user_by_email_key, delete_user: the fourth call.
        process::<Deletion>(&app, &message, true).await.unwrap();
        assert!(store.calls() - before > 4);
        4
    };
    store.inject_fault(first_deletion, Fault::Before);
    assert!(process::<Deletion>(&app, &message, true).await.is_err(), "the message still goes to the DLQ");
    let failed = app.jobs.problems(&message.job_id, 0, 10).await.unwrap();
    assert_eq!(failed.len(), 2, "{failed:?}");
    let processing = failed.iter().find(|r| r.code == "processing_failed").expect("a row settled as failed");
    assert_eq!(processing.email, "", "a failed deletion row keeps no address");
    assert!(app.store.user_by_email_key("gone1@example.com").await.unwrap().is_some(), "not deleted");
}

/// An upload retried with its key after its messages went out and were worked writes no
/// settled row again and keeps no password again.
#[tokio::test]
async fn a_retried_intake_leaves_settled_rows_and_their_passwords_alone() {
    let (app, store, mut queue, _) = memory_app();
    let secret = "a password kept only until its row settles";
    let mut csv = String::from("email,username,name,password\n");
    for i in 0..30 {
        csv.push_str(&format!("r{i}@example.com,r{i}_user,Learner {i},{secret} {i}\n"));
    }
    // Cut off at its last step, after its messages went out.
    let before = store.calls();
    let shape = format!("email,username,name,password\nx@example.com,x_user,X,{secret} x\n");
    let first = learners::flows::bulk::upload(&app, "tester", shape.as_bytes(), Some("k0")).await.unwrap();
    store.inject_fault(store.calls() - before, Fault::Before);
    assert!(learners::flows::bulk::upload(&app, "tester", csv.as_bytes(), Some("k1")).await.is_err());
    let bodies: Vec<String> =
        drain(&mut queue).into_iter().filter(|b| b.contains("r0@") || b.contains("r29@")).collect();
    assert_eq!(bodies.len(), 2, "the cut-off intake sent its two messages");
    for body in &bodies {
        process::<BulkRegistration>(&app, &serde_json::from_str(body).unwrap(), false).await.unwrap();
    }
    let job = learners::flows::bulk::upload(&app, "tester", csv.as_bytes(), Some("k1")).await.unwrap();
    let again = drain(&mut queue);
    assert!(again.is_empty(), "every row was settled: nothing to send again: {again:?}");
    // (The first upload's own row, never worked here, still has its password kept, sealed.)
    let now = app.clock.now();
    for i in 0..30 {
        assert_eq!(app.jobs.kept_password(&job.id, i + 2, now).await.unwrap(), None, "row {i}'s password kept again");
    }
    let kept = app.jobs.kept_password(&first.id, 2, now).await.unwrap().expect("the first upload's row is kept");
    assert_eq!(app.sealer.open(&first.id, 2, &kept).await.unwrap(), format!("{secret} x"));
    let stored = store.dump();
    assert!(!stored.iter().any(|item| item.contains(secret)), "a password kept in clear");
    let done = progress(&app, &job.id).await.unwrap().unwrap();
    assert_eq!((done.status, done.counts.done), (JobStatus::Completed, 30));
}

/// The pace (`LEARNERS_ROW_MIN_MILLIS`): each row of a message takes at least that long, the
/// bound `deploy::bulk_and_deletion_peaks_stay_under_the_tables_warm_throughput` counts on.
#[tokio::test]
async fn a_paced_worker_spends_at_least_the_pace_on_each_row() {
    let (mut app, _, message) = deletion_message().await;
    let mut config = (*app.config).clone();
    config.row_min_millis = 120;
    app.config = Arc::new(config);
    let rows = message.rows.len() as u32;
    assert!(rows >= 2, "{rows}");
    let started = std::time::Instant::now();
    process::<Deletion>(&app, &message, true).await.unwrap();
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(120) * rows, "{rows} rows in {took:?}");
    let job = progress(&app, &message.job_id).await.unwrap().unwrap();
    assert_eq!((job.status, job.counts), (JobStatus::Completed, Counts { done: 2, skipped: 1, failed: 0 }));
}
