//! One contract, two adapters: every test here runs against the in-memory store and against
//! DynamoDB on moto, and both must behave the same (atomicity and uniqueness included).
//! `COVERAGE`, at the end, names the tests that pin each port method; a test holds it to
//! `shared/src/ports.rs`, so a new port method fails the suite until it has a test.

use learners::adapters::aws::{provision, AwsClients, DynamoStore};
use learners::adapters::memory::MemoryStore;
use learners::domain::{block_of, Counts, Idempotency, JobKind, JobStatus, RowJob, RowOutcome, RowResult};
use learners::domain::{
    email_hmac, AuditEntry, DeviceRecord, LockoutPolicy, LockoutState, MailRefusal, MailRefusalKind, PasswordHash,
    Reservation, Retirement, SessionRecord, Timestamp, Token, TokenHash, TokenPurpose, TokenRecord, User, UserId,
    UserStatus, OPERATOR_IDLE_SECONDS,
};
use learners::ports::{
    AuditLog, BulkCreate, CreateUserError, DeleteRequest, Deleted, JobCreated, LoginAttempts, RowJobs, SessionStore,
    TokenUse, UserStore,
};
use learners_tests::{moto, unique};
use std::sync::Arc;

/// Every store port: both adapters implement them all on one table (or one lock).
trait Store: UserStore + SessionStore + AuditLog + LoginAttempts + RowJobs {}
impl<T: UserStore + SessionStore + AuditLog + LoginAttempts + RowJobs> Store for T {}

async fn memory_store() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

async fn dynamo_store() -> Arc<dyn Store> {
    let clients = AwsClients::for_endpoint(moto::url()).await;
    let table = unique("contract-");
    provision::create_table(&clients.dynamodb, &table).await.expect("table on moto");
    Arc::new(DynamoStore::new(clients.dynamodb, table))
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn memory() {
                super::$name(super::memory_store().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn dynamodb() {
                super::$name(super::dynamo_store().await).await
            }
        }
    )*};
}

contract!(
    a_job_is_recorded_once_per_idempotency_key_and_only_moves_forward,
    an_idempotency_key_is_free_again_once_its_job_expired,
    rows_settle_once_and_read_back_in_row_order_across_shards,
    tallies_only_grow_and_sum_up,
    a_bulk_row_creates_its_account_once_and_forgets_its_password,
    concurrent_settlements_of_one_row_settle_it_once,
    a_deletion_settles_its_job_row_in_the_same_write,
    created_users_read_back,
    email_and_username_are_unique_case_insensitively,
    a_refused_user_leaves_nothing_behind,
    concurrent_creations_of_one_email_store_one_user,
    an_activation_token_is_consumed_once_under_concurrency,
    expired_and_unknown_tokens_activate_nothing,
    quotas_allow_their_limit_per_window,
    sessions_are_stored_read_until_expiry_and_deleted,
    removal_requests_raise_the_auth_epoch,
    the_operator_role_is_granted_listed_and_revoked,
    operator_sessions_end_when_idle_and_record_the_password,
    the_latest_audit_entries_come_newest_first_across_accounts,
    devices_are_remembered_listed_and_expire,
    a_refusal_of_mail_is_recorded_on_the_account,
    reservations_stop_at_the_limit_and_one_failure_locks,
    a_lock_ends_by_itself_and_clear_forgets,
    concurrent_reservations_grant_exactly_the_limit,
    emailed_tokens_are_stored_and_read_back_used_or_not,
    a_new_activation_token_ends_the_older_ones,
    concurrent_new_activation_tokens_replace_once,
    a_reset_link_sets_the_password_once,
    a_reset_link_is_used_once_under_concurrency,
    an_operator_sets_a_password_and_ends_every_session,
    an_operator_activates_an_account_once_and_for_all,
    a_deleted_account_leaves_only_its_retirement_record,
    concurrent_deletions_of_one_account_delete_it_once,
    quotas_report_their_uses_in_the_current_window,
    audit_entries_are_listed_per_account_newest_first,
);

const NOW: Timestamp = Timestamp::from_unix(1_800_000_000);

fn user(email: &str, username: &str) -> User {
    User { created_at: NOW, terms_accepted_at: Some(NOW), ..learners_tests::stored_user(email, username) }
}

fn activation_token(user: &User, ttl: i64) -> (Token, TokenRecord) {
    let token = Token::generate();
    let record = TokenRecord::new(&token, TokenPurpose::Activation, user, NOW, ttl);
    (token, record)
}

async fn sessions_are_stored_read_until_expiry_and_deleted(store: Arc<dyn Store>) {
    let sessions = store;
    let grace = user("grace@example.com", "grace");
    let token = Token::generate();
    let session = SessionRecord {
        hash: token.hash(),
        user_id: grace.id.clone(),
        auth_epoch: 2,
        created_at: NOW,
        expires_at: NOW.plus_seconds(60),
        operator: false,
        last_seen_at: NOW,
        password_at: NOW,
    };
    sessions.create_session(&session).await.unwrap();
    assert_eq!(sessions.session(&token.hash(), NOW.plus_seconds(59)).await.unwrap(), Some(session.clone()));
    assert_eq!(sessions.session(&token.hash(), NOW.plus_seconds(60)).await.unwrap(), None, "expired");
    assert_eq!(sessions.session(&Token::generate().hash(), NOW).await.unwrap(), None);
    // Deleting one session (signing out) leaves the account's other sessions; twice is fine.
    let other = Token::generate();
    sessions.create_session(&SessionRecord { hash: other.hash(), ..session.clone() }).await.unwrap();
    sessions.delete_session(&token.hash()).await.unwrap();
    assert_eq!(sessions.session(&token.hash(), NOW).await.unwrap(), None);
    sessions.delete_session(&token.hash()).await.unwrap();
    assert_eq!(
        sessions.session(&other.hash(), NOW).await.unwrap(),
        Some(SessionRecord { hash: other.hash(), ..session })
    );
}

async fn the_operator_role_is_granted_listed_and_revoked(store: Arc<dyn Store>) {
    let grace = user("grace@example.com", "grace");
    let alan = user("alan@example.com", "alan");
    store.create_user(&grace, None).await.unwrap();
    store.create_user(&alan, None).await.unwrap();
    assert!(store.operators().await.unwrap().is_empty());
    assert!(store.set_operator(&grace.id, true).await.unwrap());
    assert!(store.set_operator(&grace.id, true).await.unwrap(), "granting twice is fine");
    let stored = store.user_by_id(&grace.id).await.unwrap().unwrap();
    assert!(stored.operator);
    assert!(!store.user_by_id(&alan.id).await.unwrap().unwrap().operator);
    let listed: Vec<UserId> = store.operators().await.unwrap().into_iter().map(|u| u.id).collect();
    assert_eq!(listed, vec![grace.id.clone()]);
    assert!(store.set_operator(&grace.id, false).await.unwrap());
    assert!(!store.user_by_id(&grace.id).await.unwrap().unwrap().operator);
    assert!(store.operators().await.unwrap().is_empty());
    assert!(!store.set_operator(&UserId::generate(), true).await.unwrap(), "no such user");
    assert!(store.request_removal(&alan.id).await.unwrap());
    assert!(!store.set_operator(&alan.id, true).await.unwrap(), "an account being removed");
    assert!(store.operators().await.unwrap().is_empty());
}

async fn operator_sessions_end_when_idle_and_record_the_password(store: Arc<dyn Store>) {
    let grace = user("grace@example.com", "grace");
    let token = Token::generate();
    let session = SessionRecord {
        hash: token.hash(),
        user_id: grace.id.clone(),
        auth_epoch: 0,
        created_at: NOW,
        expires_at: NOW.plus_seconds(28_800),
        operator: true,
        last_seen_at: NOW,
        password_at: NOW,
    };
    store.create_session(&session).await.unwrap();
    let later = NOW.plus_seconds(OPERATOR_IDLE_SECONDS - 1);
    store.touch_session(&token.hash(), later, NOW.plus_seconds(10)).await.unwrap();
    let read = store.session(&token.hash(), later).await.unwrap().expect("still live");
    assert_eq!((read.last_seen_at, read.password_at, read.operator), (later, NOW.plus_seconds(10), true));
    assert!(read.password_is_recent(NOW.plus_seconds(300)));
    assert!(!read.password_is_recent(NOW.plus_seconds(310)));
    // Idle from the last request on, not from the start.
    assert!(store.session(&token.hash(), later.plus_seconds(OPERATOR_IDLE_SECONDS - 1)).await.unwrap().is_some());
    assert_eq!(store.session(&token.hash(), later.plus_seconds(OPERATOR_IDLE_SECONDS)).await.unwrap(), None);
    // Touching a session that is gone changes nothing and fails nothing.
    store.delete_session(&token.hash()).await.unwrap();
    store.touch_session(&token.hash(), later, later).await.unwrap();
    assert_eq!(store.session(&token.hash(), later).await.unwrap(), None);
}

