//! Finding learners, locks and jobs (`UserStore::find_users`, `LoginAttempts::locked_now`,
//! `RowJobs::recent_jobs`): the same answers on both stores, page after page without a repeat
//! or a gap, and on DynamoDB from indexes only (a Scan fails the test).

use super::*;
use learners::adapters::capacity::Meter;
use learners::domain::{Cursor, SecondFactors, StatusFilter, TotpFactor, UserPage, UserQuery, UserSource};
use learners::ports::SecondFactorStore;
use learners_tests::{on_both_backends, Backend};

on_both_backends!(
    learners_are_found_by_the_start_of_an_address_or_a_username,
    the_list_runs_newest_first_with_filters_and_pages_without_repeats,
    locked_accounts_are_listed_while_their_lock_lasts,
    jobs_are_listed_newest_first_page_by_page,
);

/// A learner created `age` seconds before `NOW`.
fn learner(email: &str, username: &str, age: i64) -> User {
    let at = NOW.plus_seconds(-age);
    User { created_at: at, terms_accepted_at: Some(at), ..user(email, username) }
}

/// Every page of `query`, `limit` at a time, as (the users in order, how many pages).
async fn all_pages(store: &dyn Store, mut query: UserQuery) -> (Vec<User>, usize) {
    let (mut users, mut pages) = (Vec::new(), 0);
    loop {
        let UserPage { users: page, next } = store.find_users(&query).await.unwrap();
        assert!(page.len() <= query.limit, "a page holds at most its limit");
        pages += 1;
        users.extend(page);
        match next {
            Some(next) => query.after = Some(next),
            None => return (users, pages),
        }
        assert!(pages < 500, "paging does not end");
    }
}

fn emails(users: &[User]) -> Vec<String> {
    users.iter().map(|u| u.email.to_string()).collect()
}

async fn learners_are_found_by_the_start_of_an_address_or_a_username(backend: Backend) {
    let store = store_on(backend).await;
    for (email, username, age) in [
        ("Ada.Lovelace@example.com", "countess", 50),
        ("adam@example.org", "adam_smith", 40),
        ("grace@example.com", "ADAmant", 30),
        ("brian@example.com", "brian", 20),
        ("adalbert@example.net", "ada_b", 10),
    ] {
        store.create_user(&learner(email, username, age), None).await.unwrap();
    }
    let search = |prefix: &str, limit| UserQuery { prefix: Some(prefix.into()), limit, ..UserQuery::default() };
    let first = store.find_users(&search("ADA.", 50)).await;
    assert!(first.is_ok_and(|page| page.users.is_empty()), "the store takes the prefix lower-cased");
    let first = store.find_users(&search("ada.", 50)).await.unwrap();
    assert_eq!((emails(&first.users), first.next), (vec!["Ada.Lovelace@example.com".to_owned()], None));
    // Addresses that start with it (in order), then usernames of the others; case aside.
    let (found, _) = all_pages(&*store, search("ada", 50)).await;
    assert_eq!(
        emails(&found),
        ["Ada.Lovelace@example.com", "adalbert@example.net", "adam@example.org", "grace@example.com"]
    );
    // One at a time: the same learners, each once, across the switch from addresses to usernames.
    let (one_by_one, pages) = all_pages(&*store, search("ada", 1)).await;
    assert_eq!(emails(&one_by_one), emails(&found));
    assert!(pages >= 4, "{pages} pages");
    let (found, _) = all_pages(&*store, search("adam@", 50)).await;
    assert_eq!(emails(&found), ["adam@example.org"]);
    let (found, _) = all_pages(&*store, search("brian", 50)).await;
    assert_eq!(emails(&found), ["brian@example.com"]);
    let (found, _) = all_pages(&*store, search("nobody", 50)).await;
    assert!(found.is_empty());
    // With a filter and dates.
    let mut query = search("ada", 50);
    query.created_from = Some(NOW.plus_seconds(-35));
    let (found, _) = all_pages(&*store, query).await;
    assert_eq!(emails(&found), ["adalbert@example.net", "grace@example.com"]);
}

