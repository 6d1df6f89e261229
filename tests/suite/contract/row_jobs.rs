//! `RowJobs`: jobs and their idempotency keys, rows settled once, tallies, kept passwords.

use super::*;
use learners_tests::{on_both_backends, Backend};

on_both_backends!(
    a_job_is_recorded_once_per_idempotency_key_and_only_moves_forward,
    an_idempotency_key_is_free_again_once_its_job_expired,
    rows_settle_once_and_read_back_in_row_order_across_shards,
    tallies_only_grow_and_sum_up,
    a_bulk_row_creates_its_account_once_and_forgets_its_password,
    concurrent_settlements_of_one_row_settle_it_once,
    a_deletion_settles_its_job_row_in_the_same_write,
    settling_at_intake_leaves_rows_settled_before_as_they_are,
);

async fn a_job_is_recorded_once_per_idempotency_key_and_only_moves_forward(backend: Backend) {
    let store = store_on(backend).await;
    let key = unique("key-");
    let first = row_job(JobKind::BulkRegistration, 3, Some(&key));
    assert_eq!(store.create_job(&first).await.unwrap(), JobCreated::Created);
    assert_eq!(store.job(&first.id).await.unwrap(), Some(first.clone()));
    // Another job under the same key: nothing written, the first one answered.
    let second = row_job(JobKind::BulkRegistration, 3, Some(&key));
    assert_eq!(store.create_job(&second).await.unwrap(), JobCreated::Existing(first.clone()));
    assert_eq!(store.job(&second.id).await.unwrap(), None);
    // Without a key, or with another one: a job of its own.
    assert_eq!(store.create_job(&row_job(JobKind::Deletion, 1, None)).await.unwrap(), JobCreated::Created);
    let other = row_job(JobKind::Deletion, 1, Some(&unique("key-")));
    assert_eq!(store.create_job(&other).await.unwrap(), JobCreated::Created);

    // Queued with its number of rows (an uploaded file's is known once it is read).
    store.mark_queued(&first.id, 4).await.unwrap();
    let queued = store.job(&first.id).await.unwrap().unwrap();
    assert_eq!((queued.status, queued.total), (JobStatus::Queued, 4));
    let counts = Counts { done: 1, skipped: 1, failed: 1 };
    store.mark_completed(&first.id, &counts).await.unwrap();
    store.mark_queued(&first.id, 9).await.unwrap();
    let done = store.job(&first.id).await.unwrap().unwrap();
    assert_eq!((done.status, done.final_counts), (JobStatus::Completed, Some(counts)), "never back to queued");
    assert_eq!(done.total, 4, "the total is set once, by the intake");
    assert_eq!(store.job("no-such-job").await.unwrap(), None);
}

async fn an_idempotency_key_is_free_again_once_its_job_expired(backend: Backend) {
    let store = store_on(backend).await;
    let key = unique("key-");
    let old = RowJob { created_at: NOW.plus_seconds(-40 * 86_400), ..row_job(JobKind::Deletion, 1, Some(&key)) };
    assert_eq!(store.create_job(&old).await.unwrap(), JobCreated::Created);
    // 40 days later the old job and its claim are past their 30 days: the key starts a new job.
    let new = row_job(JobKind::Deletion, 1, Some(&key));
    assert_eq!(store.create_job(&new).await.unwrap(), JobCreated::Created);
    let again = row_job(JobKind::Deletion, 1, Some(&key));
    assert_eq!(store.create_job(&again).await.unwrap(), JobCreated::Existing(new));
}