async fn the_latest_audit_entries_come_newest_first_across_accounts(store: Arc<dyn Store>) {
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

async fn devices_are_remembered_listed_and_expire(store: Arc<dyn Store>) {
    use learners::domain::DeviceRecord;
    let grace = user("grace@example.com", "grace");
    let alan = user("alan@example.com", "alan");
    let (first, second, other) = (Token::generate(), Token::generate(), Token::generate());
    for (token, owner, ttl) in [(&first, &grace, 60), (&second, &grace, 120), (&other, &alan, 60)] {
        let device = DeviceRecord {
            hash: token.hash(),
            user_id: owner.id.clone(),
            created_at: NOW,
            expires_at: NOW.plus_seconds(ttl),
        };
        store.create_device(&device).await.unwrap();
    }
    let read = store.device(&first.hash(), NOW).await.unwrap().expect("a known device");
    assert_eq!(read.user_id, grace.id);
    assert_eq!(store.device(&first.hash(), NOW.plus_seconds(60)).await.unwrap(), None, "expired");
    let mut expected = vec![first.hash(), second.hash()];
    expected.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(store.known_devices(&grace.id, NOW).await.unwrap(), expected);
    assert_eq!(store.known_devices(&grace.id, NOW.plus_seconds(60)).await.unwrap(), vec![second.hash()]);
    assert_eq!(store.known_devices(&alan.id, NOW).await.unwrap(), vec![other.hash()]);
}

async fn removal_requests_raise_the_auth_epoch(store: Arc<dyn Store>) {
    let grace = user("grace@example.com", "grace");
    store.create_user(&grace, None).await.unwrap();
    assert!(store.request_removal(&grace.id).await.unwrap());
    let stored = store.user_by_id(&grace.id).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.auth_epoch), (UserStatus::RemovalRequested, 1));
    assert!(!store.request_removal(&UserId::generate()).await.unwrap());
}

async fn a_refusal_of_mail_is_recorded_on_the_account(store: Arc<dyn Store>) {
    let grace = user("grace@example.com", "grace");
    store.create_user(&grace, None).await.unwrap();
    assert!(grace.mailable());
    let bounce = MailRefusal { kind: MailRefusalKind::Bounce, address: "grace@example.com".into(), at: NOW };
    assert!(store.mark_mail_refused(&grace.id, &bounce).await.unwrap());
    let stored = store.user_by_email_key("grace@example.com").await.unwrap().unwrap();
    assert_eq!(stored.mail_refused.as_ref(), Some(&bounce));
    assert!(!stored.mailable());
    // The latest report wins; the rest of the account is untouched.
    let complaint =
        MailRefusal { kind: MailRefusalKind::Complaint, address: "grace@example.com".into(), at: NOW.plus_seconds(5) };
    assert!(store.mark_mail_refused(&grace.id, &complaint).await.unwrap());
    let stored = store.user_by_id(&grace.id).await.unwrap().unwrap();
    assert_eq!(stored, User { mail_refused: Some(complaint), ..grace });
    assert!(!store.mark_mail_refused(&UserId::generate(), &bounce).await.unwrap());
}

async fn created_users_read_back(store: Arc<dyn Store>) {
    let grace = user("Grace@Example.com", "Grace_H");
    store.create_user(&grace, None).await.unwrap();
    assert_eq!(store.user_by_email_key("grace@example.com").await.unwrap(), Some(grace.clone()));
    assert_eq!(store.user_by_id(&grace.id).await.unwrap(), Some(grace));
    assert_eq!(store.user_by_email_key("other@example.com").await.unwrap(), None);
    assert_eq!(store.user_by_id(&UserId::generate()).await.unwrap(), None);
}

async fn email_and_username_are_unique_case_insensitively(store: Arc<dyn Store>) {
    assert!(!store.username_taken("grace").await.unwrap());
    store.create_user(&user("grace@example.com", "grace"), None).await.unwrap();
    assert!(store.username_taken("grace").await.unwrap());
    assert!(!store.username_taken("other").await.unwrap());
    let same_email = store.create_user(&user("GRACE@example.COM", "other"), None).await;
    assert!(
        matches!(same_email, Err(CreateUserError::Taken { email_taken: true, username_taken: false })),
        "{same_email:?}"
    );
    let same_username = store.create_user(&user("other@example.com", "GRACE"), None).await;
    assert!(
        matches!(same_username, Err(CreateUserError::Taken { email_taken: false, username_taken: true })),
        "{same_username:?}"
    );
    let both = store.create_user(&user("Grace@example.com", "Grace"), None).await;
    assert!(matches!(both, Err(CreateUserError::Taken { email_taken: true, username_taken: true })), "{both:?}");
}

async fn a_refused_user_leaves_nothing_behind(store: Arc<dyn Store>) {
    store.create_user(&user("grace@example.com", "grace"), None).await.unwrap();
    let refused = user("grace@example.com", "newname");
    let (token, record) = activation_token(&refused, 3600);
    assert!(store.create_user(&refused, Some(&record)).await.is_err());
    // Neither the username claim, the user nor the token of the refused write exists.
    assert!(store.user_by_id(&refused.id).await.unwrap().is_none());
    assert_eq!(store.consume_activation_token(&token.hash(), NOW).await.unwrap(), TokenUse::Unknown);
    store.create_user(&user("new@example.com", "newname"), None).await.expect("the username is still free");
}

async fn concurrent_creations_of_one_email_store_one_user(store: Arc<dyn Store>) {
    let attempts = (0..20).map(|i| {
        let store = store.clone();
        let email = if i % 2 == 0 { "Race@Example.com" } else { "race@example.com" };
        let candidate = user(email, &format!("racer{i}"));
        tokio::spawn(async move { store.create_user(&candidate, None).await.is_ok() })
    });
    let wins = futures_count(attempts).await;
    assert_eq!(wins, 1);
    assert!(store.user_by_email_key("race@example.com").await.unwrap().is_some());
}

async fn futures_count(tasks: impl Iterator<Item = tokio::task::JoinHandle<bool>>) -> usize {
    let mut count = 0;
    for task in tasks.collect::<Vec<_>>() {
        count += usize::from(task.await.unwrap());
    }
    count
}

async fn an_activation_token_is_consumed_once_under_concurrency(store: Arc<dyn Store>) {
    let grace = user("grace@example.com", "grace");
    let (token, record) = activation_token(&grace, 3600);
    store.create_user(&grace, Some(&record)).await.unwrap();
    let uses = (0..10).map(|_| {
        let store = store.clone();
        let hash = token.hash();
        tokio::spawn(async move {
            matches!(store.consume_activation_token(&hash, NOW).await.unwrap(), TokenUse::Consumed(_))
        })
    });
    assert_eq!(futures_count(uses).await, 1);
    let stored = store.user_by_id(&grace.id).await.unwrap().unwrap();
    assert_eq!(stored.status, UserStatus::Active);
    assert_eq!(stored.activated_at, Some(NOW));
    assert!(matches!(store.consume_activation_token(&token.hash(), NOW).await.unwrap(), TokenUse::AlreadyUsed(_)));
}

async fn expired_and_unknown_tokens_activate_nothing(store: Arc<dyn Store>) {
    let grace = user("grace@example.com", "grace");
    let (token, record) = activation_token(&grace, 60);
    store.create_user(&grace, Some(&record)).await.unwrap();
    // Valid through its last second, expired the second after.
    let last_second = NOW.plus_seconds(60);
    let after = NOW.plus_seconds(61);
    assert!(matches!(store.consume_activation_token(&token.hash(), after).await.unwrap(), TokenUse::Expired(_)));
    assert_eq!(store.user_by_id(&grace.id).await.unwrap().unwrap().status, UserStatus::PendingActivation);
    assert_eq!(store.consume_activation_token(&Token::generate().hash(), NOW).await.unwrap(), TokenUse::Unknown);
    assert!(matches!(store.consume_activation_token(&token.hash(), last_second).await.unwrap(), TokenUse::Consumed(_)));
}