async fn the_list_runs_newest_first_with_filters_and_pages_without_repeats(backend: Backend) {
    let (store, factors) = factors_store(backend).await;
    let mut created = Vec::new();
    for i in 0..60 {
        let mut one = learner(&format!("list{i:03}@example.com"), &format!("list{i:03}"), 1_000 - i * 10);
        if i % 3 == 0 {
            one.source = UserSource::Bulk;
        }
        if i % 4 == 0 {
            one.status = UserStatus::Active;
        }
        if i == 7 {
            one.disabled_at = Some(NOW);
        }
        store.create_user(&one, None).await.unwrap();
        created.push(one);
    }
    let newest_first: Vec<String> = created.iter().rev().map(|u| u.email.to_string()).collect();
    let list = |limit| UserQuery { limit, ..UserQuery::default() };
    let first = store.find_users(&list(60)).await.unwrap();
    assert_eq!((first.users.len(), first.next), (60, None));
    let (all, pages) = all_pages(&*store, list(7)).await;
    assert_eq!(emails(&all), newest_first, "every learner once, newest first");
    assert!(pages >= 9, "{pages} pages of 7");
    let expect = |keep: &dyn Fn(usize, &User) -> bool| -> Vec<String> {
        created.iter().enumerate().rev().filter(|(i, u)| keep(*i, u)).map(|(_, u)| u.email.to_string()).collect()
    };
    let filtered = |status: Option<StatusFilter>, source: Option<UserSource>| UserQuery {
        status,
        source,
        limit: 5,
        ..UserQuery::default()
    };
    let (bulk, _) = all_pages(&*store, filtered(None, Some(UserSource::Bulk))).await;
    assert_eq!(emails(&bulk), expect(&|i, _| i % 3 == 0));
    let (active, _) = all_pages(&*store, filtered(Some(StatusFilter::Active), None)).await;
    assert_eq!(emails(&active), expect(&|i, _| i % 4 == 0));
    let (pending_bulk, _) = all_pages(&*store, filtered(Some(StatusFilter::Pending), Some(UserSource::Bulk))).await;
    assert_eq!(emails(&pending_bulk), expect(&|i, _| i % 3 == 0 && i % 4 != 0 && i != 7));
    let (disabled, _) = all_pages(&*store, filtered(Some(StatusFilter::Disabled), None)).await;
    assert_eq!(emails(&disabled), ["list007@example.com"]);
    // Created between two times (inclusive).
    let mut between = list(50);
    between.created_from = Some(NOW.plus_seconds(-900));
    between.created_to = Some(NOW.plus_seconds(-800));
    let (found, _) = all_pages(&*store, between).await;
    assert_eq!(emails(&found), expect(&|i, _| (10..=20).contains(&i)));

    // The operator role and a second factor are filters too.
    store.activate_user(&created[6].id, NOW).await.unwrap();
    assert!(store.set_operator(&created[6].id, true).await.unwrap());
    let (operators, _) = all_pages(&*store, filtered(Some(StatusFilter::Operator), None)).await;
    assert_eq!(emails(&operators), ["list006@example.com"]);
    let enrolled = SecondFactors {
        version: 1,
        totp: Some(TotpFactor { secret: "JBSWY3DPEHPK3PXP".into(), last_step: 0, created_at: NOW.unix() }),
        ..SecondFactors::default()
    };
    assert!(factors.save_second_factors(&created[9].id, &enrolled).await.unwrap());
    let (with, _) = all_pages(&*store, filtered(Some(StatusFilter::SecondFactor), None)).await;
    assert_eq!(emails(&with), ["list009@example.com"]);
    // Removed again: off the filter.
    let removed = SecondFactors { version: 2, ..SecondFactors::default() };
    assert!(factors.save_second_factors(&created[9].id, &removed).await.unwrap());
    let (with, _) = all_pages(&*store, filtered(Some(StatusFilter::SecondFactor), None)).await;
    assert!(with.is_empty());
    // An address changed: found by the new one, not the old.
    let moved = &created[11];
    let new_email = learners::domain::Email::parse("Zed@example.com").unwrap();
    let change = EmailChange { user: moved, new_email: &new_email, token: None, end_sessions: false, now: NOW };
    assert_eq!(store.change_email(&change).await.unwrap(), EmailChanged::Changed);
    let search = |prefix: &str| UserQuery { prefix: Some(prefix.into()), limit: 50, ..UserQuery::default() };
    assert_eq!(emails(&all_pages(&*store, search("zed")).await.0), ["Zed@example.com"]);
    assert!(all_pages(&*store, search("list011@")).await.0.is_empty());
    // A deleted account is gone from the list.
    let retirement = retirement_of(&created[12], "op");
    let gone =
        DeleteRequest { user: &created[12], counter_key: "c", retirement: &retirement, job_row: None, audit: None };
    assert_eq!(store.delete_user(&gone).await.unwrap(), Deleted::Deleted);
    assert_eq!(all_pages(&*store, list(50)).await.0.len(), 59);
}

/// A store and its second-factor port (both stores implement it on the same items).
async fn factors_store(backend: Backend) -> (Arc<dyn Store>, Arc<dyn SecondFactorStore>) {
    match backend {
        Backend::Memory => {
            let store = Arc::new(MemoryStore::new());
            (store.clone(), store)
        }
        Backend::Moto => {
            let store = Arc::new(dynamo_store(learners_tests::unique("contract-")).await);
            (store.clone(), store)
        }
    }
}