async fn rows_settle_once_and_read_back_in_row_order_across_shards(backend: Backend) {
    let store = store_on(backend).await;
    // 130 rows: six blocks of 25, so every read spans several shard partitions.
    let job = row_job(JobKind::BulkRegistration, 130, None);
    store.create_job(&job).await.unwrap();
    let refused: Vec<RowOutcome> =
        (2..=131).filter(|row| row % 3 == 0).map(|row| outcome(row, RowResult::Failed, "invalid_email")).collect();
    store.settle_at_intake(&job, &refused).await.unwrap();
    store.settle_at_intake(&job, &refused).await.unwrap(); // again: nothing changes
    for row in (2..=131).filter(|row| row % 3 != 0) {
        let result = if row % 5 == 0 { RowResult::Skipped } else { RowResult::Done };
        assert!(store.settle_row(&job, &outcome(row, result, "x")).await.unwrap(), "row {row}");
    }
    assert!(!store.settle_row(&job, &outcome(4, RowResult::Failed, "late")).await.unwrap(), "settled before");

    let mut all = Vec::new();
    loop {
        let page = store.rows(&job.id, all.last().map_or(0, |r: &RowOutcome| r.row), 40).await.unwrap();
        assert!(page.len() <= 40);
        if page.is_empty() {
            break;
        }
        all.extend(page);
    }
    assert_eq!(
        all.iter().map(|r| r.row).collect::<Vec<_>>(),
        (2..=131).collect::<Vec<_>>(),
        "every row once, in order"
    );
    assert_eq!(all.iter().find(|r| r.row == 4).unwrap().code, "x", "the first settlement stays");

    let mut problems = Vec::new();
    loop {
        let page = store.problems(&job.id, problems.last().map_or(0, |r: &RowOutcome| r.row), 7).await.unwrap();
        if page.is_empty() {
            break;
        }
        problems.extend(page);
    }
    let expected: Vec<u64> = (2..=131).filter(|row| row % 3 == 0 || row % 5 == 0).collect();
    assert_eq!(problems.iter().map(|r| r.row).collect::<Vec<_>>(), expected);
    assert!(problems.iter().all(|r| r.result != RowResult::Done));

    let block = block_of(57);
    let rows: Vec<u64> = store.block_rows(&job.id, block).await.unwrap().iter().map(|r| r.row).collect();
    assert_eq!(rows, (50..=74).collect::<Vec<_>>());
    assert!(store.block_rows(&job.id, 99).await.unwrap().is_empty());
}

async fn tallies_only_grow_and_sum_up(backend: Backend) {
    let store = store_on(backend).await;
    let job = row_job(JobKind::Deletion, 60, None);
    store.create_job(&job).await.unwrap();
    assert_eq!(store.tallied(&job.id).await.unwrap(), Counts::default());
    let full = Counts { done: 20, skipped: 3, failed: 2 };
    store.record_tally(&job, 0, &Counts { done: 5, skipped: 0, failed: 0 }).await.unwrap();
    store.record_tally(&job, 0, &full).await.unwrap();
    // A late, smaller tally of the same block (a slower delivery) changes nothing.
    store.record_tally(&job, 0, &Counts { done: 6, skipped: 0, failed: 0 }).await.unwrap();
    store.record_tally(&job, 1, &Counts { done: 1, skipped: 0, failed: 4 }).await.unwrap();
    assert_eq!(store.tallied(&job.id).await.unwrap(), Counts { done: 21, skipped: 3, failed: 6 });
}

async fn a_bulk_row_creates_its_account_once_and_forgets_its_password(backend: Backend) {
    let store = store_on(backend).await;
    let job = row_job(JobKind::BulkRegistration, 3, None);
    store.create_job(&job).await.unwrap();
    let expires = NOW.plus_seconds(86_400);
    store.keep_passwords(&job.id, &[(2, "first secret".into()), (3, "second secret".into())], expires).await.unwrap();
    assert_eq!(store.kept_password(&job.id, 2, NOW).await.unwrap().as_deref(), Some("first secret"));
    assert_eq!(store.kept_password(&job.id, 3, expires).await.unwrap(), None, "expired");

    let tag = unique("bulk");
    let ada = user(&format!("{tag}@example.org"), &tag);
    let mut created = outcome(2, RowResult::Done, "created");
    created.user_id = Some(ada.id.clone());
    let audit = AuditEntry::new(NOW, &job.operator, "bulk_register", &ada.id, "row 2");
    assert_eq!(store.create_bulk_user(&job, &ada, &created, &audit).await.unwrap(), BulkCreate::Created);
    assert_eq!(store.kept_password(&job.id, 2, NOW).await.unwrap(), None, "forgotten with the row");
    assert_eq!(store.user_by_email_key(&ada.email.key()).await.unwrap().map(|u| u.id), Some(ada.id.clone()));
    assert_eq!(store.entries_for(&ada.id).await.unwrap(), vec![audit.clone()]);
    // The same row again (a redelivery): nothing new.
    let again = user(&format!("{tag}-2@example.org"), &format!("{tag}2"));
    assert_eq!(store.create_bulk_user(&job, &again, &created, &audit).await.unwrap(), BulkCreate::AlreadySettled);
    assert!(store.user_by_email_key(&again.email.key()).await.unwrap().is_none());
    // Another row whose email is taken: refused, nothing settled.
    let twin = user(&format!("{tag}@example.org"), &format!("{tag}3"));
    let row3 = outcome(3, RowResult::Done, "created");
    let taken = store.create_bulk_user(&job, &twin, &row3, &audit).await.unwrap();
    assert_eq!(taken, BulkCreate::Taken { email_taken: true, username_taken: false });
    assert_eq!(store.block_rows(&job.id, 0).await.unwrap().iter().map(|r| r.row).collect::<Vec<_>>(), vec![2]);
    // The account's rows, through its references (its "Download my data").
    assert_eq!(store.rows_of_user(&ada.id).await.unwrap(), vec![(job.id.clone(), created.clone())]);
    assert!(store.rows_of_user(&twin.id).await.unwrap().is_empty());
}