async fn quotas_allow_their_limit_per_window(store: Arc<dyn Store>) {
    let claims = (0..10).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.take_quota("mail#1", NOW, 60, 1).await.unwrap() })
    });
    assert_eq!(futures_count(claims).await, 1);
    assert!(!store.take_quota("mail#1", NOW.plus_seconds(59), 60, 1).await.unwrap());
    assert!(store.take_quota("mail#1", NOW.plus_seconds(60), 60, 1).await.unwrap());
    assert!(store.take_quota("mail#2", NOW, 60, 1).await.unwrap());
    // A limit of two: two uses per window, and the window starts with the first use.
    assert!(store.take_quota("reset#1", NOW, 3600, 2).await.unwrap());
    assert!(store.take_quota("reset#1", NOW.plus_seconds(10), 3600, 2).await.unwrap());
    assert!(!store.take_quota("reset#1", NOW.plus_seconds(3599), 3600, 2).await.unwrap());
    assert!(store.take_quota("reset#1", NOW.plus_seconds(3600), 3600, 2).await.unwrap());
}

/// A stored password hash; the store keeps it as given (hashing is the `Passwords` port's).
fn password_hash(label: &str) -> PasswordHash {
    PasswordHash::from_phc(format!("$argon2id$v=19$m=19456,t=2,p=1$test${label}"))
}

fn reset_token(user: &User, ttl: i64) -> TokenRecord {
    TokenRecord::mint(TokenPurpose::PasswordReset, user, NOW, ttl).1
}

async fn emailed_tokens_are_stored_and_read_back_used_or_not(store: Arc<dyn Store>) {
    let grace = user("grace@example.com", "grace");
    let (activation, first) = activation_token(&grace, 3600);
    store.create_user(&grace, Some(&first)).await.unwrap();
    assert_eq!(store.token(&first.hash).await.unwrap(), Some(first.clone()), "stored with the account");
    let reset = reset_token(&grace, 60);
    store.put_token(&reset).await.unwrap();
    assert_eq!(store.token(&reset.hash).await.unwrap(), Some(reset.clone()));
    assert_eq!(store.token(&Token::generate().hash()).await.unwrap(), None);
    // A hash is stored once: another record under it is refused, and the first stays as it was.
    let clash = TokenRecord { user_id: UserId::generate(), purpose: TokenPurpose::Activation, ..reset.clone() };
    assert!(store.put_token(&clash).await.is_err());
    assert_eq!(store.token(&reset.hash).await.unwrap(), Some(reset.clone()));
    // A reset token activates nothing.
    assert_eq!(store.consume_activation_token(&reset.hash, NOW).await.unwrap(), TokenUse::Unknown);
    // Read as stored: a used token is still there, saying when it was used.
    let at = NOW.plus_seconds(5);
    assert!(matches!(store.consume_activation_token(&activation.hash(), at).await.unwrap(), TokenUse::Consumed(_)));
    assert_eq!(store.token(&first.hash).await.unwrap(), Some(TokenRecord { used_at: Some(at), ..first }));
}

async fn a_new_activation_token_ends_the_older_ones(store: Arc<dyn Store>) {
    let grace = user("grace@example.com", "grace");
    let (first, first_record) = activation_token(&grace, 3600);
    store.create_user(&grace, Some(&first_record)).await.unwrap();
    let next = User { auth_epoch: 1, ..grace.clone() };
    let (second, second_record) = activation_token(&next, 3600);
    assert!(store.replace_activation_token(&second_record).await.unwrap());
    assert_eq!(store.user_by_id(&grace.id).await.unwrap(), Some(next.clone()), "only the epoch changed");
    assert_eq!(store.token(&second_record.hash).await.unwrap(), Some(second_record));
    // Only a token of the very next epoch replaces: not an older one, not one of the current
    // epoch, not one that skips an epoch. A refused token is not stored.
    for epoch in [0, 1, 3] {
        let (_, record) = activation_token(&User { auth_epoch: epoch, ..grace.clone() }, 3600);
        assert!(!store.replace_activation_token(&record).await.unwrap(), "a token of epoch {epoch}");
        assert_eq!(store.token(&record.hash).await.unwrap(), None, "a refused token of epoch {epoch}");
    }
    assert_eq!(store.user_by_id(&grace.id).await.unwrap(), Some(next));
    // The older link activates nothing; the newer one does.
    assert_eq!(store.consume_activation_token(&first.hash(), NOW).await.unwrap(), TokenUse::Unknown);
    assert_eq!(store.user_by_id(&grace.id).await.unwrap().unwrap().status, UserStatus::PendingActivation);
    assert!(matches!(store.consume_activation_token(&second.hash(), NOW).await.unwrap(), TokenUse::Consumed(_)));
    // An active account gets no new link.
    let (_, late) = activation_token(&User { auth_epoch: 2, ..grace.clone() }, 3600);
    assert!(!store.replace_activation_token(&late).await.unwrap(), "not pending any more");
    assert_eq!(store.token(&late.hash).await.unwrap(), None);
    // A fresh account (epoch 0) has no epoch before it: a token of its current epoch is no newer link.
    let alan = user("alan@example.com", "alan");
    store.create_user(&alan, None).await.unwrap();
    let (_, same_epoch) = activation_token(&alan, 3600);
    assert!(!store.replace_activation_token(&same_epoch).await.unwrap(), "a token of the current epoch 0");
    assert_eq!(store.token(&same_epoch.hash).await.unwrap(), None);
    // No new link for an account that does not exist, or is being removed.
    let ghost = User { auth_epoch: 1, ..user("ghost@example.com", "ghost") };
    assert!(!store.replace_activation_token(&activation_token(&ghost, 3600).1).await.unwrap(), "no such user");
    assert!(store.request_removal(&alan.id).await.unwrap());
    let (_, record) = activation_token(&User { auth_epoch: 2, ..alan.clone() }, 3600);
    assert!(!store.replace_activation_token(&record).await.unwrap(), "being removed");
    assert_eq!(store.user_by_id(&alan.id).await.unwrap().unwrap().auth_epoch, 1);
}

async fn concurrent_new_activation_tokens_replace_once(store: Arc<dyn Store>) {
    let grace = user("grace@example.com", "grace");
    store.create_user(&grace, None).await.unwrap();
    let next = User { auth_epoch: 1, ..grace.clone() };
    let records: Vec<TokenRecord> = (0..10).map(|_| activation_token(&next, 3600).1).collect();
    let tasks = records.clone().into_iter().map(|record| {
        let store = store.clone();
        tokio::spawn(async move { store.replace_activation_token(&record).await.unwrap() })
    });
    assert_eq!(futures_count(tasks).await, 1);
    let mut stored = 0;
    for record in &records {
        stored += usize::from(store.token(&record.hash).await.unwrap().is_some());
    }
    assert_eq!(stored, 1, "only the winner's token is stored");
    assert_eq!(store.user_by_id(&grace.id).await.unwrap().unwrap().auth_epoch, 1);
}

