//! `AuditLog`: operator actions per account and across accounts, newest first, page after page
//! without a repeat or a gap (across the `feed` index's shards and days), filtered; on
//! DynamoDB from the index and the account's partition only (a Scan fails the test).

use super::*;
use learners::adapters::capacity::Meter;
use learners::domain::{AuditQuery, Cursor};
use learners_tests::{on_both_backends, Backend};

on_both_backends!(
    audit_entries_are_listed_per_account_newest_first,
    the_log_pages_across_accounts_shards_and_days_without_repeats_or_gaps,
    the_log_is_filtered_by_operator_action_learner_and_dates,
);

const DAY: i64 = 86_400;

fn across(from: Timestamp, to: Timestamp) -> AuditQuery {
    AuditQuery { operator: None, action: None, learner: None, from, to, after: None, limit: 50 }
}

/// Every page of `query`, and how many pages it took.
async fn all_pages(store: &Arc<dyn Store>, mut query: AuditQuery) -> (Vec<AuditEntry>, usize) {
    let (mut seen, mut pages) = (Vec::new(), 0);
    loop {
        let page = store.find_entries(&query).await.unwrap();
        pages += 1;
        assert!(page.entries.len() <= query.limit);
        seen.extend(page.entries);
        match page.next {
            Some(next) => query.after = Some(next),
            None => return (seen, pages),
        }
        assert!(pages < 100, "paging does not end");
    }
}

async fn audit_entries_are_listed_per_account_newest_first(backend: Backend) {
    let store = store_on(backend).await;
    let (grace, alan) = (UserId::generate(), UserId::generate());
    let entry = |seconds_ago: i64, user: &UserId| {
        AuditEntry::new(NOW.plus_seconds(-seconds_ago), "arn:op", "unlock", user, "done")
    };
    // Recorded out of order; two in the same second are ordered by their ids (UUIDv7).
    let (middle, newest, oldest) = (entry(100, &grace), entry(0, &grace), entry(1000, &grace));
    let (mut first, mut second) = (entry(50, &grace), entry(50, &grace));
    if second.id < first.id {
        std::mem::swap(&mut first, &mut second);
    }
    for recorded in [&middle, &second, &newest, &entry(5, &alan), &oldest, &first] {
        store.record(recorded).await.unwrap();
    }
    assert_eq!(store.entries_for(&grace).await.unwrap(), vec![newest, second, first, middle, oldest]);
    assert_eq!(store.entries_for(&alan).await.unwrap().len(), 1);
    assert!(store.entries_for(&UserId::generate()).await.unwrap().is_empty());
}

async fn the_log_pages_across_accounts_shards_and_days_without_repeats_or_gaps(backend: Backend) {
    let store = store_on(backend).await;
    let learners: Vec<UserId> = (0..7).map(|_| UserId::generate()).collect();
    // 140 entries over three days (several in one second), spread over every shard by their
    // ids; and one from before the range.
    let mut recorded = Vec::new();
    for i in 0..140_i64 {
        let at = NOW.plus_seconds(-(i / 3) * 1_500);
        recorded.push(AuditEntry::new(at, "arn:op", "unlock", &learners[i as usize % 7], "done"));
    }
    let old = AuditEntry::new(NOW.plus_seconds(-10 * DAY), "arn:op", "unlock", &learners[0], "done");
    for entry in recorded.iter().chain([&old]) {
        store.record(entry).await.unwrap();
    }
    let mut expected = recorded.clone();
    expected.sort_by_key(|e| std::cmp::Reverse(e.sort_key()));
    let (seen, pages) = all_pages(&store, across(NOW.plus_seconds(-5 * DAY), NOW)).await;
    assert!(pages >= 3, "{pages} pages");
    assert_eq!(seen.len(), expected.len(), "no repeat, no gap");
    assert_eq!(seen, expected, "newest first");

    // An entry recorded between two pages, newer than the cursor, does not shift the rest.
    let first = store.find_entries(&across(NOW.plus_seconds(-5 * DAY), NOW)).await.unwrap();
    store.record(&AuditEntry::new(NOW, "arn:op", "activate", &learners[1], "done")).await.unwrap();
    let mut rest = across(NOW.plus_seconds(-5 * DAY), NOW);
    rest.after = first.next.clone();
    let (after, _) = all_pages(&store, rest).await;
    let mut both = first.entries.clone();
    both.extend(after);
    assert_eq!(both, expected, "the pages after the first are the same");

    // A cursor that is not one of the log's positions starts below it all the same.
    let mut below = across(NOW.plus_seconds(-5 * DAY), NOW);
    below.after = Some(Cursor::Key(format!("{:012}#~", NOW.unix() - DAY)));
    let (older, _) = all_pages(&store, below).await;
    assert_eq!(older, expected.iter().filter(|e| e.at.unix() <= NOW.unix() - DAY).cloned().collect::<Vec<_>>());
}

