//! What each store call costs on DynamoDB, measured on the adapter's own requests to moto
//! (`adapters::capacity::Meter`, the interceptor `make bench` prices flows with) and pinned
//! here: a change that adds a request, turns a write into a transaction or grows an item past
//! a unit shows up as a difference, to be made on purpose. The embedded store models no
//! billing (a second model of the same figures would only drift).

use super::*;
use learners::adapters::capacity::{Meter, Units};

/// A call of every kind the adapter makes, with the units billed after every step.
async fn billed_script(store: &dyn Store, take: &dyn Fn() -> Units) -> Vec<(String, Units)> {
    let mut bills = Vec::new();
    let mut step = |name: &str| bills.push((name.to_owned(), take()));
    let ada = user("units-ada@example.com", "units_ada");
    let (_, activation) = activation_token(&ada, 3_600);
    store.create_user(&ada, Some(&activation)).await.unwrap();
    step("create_user");
    let twin = user("units-ada@example.com", "units_twin");
    assert!(store.create_user(&twin, None).await.is_err());
    step("create_user (taken)");
    store.user_by_email_key(&ada.email.key()).await.unwrap().unwrap();
    step("user_by_email_key");
    assert!(store.user_by_email_key("nobody@example.com").await.unwrap().is_none());
    step("user_by_email_key (none)");
    assert!(store.username_taken("units_ada").await.unwrap());
    step("username_taken");
    store.user_by_id(&ada.id).await.unwrap().unwrap();
    step("user_by_id");
    store.token(&activation.hash).await.unwrap().unwrap();
    step("token");
    assert!(matches!(store.consume_activation_token(&activation.hash, NOW).await.unwrap(), TokenUse::Consumed(_)));
    step("consume_activation_token");
    assert!(matches!(store.consume_activation_token(&activation.hash, NOW).await.unwrap(), TokenUse::AlreadyUsed(_)));
    step("consume_activation_token (used)");
    let reset = reset_token(&ada, 3_600);
    store.put_token(&reset).await.unwrap();
    step("put_token");
    let hash = password_hash("units");
    assert!(store.complete_password_reset(&reset, &hash, NOW).await.unwrap());
    step("complete_password_reset");
    assert!(store.set_password(&ada.id, &hash).await.unwrap());
    step("set_password");
    assert!(store.activate_user(&ada.id, NOW).await.unwrap());
    step("activate_user");
    let refusal = MailRefusal { kind: MailRefusalKind::Bounce, address: "units-ada@example.com".into(), at: NOW };
    assert!(store.mark_mail_refused(&ada.id, &refusal).await.unwrap());
    step("mark_mail_refused");
    for _ in 0..3 {
        store.take_quota("units-quota", NOW, 3_600, 2).await.unwrap();
    }
    step("take_quota x3 (the third refused)");
    assert_eq!(store.quota_used("units-quota", NOW).await.unwrap(), 2);
    step("quota_used");
    for _ in 0..4 {
        store.reserve("units-counter", NOW, POLICY).await.unwrap();
    }
    step("reserve x4 (the fourth refused)");
    store.record_failure("units-counter", NOW, POLICY).await.unwrap();
    step("record_failure");
    store.state("units-counter", NOW).await.unwrap();
    step("state");
    store.clear("units-counter").await.unwrap();
    step("clear");
    store.reserve("units-counter", NOW, POLICY).await.unwrap();
    store.release("units-counter").await.unwrap();
    step("reserve, release");
    let token = Token::generate();
    let session = SessionRecord {
        hash: token.hash(),
        user_id: ada.id.clone(),
        auth_epoch: 0,
        created_at: NOW,
        expires_at: NOW.plus_seconds(3_600),
        operator: false,
        last_seen_at: NOW,
        idle_seconds: 86_400,
        password_at: NOW,
        methods: vec![AuthMethod::Password, AuthMethod::AuthenticatorCode],
        browser: "Firefox on Linux".to_owned(),
    };
    store.create_session(&session).await.unwrap();
    step("create_session");
    store.session(&token.hash(), NOW).await.unwrap().unwrap();
    step("session");
    store.touch_session(&token.hash(), NOW, NOW).await.unwrap();
    step("touch_session");
    store.delete_session(&token.hash()).await.unwrap();
    step("delete_session");
    let device = DeviceRecord {
        hash: Token::generate().hash(),
        user_id: ada.id.clone(),
        auth_epoch: 0,
        created_at: NOW,
        expires_at: NOW.plus_seconds(3_600),
    };
    store.create_device(&device).await.unwrap();
    step("create_device");
    assert_eq!(store.known_devices(&ada.id, NOW).await.unwrap().len(), 1);
    step("known_devices");
    store.device(&device.hash, NOW).await.unwrap().unwrap();
    step("device");
    store.delete_device(&ada.id, &device.hash).await.unwrap();
    step("delete_device");
    store.record(&AuditEntry::new(NOW, "arn:op", "unlock", &ada.id, "done")).await.unwrap();
    step("record");
    assert_eq!(store.entries_for(&ada.id).await.unwrap().len(), 1);
    step("entries_for");
    assert!(store.set_operator(&ada.id, true).await.unwrap());
    assert!(store.set_operator(&ada.id, false).await.unwrap());
    step("set_operator x2");
    assert!(store.retirement("no-such-hmac").await.unwrap().is_none());
    step("retirement");

    let job = RowJob { id: "units-job".into(), ..row_job(JobKind::BulkRegistration, 60, Some("units-key")) };
    assert_eq!(store.create_job(&job).await.unwrap(), JobCreated::Created);
    step("create_job");
    let again = RowJob { id: "units-job-2".into(), ..job.clone() };
    assert!(matches!(store.create_job(&again).await.unwrap(), JobCreated::Existing(_)));
    step("create_job (the same key)");
    store.job(&job.id).await.unwrap().unwrap();
    step("job");
    let refused: Vec<RowOutcome> =
        (2..=40).step_by(3).map(|row| outcome(row, RowResult::Failed, "invalid_email")).collect();
    store.settle_at_intake(&job, &refused).await.unwrap();
    step("settle_at_intake");
    store.settle_at_intake(&job, &refused).await.unwrap();
    step("settle_at_intake (again: every row settled)");
    store.keep_passwords(&job.id, &[(3, "a kept secret".into())], NOW.plus_seconds(60)).await.unwrap();
    step("keep_passwords");
    store.kept_password(&job.id, 3, NOW).await.unwrap().unwrap();
    step("kept_password");
    let grace = user("units-grace@example.com", "units_grace");
    let mut created = outcome(3, RowResult::Done, "created");
    created.user_id = Some(grace.id.clone());
    let audit = AuditEntry::new(NOW, "arn:op", "bulk_register", &grace.id, "row 3");
    assert_eq!(store.create_bulk_user(&job, &grace, &created, &audit).await.unwrap(), BulkCreate::Created);
    step("create_bulk_user");
    let taken = user("units-grace@example.com", "units_grace2");
    let taken_row = outcome(4, RowResult::Done, "created");
    assert!(matches!(
        store.create_bulk_user(&job, &taken, &taken_row, &audit).await.unwrap(),
        BulkCreate::Taken { .. }
    ));
    step("create_bulk_user (taken)");
    assert!(store.settle_row(&job, &outcome(4, RowResult::Skipped, "already_registered")).await.unwrap());
    step("settle_row");
    assert!(!store.block_rows(&job.id, 0).await.unwrap().is_empty());
    step("block_rows");
    store.record_tally(&job, 0, &Counts { done: 1, skipped: 1, failed: 8 }).await.unwrap();
    store.record_tally(&job, 1, &Counts { done: 0, skipped: 0, failed: 5 }).await.unwrap();
    step("record_tally x2");
    store.tallied(&job.id).await.unwrap();
    step("tallied");
    assert!(!store.rows(&job.id, 0, 100).await.unwrap().is_empty());
    step("rows");
    assert!(!store.problems(&job.id, 5, 3).await.unwrap().is_empty());
    step("problems");
    store.mark_queued(&job.id, job.total).await.unwrap();
    store.mark_completed(&job.id, &Counts { done: 1, skipped: 1, failed: 13 }).await.unwrap();
    step("mark_queued, mark_completed");
    bills
}