async fn a_reset_link_sets_the_password_once(store: Arc<dyn Store>) {
    let grace = user("grace@example.com", "grace");
    store.create_user(&grace, None).await.unwrap();
    let (link, sent_before) = (reset_token(&grace, 3600), reset_token(&grace, 3600));
    store.put_token(&link).await.unwrap();
    store.put_token(&sent_before).await.unwrap();
    let at = NOW.plus_seconds(10);
    assert!(store.complete_password_reset(&link, &password_hash("first"), at).await.unwrap());
    let stored = store.user_by_id(&grace.id).await.unwrap().unwrap();
    let expected = User {
        password_hash: Some(password_hash("first")),
        auth_epoch: 1,
        status: UserStatus::Active,
        activated_at: Some(at),
        ..grace.clone()
    };
    assert_eq!(stored, expected, "password set, sessions ended, pending account activated");
    assert_eq!(store.token(&link.hash).await.unwrap().unwrap().used_at, Some(at));
    // Used once; and every other link of the older epoch ended with it.
    assert!(!store.complete_password_reset(&link, &password_hash("second"), at).await.unwrap(), "used");
    assert!(!store.complete_password_reset(&sent_before, &password_hash("second"), at).await.unwrap(), "old epoch");
    assert_eq!(store.token(&sent_before.hash).await.unwrap().unwrap().used_at, None, "a refusal uses nothing");
    assert_eq!(store.user_by_id(&grace.id).await.unwrap().unwrap(), stored);

    // Valid through its last second, expired the second after; an active account stays
    // active since it first was.
    let short = reset_token(&stored, 60);
    store.put_token(&short).await.unwrap();
    assert!(!store.complete_password_reset(&short, &password_hash("late"), NOW.plus_seconds(61)).await.unwrap());
    assert_eq!(store.user_by_id(&grace.id).await.unwrap().unwrap(), stored, "an expired link changes nothing");
    assert!(store.complete_password_reset(&short, &password_hash("third"), NOW.plus_seconds(60)).await.unwrap());
    let stored = store.user_by_id(&grace.id).await.unwrap().unwrap();
    assert_eq!(stored, User { password_hash: Some(password_hash("third")), auth_epoch: 2, ..expected });

    // Not an activation token, not a token never stored, not after a password change by an
    // operator (the epoch moved), not for an account being removed or gone.
    let (_, activation) = activation_token(&stored, 3600);
    store.put_token(&activation).await.unwrap();
    assert!(!store.complete_password_reset(&activation, &password_hash("x"), NOW).await.unwrap(), "activation");
    assert!(!store.complete_password_reset(&reset_token(&stored, 60), &password_hash("x"), NOW).await.unwrap());
    let before_change = reset_token(&stored, 3600);
    store.put_token(&before_change).await.unwrap();
    assert!(store.set_password(&grace.id, &password_hash("operator's")).await.unwrap());
    assert!(!store.complete_password_reset(&before_change, &password_hash("x"), NOW).await.unwrap(), "epoch moved");
    assert!(store.request_removal(&grace.id).await.unwrap());
    let removing = store.user_by_id(&grace.id).await.unwrap().unwrap();
    let after_request = reset_token(&removing, 3600);
    store.put_token(&after_request).await.unwrap();
    assert!(!store.complete_password_reset(&after_request, &password_hash("x"), NOW).await.unwrap(), "removal");
    assert_eq!(store.user_by_id(&grace.id).await.unwrap().unwrap(), removing);
    let ghost = user("ghost@example.com", "ghost");
    let orphan = reset_token(&ghost, 3600);
    store.put_token(&orphan).await.unwrap();
    assert!(!store.complete_password_reset(&orphan, &password_hash("x"), NOW).await.unwrap(), "no such user");
}

async fn a_reset_link_is_used_once_under_concurrency(store: Arc<dyn Store>) {
    let grace = user("grace@example.com", "grace");
    store.create_user(&grace, None).await.unwrap();
    let link = reset_token(&grace, 3600);
    store.put_token(&link).await.unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let (store, link) = (store.clone(), link.clone());
            tokio::spawn(async move {
                let won = store.complete_password_reset(&link, &password_hash(&i.to_string()), NOW).await.unwrap();
                won.then_some(i)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        winners.extend(task.await.unwrap());
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let stored = store.user_by_id(&grace.id).await.unwrap().unwrap();
    assert_eq!(stored.password_hash, Some(password_hash(&winners[0].to_string())), "the winner's password");
    assert_eq!(stored.auth_epoch, 1, "raised once");
}

async fn an_operator_sets_a_password_and_ends_every_session(store: Arc<dyn Store>) {
    let grace = user("grace@example.com", "grace");
    store.create_user(&grace, None).await.unwrap();
    assert!(store.set_password(&grace.id, &password_hash("one")).await.unwrap());
    let expected = User { password_hash: Some(password_hash("one")), auth_epoch: 1, ..grace.clone() };
    assert_eq!(store.user_by_id(&grace.id).await.unwrap(), Some(expected), "nothing else changes (still pending)");
    assert!(store.set_password(&grace.id, &password_hash("two")).await.unwrap());
    let stored = store.user_by_id(&grace.id).await.unwrap().unwrap();
    assert_eq!((stored.password_hash, stored.auth_epoch), (Some(password_hash("two")), 2));
    assert!(!store.set_password(&UserId::generate(), &password_hash("one")).await.unwrap(), "no such user");
    assert!(store.request_removal(&grace.id).await.unwrap());
    assert!(!store.set_password(&grace.id, &password_hash("three")).await.unwrap(), "being removed");
    let stored = store.user_by_id(&grace.id).await.unwrap().unwrap();
    assert_eq!((stored.password_hash, stored.auth_epoch), (Some(password_hash("two")), 3));
}

async fn an_operator_activates_an_account_once_and_for_all(store: Arc<dyn Store>) {
    let grace = user("grace@example.com", "grace");
    store.create_user(&grace, None).await.unwrap();
    let first = NOW.plus_seconds(5);
    assert!(store.activate_user(&grace.id, first).await.unwrap());
    let active = User { status: UserStatus::Active, activated_at: Some(first), ..grace.clone() };
    assert_eq!(store.user_by_id(&grace.id).await.unwrap(), Some(active.clone()));
    assert!(store.activate_user(&grace.id, NOW.plus_seconds(9)).await.unwrap(), "idempotent");
    assert_eq!(store.user_by_id(&grace.id).await.unwrap(), Some(active), "activated when it first was");
    assert!(!store.activate_user(&UserId::generate(), NOW).await.unwrap(), "no such user");
    let alan = user("alan@example.com", "alan");
    store.create_user(&alan, None).await.unwrap();
    assert!(store.request_removal(&alan.id).await.unwrap());
    assert!(!store.activate_user(&alan.id, NOW).await.unwrap(), "being removed");
    let stored = store.user_by_id(&alan.id).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.activated_at), (UserStatus::RemovalRequested, None));
}

/// An account with everything an account can own: an activation token, a reset token, a
/// session, a known browser, a sign-in counter and an audit entry.
struct Owned {
    user: User,
    counter_key: String,
    tokens: [TokenHash; 2],
    session: TokenHash,
    device: TokenHash,
    audit: AuditEntry,
}

async fn account_with_everything(store: &Arc<dyn Store>, email: &str, username: &str) -> Owned {
    let user = user(email, username);
    let (_, activation) = activation_token(&user, 3600);
    store.create_user(&user, Some(&activation)).await.unwrap();
    let reset = reset_token(&user, 3600);
    store.put_token(&reset).await.unwrap();
    let session = SessionRecord {
        hash: Token::generate().hash(),
        user_id: user.id.clone(),
        auth_epoch: 0,
        created_at: NOW,
        expires_at: NOW.plus_seconds(3600),
        operator: false,
        last_seen_at: NOW,
        password_at: NOW,
    };
    store.create_session(&session).await.unwrap();
    let device = DeviceRecord {
        hash: Token::generate().hash(),
        user_id: user.id.clone(),
        created_at: NOW,
        expires_at: NOW.plus_seconds(3600),
    };
    store.create_device(&device).await.unwrap();
    let counter_key = format!("counter-{username}");
    store.reserve(&counter_key, NOW, POLICY).await.unwrap();
    let audit = AuditEntry::new(NOW.plus_seconds(-60), "arn:op", "unlock", &user.id, "done");
    store.record(&audit).await.unwrap();
    Owned {
        user,
        counter_key,
        tokens: [activation.hash, reset.hash],
        session: session.hash,
        device: device.hash,
        audit,
    }
}

fn retirement_of(user: &User, requested_by: &str) -> Retirement {
    Retirement {
        email_hmac: email_hmac("contract-test-secret", &user.email),
        user_id: user.id.clone(),
        retired_at: NOW,
        requested_by: requested_by.to_owned(),
    }
}