async fn concurrent_settlements_of_one_row_settle_it_once(backend: Backend) {
    let store = store_on(backend).await;
    let job = row_job(JobKind::BulkRegistration, 1, None);
    store.create_job(&job).await.unwrap();
    let tasks = (0..8).map(|i| {
        let (store, job) = (store.clone(), job.clone());
        tokio::spawn(async move {
            store.settle_row(&job, &outcome(2, RowResult::Failed, &format!("try{i}"))).await.unwrap()
        })
    });
    assert_eq!(futures_count(tasks).await, 1);
    assert_eq!(store.rows(&job.id, 0, 10).await.unwrap().len(), 1);
}

async fn a_deletion_settles_its_job_row_in_the_same_write(backend: Backend) {
    let store = store_on(backend).await;
    let job = row_job(JobKind::Deletion, 1, None);
    store.create_job(&job).await.unwrap();
    let tag = unique("del");
    let ada = user(&format!("{tag}@example.org"), &tag);
    store.create_user(&ada, None).await.unwrap();
    let retirement = Retirement {
        email_hmac: email_hmac("k", &ada.email),
        user_id: ada.id.clone(),
        retired_at: NOW,
        requested_by: "op".into(),
    };
    let row = RowOutcome::new(1, "", RowResult::Done, "deleted", "");
    let request = DeleteRequest {
        user: &ada,
        counter_key: "counter",
        retirement: &retirement,
        job_row: Some((&job, &row)),
        audit: None,
    };
    assert_eq!(store.delete_user(&request).await.unwrap(), Deleted::Deleted);
    assert_eq!(store.rows(&job.id, 0, 10).await.unwrap(), vec![row.clone()]);
    // Delivered again: the row is settled, nothing else happens.
    assert_eq!(store.delete_user(&request).await.unwrap(), Deleted::AlreadySettled);
}

/// An intake tried again after its messages went out and were worked leaves the rows the
/// workers settled as they are (and their problem copies): `settle_at_intake` writes a row
/// only if it is not settled yet, on DynamoDB by a condition on each put.
async fn settling_at_intake_leaves_rows_settled_before_as_they_are(backend: Backend) {
    let store = store_on(backend).await;
    let job = row_job(JobKind::BulkRegistration, 3, None);
    store.create_job(&job).await.unwrap();
    let (created, skipped) =
        (outcome(2, RowResult::Done, "created"), outcome(3, RowResult::Skipped, "already_registered"));
    assert!(store.settle_row(&job, &created).await.unwrap());
    assert!(store.settle_row(&job, &skipped).await.unwrap());
    let refused = [
        outcome(2, RowResult::Failed, "invalid_email"),
        outcome(3, RowResult::Failed, "duplicate_in_file"),
        outcome(4, RowResult::Failed, "invalid_email"),
    ];
    store.settle_at_intake(&job, &refused).await.unwrap();
    let rows = store.rows(&job.id, 0, 10).await.unwrap();
    assert_eq!(rows, vec![created, skipped.clone(), refused[2].clone()], "only the new row was written");
    let problems = store.problems(&job.id, 0, 10).await.unwrap();
    assert_eq!(problems, vec![skipped, refused[2].clone()], "no problem copy of a row settled as created");
}