/// Reads, writes and requests billed per step of `billed_script`, as measured on moto.
const PINNED: &[(&str, f64, f64, usize)] = &[
    ("create_user", 0.0, 13.0, 1),
    ("create_user (taken)", 0.0, 9.0, 1),
    ("user_by_email_key", 2.0, 0.0, 2),
    // As many requests as for a known address (the second reads nothing).
    ("user_by_email_key (none)", 2.0, 0.0, 2),
    ("username_taken", 1.0, 0.0, 1),
    ("user_by_id", 1.0, 0.0, 1),
    ("token", 1.0, 0.0, 1),
    ("consume_activation_token", 1.0, 4.0, 2),
    ("consume_activation_token (used)", 1.0, 0.0, 1),
    ("put_token", 0.0, 4.0, 1),
    ("complete_password_reset", 0.0, 4.0, 1),
    ("set_password", 0.0, 1.0, 1),
    ("activate_user", 0.0, 1.0, 1),
    ("mark_mail_refused", 0.0, 1.0, 1),
    ("take_quota x3 (the third refused)", 0.0, 4.0, 4),
    ("quota_used", 1.0, 0.0, 1),
    ("reserve x4 (the fourth refused)", 1.0, 6.0, 6),
    ("record_failure", 0.0, 1.0, 1),
    ("state", 1.0, 0.0, 1),
    ("clear", 0.0, 1.0, 1),
    ("reserve, release", 0.0, 2.0, 2),
    ("create_session", 0.0, 4.0, 1),
    ("session", 1.0, 0.0, 1),
    ("touch_session", 0.0, 1.0, 1),
    ("delete_session", 0.0, 1.0, 1),
    ("create_device", 0.0, 4.0, 1),
    ("known_devices", 1.0, 0.0, 1),
    ("device", 1.0, 0.0, 1),
    ("delete_device", 0.0, 4.0, 1),
    ("record", 0.0, 2.0, 1), // and its feed index entry
    ("entries_for", 1.0, 0.0, 1),
    ("set_operator x2", 0.0, 8.0, 2),
    ("retirement", 1.0, 0.0, 1),
    ("create_job", 0.0, 5.0, 1),
    ("create_job (the same key)", 2.0, 5.0, 3),
    ("job", 1.0, 0.0, 1),
    // One conditional put per row and one per problem copy (the 13 rows are all refused).
    ("settle_at_intake", 0.0, 52.0, 26), // each with its rows_by_email entry
    // Each put refused (billed all the same), the row read, its copy written again.
    ("settle_at_intake (again: every row settled)", 13.0, 52.0, 39),
    ("keep_passwords", 0.0, 1.0, 1),
    ("kept_password", 1.0, 0.0, 1),
    ("create_bulk_user", 0.0, 19.0, 1), // 7 actions x 2, the feed and rows_by_email entries
    ("create_bulk_user (taken)", 1.0, 19.0, 2),
    ("settle_row", 0.0, 8.0, 1),
    ("block_rows", 1.0, 0.0, 1),
    ("record_tally x2", 0.0, 2.0, 2),
    ("tallied", 1.0, 0.0, 1),
    // 100 rows asked of a job that ends before them: the 5 shards of rows 1-101 (their
    // blocks'), then one query of each shard past them, finding nothing. A page within a job
    // reads its own shards only (`a_report_page_reads_the_rows_it_shows`).
    ("rows", 21.0, 0.0, 21),
    // Problem rows are sparse: one query per shard partition.
    ("problems", 16.0, 0.0, 16),
    ("mark_queued, mark_completed", 0.0, 2.0, 2),
];