async fn a_deleted_account_leaves_only_its_retirement_record(store: Arc<dyn Store>) {
    let grace = account_with_everything(&store, "Grace@Example.com", "Grace").await;
    let alan = account_with_everything(&store, "alan@example.com", "alan").await;
    assert!(store.set_operator(&grace.user.id, true).await.unwrap());
    let retirement = retirement_of(&grace.user, "self");
    assert_eq!(store.retirement(&retirement.email_hmac).await.unwrap(), None);
    let deletion = AuditEntry::new(NOW, "arn:op", "delete", &grace.user.id, "deleted");
    let request = DeleteRequest {
        user: &grace.user,
        counter_key: &grace.counter_key,
        retirement: &retirement,
        job_row: None,
        audit: Some(&deletion),
    };
    assert_eq!(store.delete_user(&request).await.unwrap(), Deleted::Deleted);

    let id = &grace.user.id;
    assert_eq!(store.user_by_id(id).await.unwrap(), None);
    assert_eq!(store.user_by_email_key("grace@example.com").await.unwrap(), None);
    assert!(!store.username_taken("grace").await.unwrap());
    for hash in &grace.tokens {
        assert_eq!(store.token(hash).await.unwrap(), None, "a token of the account");
    }
    assert_eq!(store.session(&grace.session, NOW).await.unwrap(), None);
    assert_eq!(store.device(&grace.device, NOW).await.unwrap(), None);
    assert!(store.known_devices(id, NOW).await.unwrap().is_empty());
    assert_eq!(store.state(&grace.counter_key, NOW).await.unwrap(), LockoutState::default());
    assert!(store.operators().await.unwrap().is_empty(), "an operator leaves the list with the account");
    assert_eq!(store.retirement(&retirement.email_hmac).await.unwrap(), Some(retirement.clone()));
    assert_eq!(store.retirement(&retirement_of(&alan.user, "self").email_hmac).await.unwrap(), None);
    // The record of operator actions outlives the account, the deletion included.
    assert_eq!(store.entries_for(id).await.unwrap(), vec![deletion.clone(), grace.audit.clone()]);

    // A second deletion (a redelivered message) finds nothing and changes nothing.
    let again = AuditEntry::new(NOW.plus_seconds(1), "arn:op", "delete", id, "deleted");
    let later = Retirement { retired_at: NOW.plus_seconds(1), ..retirement_of(&grace.user, "arn:op") };
    let request = DeleteRequest { retirement: &later, audit: Some(&again), ..request };
    assert_eq!(store.delete_user(&request).await.unwrap(), Deleted::NotFound);
    assert_eq!(store.retirement(&retirement.email_hmac).await.unwrap(), Some(retirement));
    assert_eq!(store.entries_for(id).await.unwrap(), vec![deletion, grace.audit.clone()]);

    // Another account keeps everything it owns.
    let other = &alan.user.id;
    assert_eq!(store.user_by_id(other).await.unwrap(), Some(alan.user.clone()));
    assert!(store.username_taken("alan").await.unwrap());
    for hash in &alan.tokens {
        assert!(store.token(hash).await.unwrap().is_some(), "a token of another account");
    }
    assert!(store.session(&alan.session, NOW).await.unwrap().is_some());
    assert_eq!(store.known_devices(other, NOW).await.unwrap(), vec![alan.device.clone()]);
    assert_eq!(store.state(&alan.counter_key, NOW).await.unwrap().failures, 1);
    assert_eq!(store.entries_for(other).await.unwrap(), vec![alan.audit]);

    // The email and the username are free again.
    store.create_user(&user("grace@example.com", "grace"), None).await.expect("both claims are free");
}

