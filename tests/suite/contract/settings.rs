//! `SettingsStore` (issue 25): the settings in force replaced on the version read only (a
//! conflicting save changes nothing), every version kept for "Restore", the audit entry in the
//! same write; and `UserStore::set_support`, held by active operators only.

use super::*;
use learners::domain::settings::audit_subject;
use learners::domain::{Settings, StoredSettings};
use learners_tests::{on_both_backends, Backend};
use std::collections::BTreeMap;

on_both_backends!(
    settings_are_replaced_on_the_version_read_only,
    concurrent_saves_of_one_version_write_one,
    the_support_role_is_held_by_active_operators_only
);

fn settings(failures: u32, colour: &str) -> Settings {
    let config = learners_tests::config("unused", &[]);
    let (app, _parts) = learners::wiring::in_memory(config, Arc::new(learners::adapters::clock::ManualClock::new()));
    let changes = BTreeMap::from([
        ("max_failed_logins".to_owned(), failures.to_string()),
        ("brand_color".to_owned(), colour.to_owned()),
    ]);
    app.settings.defaults().with_values(&changes).unwrap()
}

fn version(version: u64, failures: u32, who: &str) -> StoredSettings {
    StoredSettings {
        version,
        settings: settings(failures, "#1d4ed8"),
        saved_by: who.to_owned(),
        saved_at: NOW.plus_seconds(version as i64),
    }
}

fn entry(version: u64, who: &str) -> AuditEntry {
    AuditEntry::new(NOW.plus_seconds(version as i64), who, "change_settings", &audit_subject(), format!("v{version}"))
}

async fn settings_are_replaced_on_the_version_read_only(backend: Backend) {
    let store = store_on(backend).await;
    assert_eq!(store.current_settings().await.unwrap(), None, "none saved: the stack's parameters");
    assert!(store.settings_history(10).await.unwrap().is_empty());
    let first = version(1, 3, "ann");
    assert!(store.save_settings(&first, &entry(1, "ann")).await.unwrap());
    assert!(!store.save_settings(&first, &entry(1, "ann-again")).await.unwrap(), "version 1 again: refused");
    assert_eq!(store.current_settings().await.unwrap(), Some(first.clone()));
    // Two people read version 1 and save: the first wins; the second changes nothing (its
    // audit entry is not written either).
    let ann = version(2, 4, "ann");
    let bob = StoredSettings { settings: settings(9, "#000000"), ..version(2, 9, "bob") };
    assert!(store.save_settings(&ann, &entry(2, "ann")).await.unwrap());
    assert!(!store.save_settings(&bob, &entry(2, "bob")).await.unwrap(), "a conflicting save");
    assert_eq!(store.current_settings().await.unwrap(), Some(ann.clone()));
    assert!(!store.save_settings(&version(4, 5, "cy"), &entry(4, "cy")).await.unwrap(), "a version skipped");
    // Every version kept, newest first; one by number.
    let history = store.settings_history(10).await.unwrap();
    assert_eq!(history, vec![ann.clone(), first.clone()]);
    assert_eq!(store.settings_history(1).await.unwrap(), vec![ann]);
    assert_eq!(store.settings_version(1).await.unwrap(), Some(first));
    assert_eq!(store.settings_version(7).await.unwrap(), None);
    let audited: Vec<String> =
        store.entries_for(&audit_subject()).await.unwrap().into_iter().map(|e| e.operator).collect();
    assert_eq!(audited, ["ann", "ann"], "one entry per save that happened, newest first");
}

async fn concurrent_saves_of_one_version_write_one(backend: Backend) {
    let store = store_on(backend).await;
    let saves = (0..6u32).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let who = format!("person-{i}");
            store.save_settings(&version(1, i + 1, &who), &entry(1, &who)).await.unwrap()
        })
    });
    let won: usize = futures::future::join_all(saves).await.into_iter().map(|r| usize::from(r.unwrap())).sum();
    assert_eq!(won, 1, "exactly one save of version 1");
    assert_eq!(store.settings_history(10).await.unwrap().len(), 1);
    assert_eq!(store.entries_for(&audit_subject()).await.unwrap().len(), 1);
}

async fn the_support_role_is_held_by_active_operators_only(backend: Backend) {
    let store = store_on(backend).await;
    let ada = User { status: UserStatus::Active, activated_at: Some(NOW), ..user("ada@example.com", "ada") };
    store.create_user(&ada, None).await.unwrap();
    assert!(!store.set_support(&ada.id, true).await.unwrap(), "not an operator yet");
    assert!(!store.user_by_id(&ada.id).await.unwrap().unwrap().support);
    assert!(store.set_operator(&ada.id, true).await.unwrap());
    assert!(store.set_support(&ada.id, true).await.unwrap());
    let read = store.user_by_id(&ada.id).await.unwrap().unwrap();
    assert!(read.operator && read.support, "stored as attribute support");
    assert!(store.set_support(&ada.id, false).await.unwrap());
    assert!(!store.user_by_id(&ada.id).await.unwrap().unwrap().support);
    // Revoking the operator role takes support with it.
    assert!(store.set_support(&ada.id, true).await.unwrap());
    assert!(store.set_operator(&ada.id, false).await.unwrap());
    let read = store.user_by_id(&ada.id).await.unwrap().unwrap();
    assert!(!read.operator && !read.support);
    assert!(!store.set_support(&UserId::generate(), true).await.unwrap(), "no such user");
}
