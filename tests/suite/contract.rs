//! One contract, two adapters: every test here runs against the in-memory store and against
//! DynamoDB on moto, and both must behave the same (atomicity and uniqueness included).

use learners::adapters::aws::{provision, AwsClients, DynamoStore};
use learners::adapters::memory::MemoryStore;
use learners::domain::{AuditEntry, LockoutPolicy, LockoutState, Reservation, OPERATOR_IDLE_SECONDS};
use learners::domain::{
    Email, FullName, MailRefusal, MailRefusalKind, SessionRecord, Timestamp, Token, TokenPurpose, TokenRecord, User,
    UserId, UserSource, UserStatus, Username,
};
use learners::ports::{AuditLog, CreateUserError, LoginAttempts, SessionStore, TokenUse, UserStore};
use learners_tests::{moto, unique};
use std::sync::Arc;

/// Every store port: both adapters implement them all on one table (or one lock).
trait Store: UserStore + SessionStore + AuditLog + LoginAttempts {}
impl<T: UserStore + SessionStore + AuditLog + LoginAttempts> Store for T {}

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
);

const NOW: Timestamp = Timestamp::from_unix(1_800_000_000);

fn user(email: &str, username: &str) -> User {
    User {
        id: UserId::generate(),
        email: Email::parse(email).unwrap(),
        username: Username::parse(username).unwrap(),
        name: FullName::parse("Grace Hopper").unwrap(),
        password_hash: None,
        status: UserStatus::PendingActivation,
        created_at: NOW,
        activated_at: None,
        terms_accepted_at: Some(NOW),
        source: UserSource::SelfService,
        auth_epoch: 0,
        operator: false,
        mail_refused: None,
    }
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
    sessions.delete_session(&token.hash()).await.unwrap();
    assert_eq!(sessions.session(&token.hash(), NOW).await.unwrap(), None);
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
    use learners::adapters::clock::SystemClock;
    use learners::adapters::memory::{InProcessQueue, MemoryMailer};
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
        let mailer = MemoryMailer::new(Arc::new(SystemClock));
        mailer.send(&mail("a@example.com")).await.unwrap();
        let sent = mailer.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(
            (sent[0].to.as_str(), sent[0].text.as_str(), sent[0].html.as_str()),
            ("a@example.com", "plain body", "<p>html body</p>")
        );
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
            assert_eq!(batch.bodies.len(), expected);
            got.extend(batch.bodies);
        }
        assert_eq!(got, bodies);
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
        let unconfigured = SqsQueue::new(clients.sqs, Default::default());
        assert!(unconfigured
            .enqueue(Queue::BulkRegistration, &bodies)
            .await
            .unwrap_err()
            .to_string()
            .contains("LEARNERS_BULK_QUEUE_URL"));
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