async fn concurrent_deletions_of_one_account_delete_it_once(store: Arc<dyn Store>) {
    let grace = account_with_everything(&store, "grace@example.com", "grace").await;
    let retirement = retirement_of(&grace.user, "self");
    // Redeliveries of one message: the same request each time.
    let deletion = AuditEntry::new(NOW, "arn:op", "delete", &grace.user.id, "deleted");
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let store = store.clone();
            let (user, counter_key) = (grace.user.clone(), grace.counter_key.clone());
            let (retirement, deletion) = (retirement.clone(), deletion.clone());
            tokio::spawn(async move {
                let request = DeleteRequest {
                    user: &user,
                    counter_key: &counter_key,
                    retirement: &retirement,
                    job_row: None,
                    audit: Some(&deletion),
                };
                store.delete_user(&request).await.unwrap()
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers.sort_by_key(|answer| *answer != Deleted::Deleted);
    let mut expected = vec![Deleted::NotFound; 5];
    expected[0] = Deleted::Deleted;
    assert_eq!(answers, expected, "one deletion, every other one finds nothing");
    assert_eq!(store.entries_for(&grace.user.id).await.unwrap(), vec![deletion, grace.audit], "recorded once");
}

async fn quotas_report_their_uses_in_the_current_window(store: Arc<dyn Store>) {
    assert_eq!(store.quota_used("reset#1", NOW).await.unwrap(), 0, "never taken");
    assert!(store.take_quota("reset#1", NOW, 3600, 3).await.unwrap());
    assert!(store.take_quota("reset#1", NOW.plus_seconds(10), 3600, 3).await.unwrap());
    assert_eq!(store.quota_used("reset#1", NOW.plus_seconds(20)).await.unwrap(), 2);
    assert_eq!(store.quota_used("reset#2", NOW).await.unwrap(), 0, "another key");
    // A refused use is not counted.
    assert!(store.take_quota("reset#1", NOW.plus_seconds(30), 3600, 3).await.unwrap());
    assert!(!store.take_quota("reset#1", NOW.plus_seconds(40), 3600, 3).await.unwrap());
    assert_eq!(store.quota_used("reset#1", NOW.plus_seconds(3599)).await.unwrap(), 3);
    // The window ends an hour after its first use, not its last.
    assert_eq!(store.quota_used("reset#1", NOW.plus_seconds(3600)).await.unwrap(), 0);
    assert!(store.take_quota("reset#1", NOW.plus_seconds(3600), 3600, 3).await.unwrap());
    assert_eq!(store.quota_used("reset#1", NOW.plus_seconds(3601)).await.unwrap(), 1, "a new window");
}

async fn audit_entries_are_listed_per_account_newest_first(store: Arc<dyn Store>) {
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

/// The sign-in counter (`LoginAttempts`).
const POLICY: LockoutPolicy = LockoutPolicy { max_failures: 3, lockout_seconds: 600 };

async fn reservations_stop_at_the_limit_and_one_failure_locks(attempts: Arc<dyn Store>) {
    for _ in 0..3 {
        assert_eq!(attempts.reserve("k", NOW, POLICY).await.unwrap(), Reservation::Granted);
    }
    assert_eq!(attempts.reserve("k", NOW, POLICY).await.unwrap(), Reservation::Refused { locked_until: None });
    assert_eq!(attempts.state("k", NOW).await.unwrap(), LockoutState { failures: 3, locked_until: None });
    let locked = attempts.record_failure("k", NOW, POLICY).await.unwrap().expect("the failure at the limit locks");
    assert_eq!((locked.failures, locked.until), (3, NOW.plus_seconds(600)));
    assert_eq!(attempts.record_failure("k", NOW, POLICY).await.unwrap(), None, "only one caller locks");
    let until = Some(NOW.plus_seconds(600));
    assert_eq!(
        attempts.reserve("k", NOW.plus_seconds(599), POLICY).await.unwrap(),
        Reservation::Refused { locked_until: until }
    );
    assert_eq!(
        attempts.state("k", NOW.plus_seconds(1)).await.unwrap(),
        LockoutState { failures: 3, locked_until: until }
    );
    // Other keys are untouched; failures under the limit lock nothing.
    assert_eq!(attempts.reserve("other", NOW, POLICY).await.unwrap(), Reservation::Granted);
    assert_eq!(attempts.record_failure("other", NOW, POLICY).await.unwrap(), None);
}

async fn a_lock_ends_by_itself_and_clear_forgets(attempts: Arc<dyn Store>) {
    for _ in 0..3 {
        attempts.reserve("k", NOW, POLICY).await.unwrap();
    }
    attempts.record_failure("k", NOW, POLICY).await.unwrap().unwrap();
    let later = NOW.plus_seconds(600);
    assert_eq!(attempts.state("k", later).await.unwrap(), LockoutState::default());
    assert_eq!(attempts.reserve("k", later, POLICY).await.unwrap(), Reservation::Granted);
    assert_eq!(attempts.state("k", later).await.unwrap(), LockoutState { failures: 1, locked_until: None });
    attempts.clear("k").await.unwrap();
    assert_eq!(attempts.state("k", later).await.unwrap(), LockoutState::default());
    attempts.clear("never-seen").await.unwrap();
}

async fn concurrent_reservations_grant_exactly_the_limit(attempts: Arc<dyn Store>) {
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let attempts = attempts.clone();
            tokio::spawn(async move { attempts.reserve("k", NOW, POLICY).await.unwrap() == Reservation::Granted })
        })
        .collect();
    let mut granted = 0;
    for task in tasks {
        granted += usize::from(task.await.unwrap());
    }
    assert_eq!(granted, 3);
    let lockers: Vec<_> = (0..10)
        .map(|_| {
            let attempts = attempts.clone();
            tokio::spawn(async move { attempts.record_failure("k", NOW, POLICY).await.unwrap().is_some() })
        })
        .collect();
    let mut locked = 0;
    for task in lockers {
        locked += usize::from(task.await.unwrap());
    }
    assert_eq!(locked, 1);
}

mod mail_and_queue {
    use learners::adapters::aws::{provision, AwsClients, SesMailer, SqsQueue};
    use learners::adapters::clock::ManualClock;
    use learners::adapters::memory::{CapturedMail, InProcessQueue, MemoryMailer};
    use learners::ports::{JobQueue, Mailer, OutgoingMail, Queue};
    use learners_tests::{moto, unique};
    use std::sync::Arc;

    fn mail(to: &str) -> OutgoingMail {
        OutgoingMail {
            to: to.into(),
            subject: "Hello".into(),
            text: "plain body".into(),
            html: "<p>html body</p>".into(),
        }
    }

    #[tokio::test]
    async fn the_memory_mailer_captures_what_it_sends() {
        let clock = Arc::new(ManualClock::new());
        clock.set(super::NOW);
        let mailer = MemoryMailer::new(clock.clone());
        mailer.send(&mail("a@example.com")).await.unwrap();
        clock.advance(5);
        mailer.send(&OutgoingMail { subject: "Again".into(), ..mail("b@example.com") }).await.unwrap();
        let captured = |to: &str, subject: &str, sent_at| CapturedMail {
            to: to.into(),
            subject: subject.into(),
            text: "plain body".into(),
            html: "<p>html body</p>".into(),
            sent_at,
        };
        // Every part as given, in the order sent, stamped by its clock.
        let expected = vec![
            captured("a@example.com", "Hello", super::NOW),
            captured("b@example.com", "Again", super::NOW.plus_seconds(5)),
        ];
        assert_eq!(mailer.sent(), expected);
    }

    #[tokio::test]
    async fn ses_delivers_from_a_verified_sender_and_refuses_otherwise() {
        let clients = AwsClients::for_endpoint(moto::url()).await;
        provision::verify_sender(&clients, "no-reply@example.com").await.unwrap();
        let to = format!("{}@example.com", unique("ses-"));
        SesMailer::new(clients.ses.clone(), "no-reply@example.com", None).send(&mail(&to)).await.unwrap();
        let delivered = moto::sent_mail().await.into_iter().filter(|m| m.to == to).collect::<Vec<_>>();
        assert_eq!(delivered.len(), 1);
        assert_eq!(delivered[0].subject, "Hello");
        let refused = SesMailer::new(clients.ses, "stranger@unverified.example", None).send(&mail(&to)).await;
        assert!(matches!(refused, Err(learners::ports::MailError::Permanent(_))), "{refused:?}");
    }

    #[tokio::test]
    async fn the_in_process_queue_delivers_batches_of_ten() {
        let (queue, mut receiver) = InProcessQueue::new();
        let bodies: Vec<String> = (0..25).map(|i| i.to_string()).collect();
        queue.enqueue(Queue::BulkRegistration, &bodies).await.unwrap();
        let mut got = Vec::new();
        for expected in [10, 10, 5] {
            let batch = receiver.recv().await.unwrap();
            assert_eq!((batch.queue, batch.bodies.len()), (Queue::BulkRegistration, expected));
            got.extend(batch.bodies);
        }
        assert_eq!(got, bodies);
        queue.enqueue(Queue::Recovery, &[]).await.unwrap();
        assert!(receiver.try_recv().is_err(), "nothing to enqueue, no batch");
        // Without a consumer nothing can be enqueued, and the caller hears of it.
        drop(receiver);
        assert!(queue.enqueue(Queue::Deletion, &bodies).await.is_err());
    }

    #[tokio::test]
    async fn sqs_receives_every_enqueued_body() {
        let clients = AwsClients::for_endpoint(moto::url()).await;
        let made = provision::provision(&clients, &unique("queue-")).await.unwrap();
        let queue = SqsQueue::new(clients.sqs.clone(), made.queue_urls.clone());
        let bodies: Vec<String> = (0..25).map(|i| format!("body-{i}")).collect();
        queue.enqueue(Queue::Deletion, &bodies).await.unwrap();
        let mut got = Vec::new();
        for _ in 0..20 {
            let output = clients
                .sqs
                .receive_message()
                .queue_url(&made.queue_urls[&Queue::Deletion])
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            got.extend(output.messages().iter().filter_map(|m| m.body().map(str::to_owned)));
            if got.len() >= 25 {
                break;
            }
        }
        got.sort();
        let mut expected = bodies.clone();
        expected.sort();
        assert_eq!(got, expected);
        // Only the named queue gets them; nothing to enqueue sends nothing.
        queue.enqueue(Queue::Recovery, &[]).await.unwrap();
        for other in [Queue::BulkRegistration, Queue::Recovery, Queue::MailEvents] {
            let output = clients.sqs.receive_message().queue_url(&made.queue_urls[&other]).send().await.unwrap();
            assert!(output.messages().is_empty(), "{other:?} received messages");
        }
        let unconfigured = SqsQueue::new(clients.sqs, Default::default());
        assert!(unconfigured
            .enqueue(Queue::BulkRegistration, &bodies)
            .await
            .unwrap_err()
            .to_string()
            .contains("LEARNERS_BULK_QUEUE_URL"));
    }
}

mod clock_and_passwords {
    //! `Clock` and `Passwords` have one implementation each that matters (the manual clock is
    //! the tests' own): a short test of each, through its port.
    use learners::adapters::clock::{ManualClock, SystemClock};
    use learners::adapters::passwords::Argon2Passwords;
    use learners::domain::{PasswordHash, PasswordPolicy};
    use learners::ports::{Clock, Passwords};

    #[test]
    fn the_system_clock_tells_the_time_and_the_manual_one_moves_when_told() {
        let system = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        assert!((SystemClock.now().unix() - system).abs() <= 1, "the system clock is the time now");
        let clock = ManualClock::new();
        let start = clock.now();
        assert!((start.unix() - system).abs() <= 1, "a manual clock starts at the time now");
        assert_eq!(clock.now(), start, "and stays there");
        clock.advance(90);
        assert_eq!(clock.now(), start.plus_seconds(90));
        clock.set(super::NOW);
        assert_eq!(clock.now(), super::NOW);
    }

    #[tokio::test]
    async fn argon2id_hashes_are_salted_and_verify_the_password_exactly() {
        let passwords: &dyn Passwords = &Argon2Passwords;
        let typed = "correct horse battery staple";
        let password = PasswordPolicy::default().check(typed, &[]).unwrap();
        let hash = passwords.hash(&password).await.unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash:?}");
        assert!(!hash.as_str().contains(typed));
        assert!(passwords.verify(&hash, typed).await.unwrap());
        assert!(!passwords.verify(&hash, "Correct horse battery staple").await.unwrap());
        assert!(!passwords.verify(&hash, "correct horse battery staple ").await.unwrap());
        let again = passwords.hash(&password).await.unwrap();
        assert_ne!(again, hash, "salted: the same password hashes differently each time");
        assert!(passwords.verify(&again, typed).await.unwrap());
        let malformed = PasswordHash::from_phc("not a hash".into());
        assert!(!passwords.verify(&malformed, typed).await.unwrap(), "a malformed stored hash verifies nothing");
    }
}