/// The DynamoDB adapter on a new table on moto, its requests billed by the meter.
async fn metered_store(prefix: &str) -> (DynamoStore, Meter) {
    let clients = AwsClients::for_endpoint(moto::url()).await;
    let table = unique(prefix);
    provision::create_table(&clients.dynamodb, &table).await.expect("table on moto");
    let meter = Meter::default();
    let metered =
        aws_sdk_dynamodb::Client::from_conf(clients.dynamodb.config().to_builder().interceptor(meter.clone()).build());
    (DynamoStore::new(metered, table), meter)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_store_call_bills_the_units_pinned_here() {
    let (dynamo, meter) = metered_store("units-").await;
    let bills = billed_script(&dynamo, &|| meter.take()).await;
    let measured: Vec<String> = bills
        .iter()
        .map(|(step, u)| format!("    ({step:?}, {:.1}, {:.1}, {}),", u.reads, u.writes, u.requests))
        .collect();
    let pinned: Vec<String> =
        PINNED.iter().map(|(step, r, w, n)| format!("    ({step:?}, {r:.1}, {w:.1}, {n}),")).collect();
    assert_eq!(measured, pinned, "the units billed changed; measured:\n{}", measured.join("\n"));
}

/// A page of a job's report reads the rows it shows, not a page from each of the 16 shard
/// partitions: the first 50 rows of an 800-row job cost a small part of reading all 800 (before,
/// each shard read a whole page, and a page cost as much as the whole job).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_page_reads_the_rows_it_shows() {
    let (dynamo, meter) = metered_store("units-page-").await;
    let job = row_job(JobKind::BulkRegistration, 800, None);
    dynamo.create_job(&job).await.unwrap();
    let rows: Vec<RowOutcome> = (2..=801).map(|row| outcome(row, RowResult::Done, "created")).collect();
    dynamo.settle_at_intake(&job, &rows).await.unwrap();
    meter.take();

    let page = dynamo.rows(&job.id, 0, 50).await.unwrap();
    let page_units = meter.take();
    let all = dynamo.rows(&job.id, 0, 1_000).await.unwrap();
    let all_units = meter.take();
    assert_eq!(page.iter().map(|r| r.row).collect::<Vec<_>>(), (2..=51).collect::<Vec<_>>());
    assert_eq!(all.len(), 800);
    assert!(
        page_units.reads * 4.0 <= all_units.reads,
        "a 50-row page read {} units, the whole 800-row job {}",
        page_units.reads,
        all_units.reads
    );
    // A page in the middle: read from its own shards, the rows in order.
    let middle = dynamo.rows(&job.id, 400, 30).await.unwrap();
    assert_eq!(middle.iter().map(|r| r.row).collect::<Vec<_>>(), (401..=430).collect::<Vec<_>>());
    assert!(meter.take().reads * 4.0 <= all_units.reads);
}