async fn locked_accounts_are_listed_while_their_lock_lasts(backend: Backend) {
    let store = store_on(backend).await;
    let ada = learner("locked-ada@example.com", "locked_ada", 10);
    store.create_user(&ada, None).await.unwrap();
    assert!(store.locked_now(NOW, 50).await.unwrap().is_empty());
    for _ in 0..3 {
        store.reserve("counter-ada", NOW, POLICY).await.unwrap();
    }
    // Not locked yet: noting a lock does nothing.
    store.mark_locked("counter-ada", Some(&ada.id), NOW.plus_seconds(600)).await.unwrap();
    assert!(store.locked_now(NOW, 50).await.unwrap().is_empty());
    let locked = store.record_failure("counter-ada", NOW, POLICY).await.unwrap().unwrap();
    store.mark_locked("counter-ada", Some(&ada.id), locked.until).await.unwrap();
    assert_eq!(store.locked_now(NOW.plus_seconds(1), 50).await.unwrap(), vec![(ada.id.clone(), locked.until)]);
    // Over when the lock runs out, or when it is cleared.
    assert!(store.locked_now(locked.until, 50).await.unwrap().is_empty());
    // A new count after the lock is no lock.
    store.reserve("counter-ada", locked.until.plus_seconds(1), POLICY).await.unwrap();
    assert!(store.locked_now(locked.until.plus_seconds(1), 50).await.unwrap().is_empty());
    assert!(store.locked_now(NOW, 50).await.unwrap().is_empty(), "the new count took the lock away");
    for _ in 0..3 {
        store.reserve("counter-2", NOW, POLICY).await.unwrap();
    }
    let again = store.record_failure("counter-2", NOW, POLICY).await.unwrap().unwrap();
    store.mark_locked("counter-2", Some(&ada.id), again.until).await.unwrap();
    assert_eq!(store.locked_now(NOW, 50).await.unwrap().len(), 1);
    store.clear("counter-2").await.unwrap();
    // A lock of an address without an account is listed nowhere.
    for _ in 0..3 {
        store.reserve("counter-none", NOW, POLICY).await.unwrap();
    }
    let nobody = store.record_failure("counter-none", NOW, POLICY).await.unwrap().unwrap();
    store.mark_locked("counter-none", None, nobody.until).await.unwrap();
    assert!(store.locked_now(NOW, 50).await.unwrap().is_empty());
}

async fn jobs_are_listed_newest_first_page_by_page(backend: Backend) {
    let store = store_on(backend).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let kind = if i % 2 == 0 { JobKind::BulkRegistration } else { JobKind::Deletion };
        let job = RowJob { created_at: NOW.plus_seconds(i * 60), ..row_job(kind, 3, None) };
        assert_eq!(store.create_job(&job).await.unwrap(), JobCreated::Created);
        ids.push(job.id);
    }
    store.mark_queued(&ids[6], 3).await.unwrap();
    ids.reverse();
    let (mut seen, mut after) = (Vec::new(), None::<Cursor>);
    loop {
        let (page, next) = store.recent_jobs(after.as_ref(), 3).await.unwrap();
        assert!(page.len() <= 3);
        seen.extend(page);
        match next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.iter().map(|j| j.id.clone()).collect::<Vec<_>>(), ids);
    assert_eq!(seen[0].status, JobStatus::Queued, "a job reads as it is now");
}

/// On DynamoDB, every query of this file is a Query on an index: the adapter's requests are
/// recorded (`Meter`, the interceptor that bills them), and none is a Scan. The meter does
/// count a Scan (the last step), so the test fails when one is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_learners_locks_and_jobs_never_scans() {
    let clients = AwsClients::for_endpoint(learners_tests::moto::url()).await;
    let table = learners_tests::unique("noscan-");
    provision::create_table(&clients.dynamodb, &table).await.expect("table on moto");
    let meter = Meter::default();
    let metered =
        aws_sdk_dynamodb::Client::from_conf(clients.dynamodb.config().to_builder().interceptor(meter.clone()).build());
    let store = DynamoStore::new(metered.clone(), table.clone());
    for i in 0..5 {
        store.create_user(&learner(&format!("scan{i}@example.com"), &format!("scan{i}"), i), None).await.unwrap();
    }
    meter.take();
    let queries = [
        UserQuery { limit: 2, ..UserQuery::default() },
        UserQuery { prefix: Some("scan".into()), limit: 2, ..UserQuery::default() },
        UserQuery {
            status: Some(StatusFilter::Active),
            source: Some(UserSource::Bulk),
            limit: 50,
            ..UserQuery::default()
        },
        UserQuery {
            created_from: Some(NOW.plus_seconds(-3)),
            created_to: Some(NOW),
            limit: 50,
            ..UserQuery::default()
        },
    ];
    for query in queries {
        all_pages(&store, query).await;
    }
    store.locked_now(NOW, 50).await.unwrap();
    store.recent_jobs(None, 50).await.unwrap();
    let used = meter.take();
    assert!(used.requests > 0);
    assert_eq!(meter.scans(), 0, "a query scanned the table");
    metered.scan().table_name(&table).limit(1).send().await.unwrap();
    assert_eq!(meter.scans(), 1, "the meter sees a Scan");
}