/// The retirement key comes from an SSM SecureString (on moto): read decrypted, refused when
/// shorter than 32 characters or missing.
#[tokio::test]
async fn the_retirement_key_is_read_from_a_secure_parameter() {
    use aws_sdk_ssm::types::ParameterType;
    let credentials = aws_sdk_ssm::config::Credentials::new("test", "test", None, None, "emulator");
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto::url())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(credentials)
        .load()
        .await;
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let name = format!("/learners-test/{}", unique("secret-"));
    let value = "a retirement key of more than thirty-two characters";
    ssm.put_parameter().name(&name).value(value).r#type(ParameterType::SecureString).send().await.unwrap();
    assert_eq!(learners::adapters::aws::secret_parameter(&ssm, &name).await.unwrap(), value);
    let short = format!("{name}-short");
    ssm.put_parameter().name(&short).value("too short").r#type(ParameterType::SecureString).send().await.unwrap();
    assert!(learners::adapters::aws::secret_parameter(&ssm, &short).await.is_err());
    assert!(learners::adapters::aws::secret_parameter(&ssm, &format!("{name}-missing")).await.is_err());
}

// ---- Row jobs ----

fn row_job(kind: JobKind, total: u64, key: Option<&str>) -> RowJob {
    RowJob {
        id: unique("job-"),
        kind,
        operator: "arn:aws:iam::1:user/op".into(),
        created_at: NOW,
        status: JobStatus::Receiving,
        total,
        final_counts: None,
        idempotency: key.map(|key| Idempotency { key: key.to_owned(), body_sha256: "b0dy".into() }),
    }
}

fn outcome(row: u64, result: RowResult, code: &str) -> RowOutcome {
    RowOutcome::new(row, &format!("r{row}@example.org"), result, code, "")
}

async fn a_job_is_recorded_once_per_idempotency_key_and_only_moves_forward(store: Arc<dyn Store>) {
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

    store.mark_queued(&first.id).await.unwrap();
    assert_eq!(store.job(&first.id).await.unwrap().unwrap().status, JobStatus::Queued);
    let counts = Counts { done: 1, skipped: 1, failed: 1 };
    store.mark_completed(&first.id, &counts).await.unwrap();
    store.mark_queued(&first.id).await.unwrap();
    let done = store.job(&first.id).await.unwrap().unwrap();
    assert_eq!((done.status, done.final_counts), (JobStatus::Completed, Some(counts)), "never back to queued");
    assert_eq!(store.job("no-such-job").await.unwrap(), None);
}

async fn an_idempotency_key_is_free_again_once_its_job_expired(store: Arc<dyn Store>) {
    let key = unique("key-");
    let old = RowJob { created_at: NOW.plus_seconds(-40 * 86_400), ..row_job(JobKind::Deletion, 1, Some(&key)) };
    assert_eq!(store.create_job(&old).await.unwrap(), JobCreated::Created);
    // 40 days later the old job and its claim are past their 30 days: the key starts a new job.
    let new = row_job(JobKind::Deletion, 1, Some(&key));
    assert_eq!(store.create_job(&new).await.unwrap(), JobCreated::Created);
    let again = row_job(JobKind::Deletion, 1, Some(&key));
    assert_eq!(store.create_job(&again).await.unwrap(), JobCreated::Existing(new));
}