async fn the_log_is_filtered_by_operator_action_learner_and_dates(backend: Backend) {
    let store = store_on(backend).await;
    let (grace, alan) = (UserId::generate(), UserId::generate());
    let console = format!("console:{}:op@example.org", UserId::generate());
    let entries = [
        AuditEntry::new(NOW, &console, "view", &grace, "done"),
        AuditEntry::new(NOW.plus_seconds(-60), "arn:aws:iam::1:user/ops", "unlock", &grace, "done"),
        AuditEntry::new(NOW.plus_seconds(-DAY), &console, "view", &alan, "done"),
        AuditEntry::new(NOW.plus_seconds(-2 * DAY), "arn:aws:iam::1:user/ops", "view", &alan, "done"),
        AuditEntry::new(NOW.plus_seconds(-40 * DAY), &console, "unlock", &grace, "done"),
    ];
    for entry in &entries {
        store.record(entry).await.unwrap();
    }
    let month = across(NOW.plus_seconds(-30 * DAY), NOW);
    let (all, _) = all_pages(&store, month.clone()).await;
    assert_eq!(all, entries[..4].to_vec(), "nothing older than the first day");
    let operator = AuditQuery { operator: Some(console[..45].to_owned()), ..month.clone() };
    assert_eq!(all_pages(&store, operator).await.0, vec![entries[0].clone(), entries[2].clone()]);
    let iam = AuditQuery { operator: Some("user/ops".into()), ..month.clone() };
    assert_eq!(all_pages(&store, iam).await.0, vec![entries[1].clone(), entries[3].clone()]);
    let views = AuditQuery { action: Some("view".into()), ..month.clone() };
    assert_eq!(all_pages(&store, views).await.0, vec![entries[0].clone(), entries[2].clone(), entries[3].clone()]);
    let of_grace = AuditQuery { learner: Some(grace.clone()), ..month.clone() };
    assert_eq!(all_pages(&store, of_grace).await.0, entries[..2].to_vec());
    let grace_ever = AuditQuery { learner: Some(grace.clone()), from: Timestamp::from_unix(0), ..month.clone() };
    assert_eq!(all_pages(&store, grace_ever).await.0.len(), 3, "a learner's whole history");
    let days = across(NOW.plus_seconds(-2 * DAY), NOW.plus_seconds(-DAY));
    assert_eq!(all_pages(&store, days).await.0, vec![entries[2].clone(), entries[3].clone()]);
    let all_at_once = AuditQuery {
        operator: Some(console.clone()),
        action: Some("view".into()),
        learner: Some(alan.clone()),
        ..month.clone()
    };
    assert_eq!(all_pages(&store, all_at_once).await.0, vec![entries[2].clone()]);
    let nobody = AuditQuery { action: Some("delete".into()), ..month };
    let none = store.find_entries(&nobody).await.unwrap();
    assert!(none.entries.is_empty() && none.next.is_none(), "{none:?}");
}

/// On DynamoDB the log is read with Queries only (the `feed` index, the account's partition):
/// the adapter's requests are recorded by the meter, and none is a Scan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_is_read_without_a_scan() {
    let clients = AwsClients::for_endpoint(learners_tests::moto::url()).await;
    let table = learners_tests::unique("noscan-audit-");
    provision::create_table(&clients.dynamodb, &table).await.expect("table on moto");
    let meter = Meter::default();
    let metered =
        aws_sdk_dynamodb::Client::from_conf(clients.dynamodb.config().to_builder().interceptor(meter.clone()).build());
    let store = DynamoStore::new(metered.clone(), table.clone());
    let grace = UserId::generate();
    for i in 0..5 {
        store.record(&AuditEntry::new(NOW.plus_seconds(-i * DAY), "arn:op", "view", &grace, "done")).await.unwrap();
    }
    meter.take();
    let month = across(NOW.plus_seconds(-30 * DAY), NOW);
    for query in [
        month.clone(),
        AuditQuery { limit: 2, ..month.clone() },
        AuditQuery { action: Some("view".into()), operator: Some("op".into()), ..month.clone() },
        AuditQuery { learner: Some(grace.clone()), ..month.clone() },
    ] {
        let mut query = query;
        loop {
            let page = store.find_entries(&query).await.unwrap();
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
    }
    assert!(meter.take().requests > 0);
    assert_eq!(meter.scans(), 0, "a query scanned the table");
    metered.scan().table_name(&table).limit(1).send().await.unwrap();
    assert_eq!(meter.scans(), 1, "the meter sees a Scan");
}
