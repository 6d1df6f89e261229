//! Bulk registration: the upload, the worker (idempotent under redelivery), and the report.

use async_trait::async_trait;
use learners::adapters::clock::ManualClock;
use learners::domain::{AuditEntry, Counts, RowJob, RowOutcome, User};
use learners::handlers::bulk_worker;
use learners::handlers::sqs::{SqsEvent, SqsMessage};
use learners::ports::{BulkCreate, JobCreated, Queue, RowJobs};
use learners::App;
use learners_gateway::workers::spawn_in_process;
use learners_gateway::{RouteTable, Workers};
use learners_tests::{email, on_both_backends, unique, Backend, TestApp, ADMIN_TOKEN, PASSWORD};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;

async fn upload(app: &TestApp, csv: impl Into<reqwest::Body>, query: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(&format!("/admin/v1/bulk-registrations{query}")))
        .header("content-type", "text/csv")
        .body(csv);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn job(app: &TestApp, id: &str) -> Value {
    let response = app.admin_get(&format!("/admin/v1/bulk-registrations/{id}")).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

on_both_backends!(
    files_as_spreadsheets_write_them_get_an_answer_a_person_understands,
    a_messy_file_creates_exactly_its_valid_rows,
    redelivery_and_a_crash_half_way_change_nothing,
    passwords_never_travel_through_the_queue_and_go_once_settled,
);

/// Bulk passwords stay out of every queue message (a failed one would carry them into the
/// dead-letter queue for 14 days): the upload keeps them in the store, sealed (the raw items,
/// and so the table's backups, never hold one in clear; on moto under a KMS key), and the
/// write that settles each row forgets its password.
async fn passwords_never_travel_through_the_queue_and_go_once_settled(backend: Backend) {
    let clock = Arc::new(ManualClock::new());
    let (app, mut receiver, memory) = match backend {
        Backend::Memory => {
            let (app, parts) = learners::wiring::in_memory(learners_tests::config("unused", &[]), clock);
            (app, Some(parts.queue), Some(parts.store))
        }
        Backend::Moto => {
            let clients = learners::adapters::aws::AwsClients::for_endpoint(learners_tests::moto::url()).await;
            let table = unique("bulk-");
            let made = learners::adapters::aws::provision::provision(&clients, &table).await.unwrap();
            let variables = made.variables();
            let pairs: Vec<(&str, &str)> = variables.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let mut app = learners::wiring::aws(learners_tests::config(&table, &pairs), &clients, clock);
            let kms = learners_tests::oidc::moto_kms().await;
            let key = kms.create_key().send().await.unwrap().key_metadata.unwrap().key_id;
            app.sealer = Arc::new(learners::adapters::aws::KmsSealer::new(kms, &key));
            (app, None, None)
        }
    };
    let stored = |memory: Option<Arc<learners::adapters::memory::MemoryStore>>, table: String| async move {
        match memory {
            Some(store) => store.dump(),
            None => {
                let clients = learners::adapters::aws::AwsClients::for_endpoint(learners_tests::moto::url()).await;
                let mut pages = clients.dynamodb.scan().table_name(&table).into_paginator().items().send();
                let mut items = Vec::new();
                while let Some(item) = pages.next().await {
                    items.push(format!("{:?}", item.unwrap()));
                }
                items
            }
        }
    };
    let tag = unique("p");
    let passwords: Vec<String> = (0..3).map(|i| format!("secret passphrase {i} {tag}")).collect();
    let mut csv = String::from("email,username,name,password\n");
    for (i, password) in passwords.iter().enumerate() {
        csv.push_str(&format!("p{i}-{tag}@example.com,p{i}-{tag},Learner {i},{password}\n"));
    }
    csv.push_str(&format!("nopass-{tag}@example.com,nopass-{tag},No Password,\n"));
    let job = learners::flows::bulk::upload(&app, "tester", csv.as_bytes(), None).await.unwrap();
    let bodies = enqueued_bodies(&app, backend, receiver.as_mut()).await;
    assert_eq!(bodies.len(), 1);
    for password in &passwords {
        assert!(!bodies[0].contains(password.as_str()), "a password in a queue message: {}", bodies[0]);
    }
    assert_eq!(bodies[0].matches(r#""has_password":true"#).count(), 3, "{}", bodies[0]);
    let waiting = stored(memory.clone(), app.config.table_name.clone()).await;
    // On moto the raw items (`PASSWORD#<row>`, `sealed_password`); in memory the kept texts.
    let kept: Vec<&String> =
        waiting.iter().filter(|item| item.contains("PASSWORD#") || item.starts_with("v1.")).collect();
    assert_eq!(kept.len(), 3, "a kept password per row with one: {waiting:?}");
    for password in &passwords {
        let word = password.split(' ').nth(1).unwrap();
        assert!(!waiting.join("\n").contains(word), "a password kept in clear: {kept:?}");
    }

    let response = bulk_worker::handle(&app, event(&bodies, 1)).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(learners::jobs::progress(&app, &job.id).await.unwrap().unwrap().counts.done, 4);
    for (i, password) in passwords.iter().enumerate() {
        let signed_in = learners::flows::signin::sign_in(&app, &format!("p{i}-{tag}@example.com"), password).await;
        assert!(signed_in.is_ok(), "row {i} signs in with its file's password");
    }
    let stored = stored(memory, app.config.table_name.clone()).await.join("\n");
    for password in &passwords {
        assert!(!stored.contains(password.as_str()), "a password left in the store after settling");
    }
}

async fn a_messy_file_creates_exactly_its_valid_rows(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tag = unique("c");
    let existing = format!("existing-{tag}@example.com");
    app.active_account(&existing, &unique("exist")).await;
    let mails_before = app.mail_to(&existing).await.len();
    let mut csv = Vec::from(&b"\xEF\xBB\xBF"[..]);
    csv.extend_from_slice(
        format!(
            "Name,EMAIL,password,username\r\n\
             \"Lovelace, Ada\",ada-{tag}@example.com,{PASSWORD},ada-{tag}\r\n\
             Grace Hopper,grace-{tag}@example.com,,grace-{tag}\r\n\
             \"Line\nBreak\",break-{tag}@example.com,,break-{tag}\r\n\
             Ada Again,ADA-{tag}@Example.com,,other-{tag}\r\n\
             Someone,{existing},,someone-{tag}\r\n\
             Nul Byte,nul-{tag}@example.com,,nul\0{tag}\r\n\
             =SUM(A1:A9),formula-{tag}@example.com,,formula-{tag}\r\n\
             Evil Cell,=cmd|calc-{tag},,evil-{tag}\r\n"
        )
        .as_bytes(),
    );
    // A dry run first: it names every row the real run will not create, the row whose address
    // has an account already included.
    let dry = upload(&app, csv.clone(), "?dry_run=true", Some(ADMIN_TOKEN)).await;
    assert_eq!(dry.status(), 200);
    let dry: Value = dry.json().await.unwrap();
    let rows_of = |list: &Value| -> std::collections::BTreeSet<u64> {
        list.as_array().unwrap().iter().map(|e| e["row"].as_u64().unwrap()).collect()
    };
    let flagged = rows_of(&dry["errors"]);
    let existing_row = dry["errors"].as_array().unwrap().iter().find(|e| e["email"] == existing.as_str()).unwrap();
    assert_eq!((existing_row["row"].as_u64(), existing_row["code"].as_str()), (Some(6), Some("already_registered")));

    let response = upload(&app, csv.clone(), "", Some(ADMIN_TOKEN)).await;
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    assert_eq!(accepted["rows"], 8);
    let id = accepted["job_id"].as_str().unwrap().to_owned();
    app.settle().await;

    let status = job(&app, &id).await;
    assert_eq!((status["status"].as_str(), status["total"].as_u64()), (Some("completed"), Some(8)));
    assert_eq!(flagged, rows_of(&status["errors"]), "the dry run and the real run disagree");
    assert_eq!(
        (status["created"].as_u64(), status["skipped"].as_u64(), status["failed"].as_u64()),
        (Some(3), Some(2), Some(3))
    );
    let problems: Vec<(u64, &str, &str)> = status["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["row"].as_u64().unwrap(), e["result"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        problems,
        [
            (4, "failed", "invalid_name"),
            (5, "skipped", "duplicate_in_file"),
            (6, "skipped", "already_registered"),
            (7, "failed", "invalid_username"),
            (9, "failed", "invalid_email"),
        ]
    );

    // The valid rows are active accounts, from source `bulk`, names exactly as given.
    let ada = app.user(&format!("ada-{tag}@example.com")).await.unwrap();
    assert_eq!(
        (ada["status"].as_str(), ada["source"].as_str(), ada["name"].as_str()),
        (Some("active"), Some("bulk"), Some("Lovelace, Ada"))
    );
    assert_eq!(app.user(&format!("formula-{tag}@example.com")).await.unwrap()["name"], "=SUM(A1:A9)");
    assert!(app.user(&format!("break-{tag}@example.com")).await.is_none());
    assert_eq!(app.sign_in(&format!("ada-{tag}@example.com"), PASSWORD).await.status(), 200);
    // Grace has no password: she cannot sign in, but can reset it.
    let grace = format!("grace-{tag}@example.com");
    assert_eq!(app.sign_in(&grace, PASSWORD).await.status(), 401);
    assert!(app.mail_to(&grace).await.is_empty(), "bulk accounts get no mail");
    assert_eq!(app.mail_to(&existing).await.len(), mails_before, "the existing account was left alone");
    app.post_json("/api/v1/password-resets", &json!({"email": grace})).await;
    app.settle().await;
    let link = app.mail_to(&grace).await.into_iter().find_map(|m| m.link("/password-reset/")).expect("a reset link");
    let token = link.rsplit('/').next().unwrap();
    let set =
        app.post_json(&format!("/api/v1/password-resets/{token}"), &json!({"password": "a fresh passphrase 77"})).await;
    assert_eq!(set.status(), 204);
    assert_eq!(app.sign_in(&grace, "a fresh passphrase 77").await.status(), 200);

    // The report: one line per row, every field quoted, formulas defused.
    let report = app.admin_get(&format!("/admin/v1/bulk-registrations/{id}/report.csv")).await;
    assert_eq!(report.status(), 200);
    assert!(report.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let report = report.text().await.unwrap();
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines.len(), 9, "{report}");
    assert_eq!(lines[0], r#""row","email","result","code","message""#);
    assert!(lines[1].starts_with(&format!(r#""2","ada-{tag}@example.com","created","created""#)));
    assert!(lines[8].starts_with(&format!(r#""9","'=cmd|calc-{tag}","failed","invalid_email""#)), "{}", lines[8]);
    // A bulk account is on the audit record with the operator and the job.
    let audit: Value =
        app.admin_get(&format!("/admin/v1/audit?email=ada-{tag}@example.com")).await.json().await.unwrap();
    assert_eq!(audit["entries"][0]["action"], "bulk_register");
    assert!(audit["entries"][0]["outcome"].as_str().unwrap().contains(&id));
}

/// Captures what an upload enqueues, without a worker, on either backend.
async fn enqueued_bodies(
    app: &App,
    backend: Backend,
    receiver: Option<&mut tokio::sync::mpsc::UnboundedReceiver<learners::adapters::memory::QueuedBatch>>,
) -> Vec<String> {
    match (backend, receiver) {
        (Backend::Memory, Some(receiver)) => {
            let mut bodies = Vec::new();
            while let Ok(batch) = receiver.try_recv() {
                bodies.extend(batch.bodies);
            }
            bodies
        }
        _ => {
            let clients = learners::adapters::aws::AwsClients::for_endpoint(learners_tests::moto::url()).await;
            let url = &app.config.queue_urls[&Queue::BulkRegistration];
            let mut bodies = Vec::new();
            loop {
                let output =
                    clients.sqs.receive_message().queue_url(url).max_number_of_messages(10).send().await.unwrap();
                let messages = output.messages.unwrap_or_default();
                if messages.is_empty() {
                    break;
                }
                bodies.extend(messages.iter().filter_map(|m| m.body().map(str::to_owned)));
            }
            bodies
        }
    }
}

fn event(bodies: &[String], receive_count: u32) -> SqsEvent {
    let mut event = SqsEvent::default();
    for (i, body) in bodies.iter().enumerate() {
        let mut message = SqsMessage::default();
        message.message_id = Some(format!("m{i}"));
        message.body = Some(body.clone());
        message.attributes.insert("ApproximateReceiveCount".into(), receive_count.to_string());
        event.records.push(message);
    }
    event
}

async fn redelivery_and_a_crash_half_way_change_nothing(backend: Backend) {
    let clock = Arc::new(ManualClock::new());
    let (app, mut receiver) = match backend {
        Backend::Memory => {
            let (app, parts) = learners::wiring::in_memory(learners_tests::config("unused", &[]), clock);
            (app, Some(parts.queue))
        }
        Backend::Moto => {
            let clients = learners::adapters::aws::AwsClients::for_endpoint(learners_tests::moto::url()).await;
            let table = unique("bulk-");
            let made = learners::adapters::aws::provision::provision(&clients, &table).await.unwrap();
            let variables = made.variables();
            let pairs: Vec<(&str, &str)> = variables.iter().map(|(k, v)| (*k, v.as_str())).collect();
            (learners::wiring::aws(learners_tests::config(&table, &pairs), &clients, clock), None)
        }
    };
    let tag = unique("r");
    let mut csv = String::from("email,username,name\n");
    for i in 0..30 {
        csv.push_str(&format!("l{i}-{tag}@example.com,l{i}-{tag},Learner {i}\n"));
    }
    let job = learners::flows::bulk::upload(&app, "tester", csv.as_bytes(), None).await.unwrap();
    let bodies = enqueued_bodies(&app, backend, receiver.as_mut()).await;
    assert_eq!(bodies.len(), 2, "30 rows, 25 to a message");

    // A worker killed half-way through the first message: half its rows settled.
    let mut first: learners::jobs::RowMessage<learners::jobs::bulk_registration::BulkRow> =
        serde_json::from_str(&bodies[0]).unwrap();
    first.rows.truncate(12);
    learners::jobs::process::<learners::jobs::bulk_registration::BulkRegistration>(&app, &first, false).await.unwrap();
    assert_eq!(learners::jobs::progress(&app, &job.id).await.unwrap().unwrap().counts.done, 12);

    // Then everything is delivered, twice.
    for _ in 0..2 {
        let response = bulk_worker::handle(&app, event(&bodies, 2)).await;
        assert!(response.batch_item_failures.is_empty());
    }
    let settled = learners::jobs::progress(&app, &job.id).await.unwrap().unwrap();
    assert_eq!((settled.job.total, settled.counts), (30, Counts { done: 30, skipped: 0, failed: 0 }));
    assert_eq!(settled.status, learners::domain::JobStatus::Completed);
    for i in 0..30 {
        let user = app.store.user_by_email_key(&format!("l{i}-{tag}@example.com")).await.unwrap();
        assert!(user.is_some_and(|u| u.status == learners::domain::UserStatus::Active));
    }
    assert_eq!(app.jobs.rows(&job.id, 0, 1000).await.unwrap().len(), 30);
    assert!(app.jobs.problems(&job.id, 0, 1000).await.unwrap().is_empty());
}

#[tokio::test]
async fn ten_thousand_rows_with_one_malformed_make_9999_accounts() {
    let app = TestApp::spawn(Backend::Memory).await;
    let mut csv = String::from("email,username,name\n");
    for i in 0..10_000 {
        if i == 4321 {
            csv.push_str("not an email,broken,Broken Row\n");
        } else {
            csv.push_str(&format!("learner{i}@example.com,learner{i},Learner {i}\n"));
        }
    }
    let response = upload(&app, csv, "", Some(ADMIN_TOKEN)).await;
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    assert_eq!(accepted["rows"], 10_000);
    app.settle().await;
    let status = job(&app, accepted["job_id"].as_str().unwrap()).await;
    assert_eq!(
        (status["created"].as_u64(), status["failed"].as_u64(), status["skipped"].as_u64()),
        (Some(9_999), Some(1), Some(0))
    );
    let errors = status["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["row"], 4321 + 2);
    assert_eq!(errors[0]["code"], "invalid_email");
    assert!(app.user("learner9999@example.com").await.is_some());
}

#[tokio::test]
async fn bad_files_and_missing_credentials_are_refused_and_enqueue_nothing() {
    let app = TestApp::spawn(Backend::Memory).await;
    let csv = "email,username,name\nx@example.com,xuser,X User\n";
    for token in [None, Some("wrong")] {
        let response = upload(&app, csv, "", token).await;
        assert_eq!(response.status(), 401);
    }
    app.settle().await;
    assert!(app.user("x@example.com").await.is_none());
    assert!(app.memory.as_ref().unwrap().0.dump().is_empty(), "no job, no account");

    let response = upload(&app, "email,login,name,age\nx@example.com,x,X,3\n", "", Some(ADMIN_TOKEN)).await;
    assert_eq!(response.status(), 400);
    let message = response.json::<Value>().await.unwrap()["error"]["message"].as_str().unwrap().to_owned();
    // The missing column refuses the file; the others (login, age) would only be read past.
    assert!(message.ends_with("it has no username column."), "{message}");
    assert_eq!(upload(&app, "", "", Some(ADMIN_TOKEN)).await.status(), 400);
    let response = app
        .client
        .post(app.url("/admin/v1/bulk-registrations"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let huge = format!("email,username,name\n{}", "a".repeat(10 * 1024 * 1024));
    assert_eq!(upload(&app, huge, "", Some(ADMIN_TOKEN)).await.status(), 413);

    // A dry run reports and creates nothing.
    let csv = format!("email,username,name\nok-{0}@example.com,ok{0},OK\nbad,bad{0},Bad\n", unique(""));
    let response = upload(&app, csv, "?dry_run=true", Some(ADMIN_TOKEN)).await;
    assert_eq!(response.status(), 200);
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["rows"], 2);
    assert_eq!(report["errors"][0]["row"], 3);
    app.settle().await;
    assert!(app.memory.as_ref().unwrap().0.dump().is_empty());
    assert_eq!(app.admin_get("/admin/v1/bulk-registrations/no-such-job").await.status(), 404);
}

/// A store whose account creation always fails for one address.
struct Poisoned {
    inner: Arc<dyn RowJobs>,
    poison: String,
}

#[async_trait]
impl RowJobs for Poisoned {
    async fn create_job(&self, job: &RowJob) -> anyhow::Result<JobCreated> {
        self.inner.create_job(job).await
    }
    async fn job(&self, id: &str) -> anyhow::Result<Option<RowJob>> {
        self.inner.job(id).await
    }
    async fn recent_jobs(
        &self,
        after: Option<&learners::domain::Cursor>,
        limit: usize,
    ) -> anyhow::Result<(Vec<RowJob>, Option<learners::domain::Cursor>)> {
        self.inner.recent_jobs(after, limit).await
    }
    async fn settle_at_intake(&self, job: &RowJob, outcomes: &[RowOutcome]) -> anyhow::Result<()> {
        self.inner.settle_at_intake(job, outcomes).await
    }
    async fn mark_queued(&self, job_id: &str, total: u64) -> anyhow::Result<()> {
        self.inner.mark_queued(job_id, total).await
    }
    async fn mark_completed(&self, job_id: &str, counts: &Counts) -> anyhow::Result<()> {
        self.inner.mark_completed(job_id, counts).await
    }
    async fn keep_passwords(
        &self,
        job_id: &str,
        passwords: &[(u64, String)],
        expires_at: learners::domain::Timestamp,
    ) -> anyhow::Result<()> {
        self.inner.keep_passwords(job_id, passwords, expires_at).await
    }
    async fn kept_password(
        &self,
        job_id: &str,
        row: u64,
        now: learners::domain::Timestamp,
    ) -> anyhow::Result<Option<String>> {
        self.inner.kept_password(job_id, row, now).await
    }
    async fn create_bulk_user(
        &self,
        job: &RowJob,
        user: &User,
        outcome: &RowOutcome,
        audit: &AuditEntry,
    ) -> anyhow::Result<BulkCreate> {
        anyhow::ensure!(user.email.as_ref() != self.poison, "the store refuses this row");
        self.inner.create_bulk_user(job, user, outcome, audit).await
    }
    async fn settle_row(&self, job: &RowJob, outcome: &RowOutcome) -> anyhow::Result<bool> {
        self.inner.settle_row(job, outcome).await
    }
    async fn block_rows(&self, job_id: &str, block: u64) -> anyhow::Result<Vec<RowOutcome>> {
        self.inner.block_rows(job_id, block).await
    }
    async fn record_tally(&self, job: &RowJob, block: u64, counts: &Counts) -> anyhow::Result<()> {
        self.inner.record_tally(job, block, counts).await
    }
    async fn tallied(&self, job_id: &str) -> anyhow::Result<Counts> {
        self.inner.tallied(job_id).await
    }
    async fn rows(&self, job_id: &str, after: u64, limit: usize) -> anyhow::Result<Vec<RowOutcome>> {
        self.inner.rows(job_id, after, limit).await
    }
    async fn problems(&self, job_id: &str, after: u64, limit: usize) -> anyhow::Result<Vec<RowOutcome>> {
        self.inner.problems(job_id, after, limit).await
    }
    async fn rows_of_user(&self, user_id: &learners::domain::UserId) -> anyhow::Result<Vec<(String, RowOutcome)>> {
        self.inner.rows_of_user(user_id).await
    }
}

#[tokio::test]
async fn a_poison_message_ends_in_the_dlq_and_its_failing_rows_are_reported() {
    let (mut app, parts) =
        learners::wiring::in_memory(learners_tests::config("unused", &[]), Arc::new(ManualClock::new()));
    let poison = email("poison-");
    app.jobs = Arc::new(Poisoned { inner: app.jobs.clone(), poison: poison.clone() });
    let routes = RouteTable::from_template(learners_gateway::routes::TEMPLATE).unwrap();
    let workers = Workers::from_routes(&routes).unwrap();
    let dead_letters = workers.dead_letters.clone();
    spawn_in_process(app.clone(), workers, parts.queue, parts.pending.clone());

    let passwords = ["first quiet meadow walk", "second quiet meadow walk", "third quiet meadow walk"];
    let csv = format!(
        "email,username,name,password\n{},fine1-x,Fine One,{}\n{poison},poison-x,Poison,{}\n{},fine2-x,Fine Two,{}\n",
        email("fine1-"),
        passwords[0],
        passwords[1],
        email("fine2-"),
        passwords[2],
    );
    let job = learners::flows::bulk::upload(&app, "tester", csv.as_bytes(), None).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while parts.pending.load(Ordering::SeqCst) > 0 {
        assert!(std::time::Instant::now() < deadline, "the queue did not drain");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let settled = learners::jobs::progress(&app, &job.id).await.unwrap().unwrap();
    assert_eq!(
        (settled.counts.done, settled.counts.failed, settled.status),
        (2, 1, learners::domain::JobStatus::Completed)
    );
    let problems = app.jobs.problems(&job.id, 0, 100).await.unwrap();
    assert_eq!((problems[0].row, problems[0].code.as_str()), (3, "processing_failed"));
    assert_eq!(dead_letters.lock().unwrap().len(), 1, "the message went to the dead-letter queue after 3 receives");
    // The dead letter carries no password, and none is left in the store once rows are settled.
    let dead = format!("{:?}", dead_letters.lock().unwrap());
    let stored = parts.store.dump().join("\n");
    for password in passwords {
        assert!(!dead.contains(password), "a password in the dead-letter queue");
        assert!(!stored.contains(password), "a password left in the store");
    }
    assert!(dead.contains("has_password"), "{dead}");
}

/// A CSV saved with a byte-order mark, with `;`, in UTF-16 (Excel's "Unicode text": tabs) and
/// with an extra column: the API's dry run reads each (its notes say what was done) and the
/// upload creates the learner; an unclosed quote and UTF-16 without its mark are refused with
/// the reason, row and column; a deletion list folds `erin@` and `ERIN@` into one address and
/// names its invalid line. (The console reads them by the same rules: tests/browser/console.)
async fn files_as_spreadsheets_write_them_get_an_answer_a_person_understands(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let utf16 = |text: &str| -> Vec<u8> {
        [0xFF, 0xFE].into_iter().chain(text.encode_utf16().flat_map(u16::to_le_bytes)).collect()
    };
    type File = Box<dyn Fn(&str, &str) -> Vec<u8>>;
    let cases: Vec<(&str, File, Option<&str>)> = vec![
        ("bom", Box::new(|e, u| format!("\u{FEFF}email,username,name\n{e},{u},Ada\n").into_bytes()), None),
        (
            "semicolons",
            Box::new(|e, u| format!("email;username;name\n{e};{u};\"Lovelace, Ada\"\n").into_bytes()),
            Some("The file is separated by semicolons (;); it was read so."),
        ),
        (
            "utf-16",
            Box::new(move |e, u| utf16(&format!("email\tusername\tname\r\n{e}\t{u}\tAda\r\n"))),
            Some("The file is UTF-16 text; it was read as such."),
        ),
        (
            "extra column",
            Box::new(|e, u| format!("Cohort,email,username,name\nB,{e},{u},Ada\n").into_bytes()),
            Some("This column was not read (only email, username, name and optionally password are): cohort."),
        ),
    ];
    for (case, file, note) in cases {
        let (address, username) = (email("sheet-"), unique("sheet"));
        let dry = upload(&app, file(&address, &username), "?dry_run=true", Some(ADMIN_TOKEN)).await;
        assert_eq!(dry.status(), 200, "{case}");
        let dry: Value = dry.json().await.unwrap();
        assert_eq!((dry["rows"].as_u64(), dry["errors"].as_array().map(Vec::len)), (Some(1), Some(0)), "{case}: {dry}");
        let warnings: Vec<&str> = dry["warnings"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        assert_eq!(warnings.first().copied(), note, "{case}: {dry}");
        let created = upload(&app, file(&address, &username), "", Some(ADMIN_TOKEN)).await;
        assert_eq!(created.status(), 202, "{case}");
        app.settle().await;
        assert!(app.user(&address).await.is_some(), "{case}: the learner is registered");
    }

    let unclosed =
        format!("email,username,name\n{},a1,Ada\n{},b1,\"Bob\n{},c1,Chen\n", email("a-"), email("b-"), email("c-"));
    let refused = upload(&app, unclosed, "?dry_run=true", Some(ADMIN_TOKEN)).await;
    assert_eq!(refused.status(), 400);
    let message = refused.json::<Value>().await.unwrap()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.starts_with("Row 3: the quote (\") that opens the name cell is not closed"), "{message}");
    let unmarked: Vec<u8> = "email,username,name\n".encode_utf16().flat_map(u16::to_le_bytes).collect();
    let refused = upload(&app, unmarked, "?dry_run=true", Some(ADMIN_TOKEN)).await;
    assert_eq!(refused.status(), 400);
    let message = refused.json::<Value>().await.unwrap()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("UTF-16 text without a byte-order mark. Save it as UTF-8"), "{message}");
    let missing = upload(&app, "email;name\na@example.org;Ada\n", "?dry_run=true", Some(ADMIN_TOKEN)).await;
    assert_eq!(missing.status(), 400);
    let message = missing.json::<Value>().await.unwrap()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.ends_with("it has no username column."), "{message}");

    let erin = email("erin-");
    app.active_account(&erin, &unique("erin")).await;
    let list =
        utf16(&format!("name;email\r\nErin;{erin}\r\nErin again;{}\r\nNobody;not-an-email\r\n", erin.to_uppercase()));
    let dry = app.admin_post_csv("/admin/v1/deletions?dry_run=true", list).await;
    assert_eq!(dry.status(), 200);
    let dry: Value = dry.json().await.unwrap();
    let counts = ["lines", "addresses", "accounts", "repeated"].map(|k| dry[k].as_u64().unwrap_or(99));
    assert_eq!(counts, [3, 1, 1, 1], "{dry}");
    assert_eq!(
        (dry["invalid"][0]["row"].as_u64(), dry["invalid"][0]["email"].as_str()),
        (Some(4), Some("not-an-email"))
    );
    assert_eq!(dry["warnings"].as_array().unwrap().len(), 3, "UTF-16, semicolons, the name column: {dry}");
    app.settle().await;
    assert!(app.user(&erin).await.is_some(), "a dry run deletes nothing");
}

/// A dry run answers within its time budget: past it, the rows not yet compared with the
/// accounts are counted and said, not left to time the request out. (The budget is 20 s in
/// the service; here none at all, then enough.)
#[tokio::test]
async fn a_dry_run_out_of_time_says_how_many_rows_it_did_not_compare() {
    let (app, _parts, _clock) = learners_tests::memory_app();
    let taken = learners_tests::stored_user("taken@example.org", "taken");
    app.store.create_user(&taken, None).await.unwrap();
    let mut csv = String::from("email,username,name\ntaken@example.org,other,Taken\nbad,bad1,Bad\n");
    for i in 0..250 {
        csv.push_str(&format!("l{i}@example.org,learner{i},Learner {i}\n"));
    }
    let cut = learners::flows::bulk::dry_run_within(&app, csv.as_bytes(), std::time::Duration::ZERO).await.unwrap();
    assert_eq!((cut.rows, cut.unchecked, cut.problems.len()), (252, 251, 1), "only the invalid row is known");
    assert!(
        cut.warnings.iter().any(|w| w.starts_with("The check ran out of time: 251 valid rows were not compared")),
        "{:?}",
        cut.warnings
    );
    let whole =
        learners::flows::bulk::dry_run_within(&app, csv.as_bytes(), std::time::Duration::from_secs(20)).await.unwrap();
    assert_eq!((whole.unchecked, whole.problems.len()), (0, 2));
    assert_eq!(whole.problems[0].code, "already_registered");
    assert!(whole.warnings.is_empty(), "{:?}", whole.warnings);
}
