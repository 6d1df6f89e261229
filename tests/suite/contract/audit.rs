//! `AuditLog`: operator actions per account and across accounts, newest first.

use super::*;
use learners_tests::{on_both_backends, Backend};

on_both_backends!(
    audit_entries_are_listed_per_account_newest_first,
    the_latest_audit_entries_come_newest_first_across_accounts,
);

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

async fn the_latest_audit_entries_come_newest_first_across_accounts(backend: Backend) {
    let store = store_on(backend).await;
    let (grace, alan) = (UserId::generate(), UserId::generate());
    let day = 86_400;
    let old = AuditEntry::new(NOW.plus_seconds(-40 * day), "arn:op", "unlock", &grace, "done");
    let yesterday = AuditEntry::new(NOW.plus_seconds(-day), "arn:op", "activate", &alan, "done");
    let today = AuditEntry::new(NOW, "console:x", "set_password", &grace, "done");
    for entry in [&old, &yesterday, &today] {
        store.record(entry).await.unwrap();
    }
    let latest = store.latest(NOW, 30, 10).await.unwrap();
    assert_eq!(latest, vec![today.clone(), yesterday.clone()], "newest first, nothing older than 30 days");
    assert_eq!(store.latest(NOW, 30, 1).await.unwrap(), vec![today.clone()]);
    assert_eq!(store.latest(NOW, 1, 10).await.unwrap(), vec![today.clone()], "today only");
    assert_eq!(store.entries_for(&grace).await.unwrap(), vec![today, old]);
}