async fn rows_settle_once_and_read_back_in_row_order_across_shards(store: Arc<dyn Store>) {
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

async fn tallies_only_grow_and_sum_up(store: Arc<dyn Store>) {
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

async fn a_bulk_row_creates_its_account_once_and_forgets_its_password(store: Arc<dyn Store>) {
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
}

async fn concurrent_settlements_of_one_row_settle_it_once(store: Arc<dyn Store>) {
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

async fn a_deletion_settles_its_job_row_in_the_same_write(store: Arc<dyn Store>) {
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

/// Every port method and the tests that pin it, for a reviewer to check. The store ports'
/// tests run on both backends (`contract!`); `Mailer` and `JobQueue` have a test per adapter;
/// `Clock` and `Passwords` one implementation each. `every_port_method_is_under_contract`
/// holds this table to `shared/src/ports.rs` and to the tests themselves.
const COVERAGE: &[(&str, &[&str])] = &[
    (
        "RowJobs::create_job",
        &[
            "a_job_is_recorded_once_per_idempotency_key_and_only_moves_forward",
            "an_idempotency_key_is_free_again_once_its_job_expired",
        ],
    ),
    ("RowJobs::job", &["a_job_is_recorded_once_per_idempotency_key_and_only_moves_forward"]),
    ("RowJobs::mark_queued", &["a_job_is_recorded_once_per_idempotency_key_and_only_moves_forward"]),
    ("RowJobs::mark_completed", &["a_job_is_recorded_once_per_idempotency_key_and_only_moves_forward"]),
    ("RowJobs::settle_at_intake", &["rows_settle_once_and_read_back_in_row_order_across_shards"]),
    (
        "RowJobs::settle_row",
        &[
            "rows_settle_once_and_read_back_in_row_order_across_shards",
            "concurrent_settlements_of_one_row_settle_it_once",
        ],
    ),
    ("RowJobs::block_rows", &["rows_settle_once_and_read_back_in_row_order_across_shards"]),
    ("RowJobs::rows", &["rows_settle_once_and_read_back_in_row_order_across_shards"]),
    ("RowJobs::problems", &["rows_settle_once_and_read_back_in_row_order_across_shards"]),
    ("RowJobs::record_tally", &["tallies_only_grow_and_sum_up"]),
    ("RowJobs::tallied", &["tallies_only_grow_and_sum_up"]),
    ("RowJobs::keep_passwords", &["a_bulk_row_creates_its_account_once_and_forgets_its_password"]),
    ("RowJobs::kept_password", &["a_bulk_row_creates_its_account_once_and_forgets_its_password"]),
    ("RowJobs::create_bulk_user", &["a_bulk_row_creates_its_account_once_and_forgets_its_password"]),
    (
        "UserStore::create_user",
        &[
            "created_users_read_back",
            "email_and_username_are_unique_case_insensitively",
            "a_refused_user_leaves_nothing_behind",
            "concurrent_creations_of_one_email_store_one_user",
        ],
    ),
    (
        "UserStore::user_by_email_key",
        &["created_users_read_back", "a_deleted_account_leaves_only_its_retirement_record"],
    ),
    (
        "UserStore::username_taken",
        &["email_and_username_are_unique_case_insensitively", "a_deleted_account_leaves_only_its_retirement_record"],
    ),
    ("UserStore::user_by_id", &["created_users_read_back", "a_deleted_account_leaves_only_its_retirement_record"]),
    (
        "UserStore::put_token",
        &["emailed_tokens_are_stored_and_read_back_used_or_not", "a_reset_link_sets_the_password_once"],
    ),
    (
        "UserStore::replace_activation_token",
        &["a_new_activation_token_ends_the_older_ones", "concurrent_new_activation_tokens_replace_once"],
    ),
    (
        "UserStore::consume_activation_token",
        &[
            "an_activation_token_is_consumed_once_under_concurrency",
            "expired_and_unknown_tokens_activate_nothing",
            "a_new_activation_token_ends_the_older_ones",
        ],
    ),
    ("UserStore::token", &["emailed_tokens_are_stored_and_read_back_used_or_not"]),
    (
        "UserStore::complete_password_reset",
        &["a_reset_link_sets_the_password_once", "a_reset_link_is_used_once_under_concurrency"],
    ),
    ("UserStore::set_password", &["an_operator_sets_a_password_and_ends_every_session"]),
    ("UserStore::activate_user", &["an_operator_activates_an_account_once_and_for_all"]),
    (
        "UserStore::delete_user",
        &["a_deleted_account_leaves_only_its_retirement_record", "concurrent_deletions_of_one_account_delete_it_once"],
    ),
    ("UserStore::retirement", &["a_deleted_account_leaves_only_its_retirement_record"]),
    ("UserStore::set_operator", &["the_operator_role_is_granted_listed_and_revoked"]),
    ("UserStore::mark_mail_refused", &["a_refusal_of_mail_is_recorded_on_the_account"]),
    ("UserStore::operators", &["the_operator_role_is_granted_listed_and_revoked"]),
    ("UserStore::request_removal", &["removal_requests_raise_the_auth_epoch"]),
    ("UserStore::take_quota", &["quotas_allow_their_limit_per_window"]),
    ("UserStore::quota_used", &["quotas_report_their_uses_in_the_current_window"]),
    (
        "Mailer::send",
        &["the_memory_mailer_captures_what_it_sends", "ses_delivers_from_a_verified_sender_and_refuses_otherwise"],
    ),
    ("JobQueue::enqueue", &["the_in_process_queue_delivers_batches_of_ten", "sqs_receives_every_enqueued_body"]),
    ("Clock::now", &["the_system_clock_tells_the_time_and_the_manual_one_moves_when_told"]),
    ("SessionStore::create_session", &["sessions_are_stored_read_until_expiry_and_deleted"]),
    (
        "SessionStore::session",
        &[
            "sessions_are_stored_read_until_expiry_and_deleted",
            "operator_sessions_end_when_idle_and_record_the_password",
        ],
    ),
    ("SessionStore::delete_session", &["sessions_are_stored_read_until_expiry_and_deleted"]),
    ("SessionStore::create_device", &["devices_are_remembered_listed_and_expire"]),
    ("SessionStore::known_devices", &["devices_are_remembered_listed_and_expire"]),
    ("SessionStore::device", &["devices_are_remembered_listed_and_expire"]),
    ("SessionStore::touch_session", &["operator_sessions_end_when_idle_and_record_the_password"]),
    (
        "LoginAttempts::reserve",
        &["reservations_stop_at_the_limit_and_one_failure_locks", "concurrent_reservations_grant_exactly_the_limit"],
    ),
    (
        "LoginAttempts::record_failure",
        &["reservations_stop_at_the_limit_and_one_failure_locks", "concurrent_reservations_grant_exactly_the_limit"],
    ),
    ("LoginAttempts::clear", &["a_lock_ends_by_itself_and_clear_forgets"]),
    (
        "LoginAttempts::state",
        &["reservations_stop_at_the_limit_and_one_failure_locks", "a_lock_ends_by_itself_and_clear_forgets"],
    ),
    ("AuditLog::record", &["audit_entries_are_listed_per_account_newest_first"]),
    ("AuditLog::entries_for", &["audit_entries_are_listed_per_account_newest_first"]),
    ("AuditLog::latest", &["the_latest_audit_entries_come_newest_first_across_accounts"]),
    ("Passwords::hash", &["argon2id_hashes_are_salted_and_verify_the_password_exactly"]),
    ("Passwords::verify", &["argon2id_hashes_are_salted_and_verify_the_password_exactly"]),
];

/// Ports under contract elsewhere: the OpenID Connect ones in `contract_oidc.rs` (with their
/// own coverage check there).
const NOT_YET: &[&str] = &["OidcStore", "Signer"];

/// Every method of every port is in `COVERAGE`, with tests that exist, call it, and (for the
/// store ports) run on both backends; and `COVERAGE` names no method that is gone.
#[test]
fn every_port_method_is_under_contract() {
    let ports = port_methods(include_str!("../../shared/src/ports.rs"));
    let source = include_str!("contract.rs");
    let (both_backends, store_ports) = (contract_list(source), store_ports(source));
    let mut problems = Vec::new();
    for (port, method) in ports.iter().filter(|(port, _)| !NOT_YET.contains(&port.as_str())) {
        let name = format!("{port}::{method}");
        if !COVERAGE.iter().any(|(covered, tests)| *covered == name && !tests.is_empty()) {
            problems.push(format!("{name} has no test in COVERAGE"));
        }
    }
    for (name, tests) in COVERAGE {
        let (port, method) = name.split_once("::").expect("COVERAGE names Port::method");
        if !ports.iter().any(|(p, m)| p == port && m == method) {
            problems.push(format!("{port}::{method} is in COVERAGE but not in ports.rs"));
        }
        for test in *tests {
            match body_of(source, test) {
                None => problems.push(format!("{port}::{method}: there is no test {test}")),
                Some(body) if !body.contains(&format!(".{method}(")) => {
                    problems.push(format!("{port}::{method}: {test} never calls it"))
                }
                Some(_) => {}
            }
            if store_ports.contains(&port) && !both_backends.contains(test) {
                problems.push(format!("{port}::{method}: {test} is not in contract! (both backends)"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// (trait, method) for every method of every trait in `ports.rs`.
fn port_methods(ports: &str) -> Vec<(String, String)> {
    let ident = |text: &str| -> String { text.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect() };
    let mut found = Vec::new();
    let mut current = None;
    for line in ports.lines() {
        if let Some(rest) = line.strip_prefix("pub trait ") {
            current = Some(ident(rest));
        } else if line == "}" {
            current = None;
        } else if let Some(port) = &current {
            let line = line.trim_start();
            if let Some(rest) = line.strip_prefix("async ").unwrap_or(line).strip_prefix("fn ") {
                found.push((port.clone(), ident(rest)));
            }
        }
    }
    found
}

/// The tests that `contract!` runs on both backends.
fn contract_list(source: &str) -> Vec<&str> {
    let start = source.find("\ncontract!(").expect("the contract! invocation") + "\ncontract!(".len();
    let end = start + source[start..].find(");").expect("the end of contract!");
    source[start..end].split(',').map(str::trim).filter(|name| !name.is_empty()).collect()
}

/// The ports that `Store` gathers (the ones both backends implement).
fn store_ports(source: &str) -> Vec<&str> {
    let line = source.lines().find(|line| line.starts_with("trait Store: ")).expect("the Store trait");
    line["trait Store: ".len()..].trim_end_matches(" {}").split('+').map(str::trim).collect()
}

/// The body of `fn name(..)` in `source`, up to its matching brace.
fn body_of<'a>(source: &'a str, name: &str) -> Option<&'a str> {
    let start = source.find(&format!("fn {name}("))?;
    let open = start + source[start..].find('{')?;
    let mut depth = 0;
    for (i, c) in source[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 1 => return Some(&source[open..=open + i]),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

// ---- Capacity units ----

/// The same calls on both stores, with the units each bills after every step.
async fn billed_script(
    store: &dyn Store,
    take: &dyn Fn() -> learners::adapters::capacity::Units,
) -> Vec<(String, learners::adapters::capacity::Units)> {
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
    let token = Token::generate();
    let session = SessionRecord {
        hash: token.hash(),
        user_id: ada.id.clone(),
        auth_epoch: 0,
        created_at: NOW,
        expires_at: NOW.plus_seconds(3_600),
        operator: false,
        last_seen_at: NOW,
        password_at: NOW,
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
        created_at: NOW,
        expires_at: NOW.plus_seconds(3_600),
    };
    store.create_device(&device).await.unwrap();
    step("create_device");
    assert_eq!(store.known_devices(&ada.id, NOW).await.unwrap().len(), 1);
    step("known_devices");
    store.device(&device.hash, NOW).await.unwrap().unwrap();
    step("device");
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
    store.mark_queued(&job.id).await.unwrap();
    store.mark_completed(&job.id, &Counts { done: 1, skipped: 1, failed: 13 }).await.unwrap();
    step("mark_queued, mark_completed");
    bills
}

/// The in-memory store bills what DynamoDB bills: the same script of calls on both, the
/// DynamoDB adapter's requests counted by the SDK interceptor that `make bench` prices, the
/// memory store's by `MemoryStore::consumed`; after every step the units and requests agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_stores_bill_the_same_capacity_units() {
    use learners::adapters::capacity::Meter;
    let memory = MemoryStore::new();
    let on_memory = billed_script(&memory, &|| memory.consumed()).await;

    let clients = AwsClients::for_endpoint(moto::url()).await;
    let table = unique("units-");
    provision::create_table(&clients.dynamodb, &table).await.expect("table on moto");
    let meter = Meter::default();
    let metered =
        aws_sdk_dynamodb::Client::from_conf(clients.dynamodb.config().to_builder().interceptor(meter.clone()).build());
    let dynamo = DynamoStore::new(metered, table);
    let on_dynamo = billed_script(&dynamo, &|| meter.take()).await;
    let mut differences = Vec::new();
    for ((step, m), (_, d)) in on_memory.iter().zip(&on_dynamo) {
        if m != d {
            differences.push(format!("{step}: memory {m:?}, DynamoDB {d:?}"));
        }
    }
    assert!(differences.is_empty(), "the stores bill differently:\n{}", differences.join("\n"));
    let total = on_dynamo.iter().fold((0.0, 0.0), |(r, w), (_, u)| (r + u.reads, w + u.writes));
    assert!(total.0 > 20.0 && total.1 > 50.0, "the script billed little: {total:?}");
}
