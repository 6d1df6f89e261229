//! The same work whatever the account: registration, "send me a new activation link",
//! "forgot my password" and sign-in make the same sequence of store, queue and password calls
//! whether or not the address has an account (and whatever state it is in), so nothing, timing
//! included, tells them apart. Shown by recording the port calls of each pair of cases and
//! comparing the sequences. (What the mail worker does later, off the request, may differ.)

use async_trait::async_trait;
use learners::domain::{
    DeviceRecord, LockedNow, LockoutPolicy, LockoutState, Password, PasswordHash, Reservation, Retirement,
    SessionRecord, Timestamp, TokenHash, TokenRecord, User, UserId, UserPage, UserQuery,
};
use learners::ports::{
    CreateUserError, DeleteRequest, Deleted, JobQueue, LoginAttempts, Passwords, Queue, SessionStore, TokenUse,
    UserStore,
};
use learners::App;
use learners_tests::{email, memory_app, unique, PASSWORD};
use std::sync::{Arc, Mutex};

type Journal = Arc<Mutex<Vec<String>>>;

/// Every port a request uses, each call written to the journal on its way to the real one.
struct Recorder {
    journal: Journal,
    store: Arc<dyn UserStore>,
    sessions: Arc<dyn SessionStore>,
    attempts: Arc<dyn LoginAttempts>,
    queue: Arc<dyn JobQueue>,
    passwords: Arc<dyn Passwords>,
}

impl Recorder {
    fn note(&self, call: &str) {
        self.journal.lock().unwrap().push(call.to_owned());
    }
}

#[async_trait]
impl UserStore for Recorder {
    async fn create_user(&self, user: &User, token: Option<&TokenRecord>) -> Result<(), CreateUserError> {
        self.note("create_user");
        self.store.create_user(user, token).await
    }
    async fn user_by_email_key(&self, key: &str) -> anyhow::Result<Option<User>> {
        self.note("user_by_email_key");
        self.store.user_by_email_key(key).await
    }
    async fn replace_registration(
        &self,
        previous: &User,
        next: &User,
    ) -> anyhow::Result<learners::ports::Reregistration> {
        self.note("replace_registration");
        self.store.replace_registration(previous, next).await
    }
    async fn username_taken(&self, key: &str) -> anyhow::Result<bool> {
        self.note("username_taken");
        self.store.username_taken(key).await
    }
    async fn claims_held(
        &self,
        emails: &[String],
        usernames: &[String],
    ) -> anyhow::Result<learners::ports::HeldClaims> {
        self.note("claims_held");
        self.store.claims_held(emails, usernames).await
    }
    async fn user_by_id(&self, id: &UserId) -> anyhow::Result<Option<User>> {
        self.note("user_by_id");
        self.store.user_by_id(id).await
    }
    async fn put_token(&self, token: &TokenRecord) -> anyhow::Result<()> {
        self.note("put_token");
        self.store.put_token(token).await
    }
    async fn replace_activation_token(&self, token: &TokenRecord) -> anyhow::Result<bool> {
        self.note("replace_activation_token");
        self.store.replace_activation_token(token).await
    }
    async fn consume_activation_token(&self, hash: &TokenHash, now: Timestamp) -> anyhow::Result<TokenUse> {
        self.note("consume_activation_token");
        self.store.consume_activation_token(hash, now).await
    }
    async fn token(&self, hash: &TokenHash) -> anyhow::Result<Option<TokenRecord>> {
        self.note("token");
        self.store.token(hash).await
    }
    async fn complete_password_reset(
        &self,
        token: &TokenRecord,
        hash: &PasswordHash,
        now: Timestamp,
    ) -> anyhow::Result<bool> {
        self.note("complete_password_reset");
        self.store.complete_password_reset(token, hash, now).await
    }
    async fn change_email(
        &self,
        change: &learners::ports::EmailChange<'_>,
    ) -> anyhow::Result<learners::ports::EmailChanged> {
        self.note("change_email");
        self.store.change_email(change).await
    }
    async fn set_password(&self, id: &UserId, hash: &PasswordHash) -> anyhow::Result<bool> {
        self.note("set_password");
        self.store.set_password(id, hash).await
    }
    async fn set_name(&self, id: &UserId, name: &learners::domain::FullName) -> anyhow::Result<bool> {
        self.note("set_name");
        self.store.set_name(id, name).await
    }
    async fn raise_auth_epoch(
        &self,
        id: &UserId,
        epoch: u64,
        password: Option<&learners::domain::PasswordHash>,
    ) -> anyhow::Result<bool> {
        self.note("raise_auth_epoch");
        self.store.raise_auth_epoch(id, epoch, password).await
    }
    async fn set_disabled(&self, id: &UserId, epoch: u64, at: Option<Timestamp>) -> anyhow::Result<bool> {
        self.note("set_disabled");
        self.store.set_disabled(id, epoch, at).await
    }
    async fn activate_user(&self, id: &UserId, now: Timestamp) -> anyhow::Result<bool> {
        self.note("activate_user");
        self.store.activate_user(id, now).await
    }
    async fn delete_user(&self, request: &DeleteRequest<'_>) -> anyhow::Result<Deleted> {
        self.note("delete_user");
        self.store.delete_user(request).await
    }
    async fn retirement(&self, email_hmac: &str) -> anyhow::Result<Option<Retirement>> {
        self.note("retirement");
        self.store.retirement(email_hmac).await
    }
    async fn set_operator(&self, id: &UserId, operator: bool) -> anyhow::Result<bool> {
        self.note("set_operator");
        self.store.set_operator(id, operator).await
    }
    async fn set_support(&self, id: &UserId, support: bool) -> anyhow::Result<bool> {
        self.note("set_support");
        self.store.set_support(id, support).await
    }
    async fn mark_mail_refused(&self, id: &UserId, refusal: &learners::domain::MailRefusal) -> anyhow::Result<bool> {
        self.note("mark_mail_refused");
        self.store.mark_mail_refused(id, refusal).await
    }
    async fn clear_mail_refusal(&self, id: &UserId) -> anyhow::Result<bool> {
        self.note("clear_mail_refusal");
        self.store.clear_mail_refusal(id).await
    }
    async fn operators(&self) -> anyhow::Result<Vec<User>> {
        self.note("operators");
        self.store.operators().await
    }
    async fn request_removal(&self, id: &UserId) -> anyhow::Result<bool> {
        self.note("request_removal");
        self.store.request_removal(id).await
    }
    async fn take_quota(&self, key: &str, now: Timestamp, window: i64, limit: u32) -> anyhow::Result<bool> {
        self.note("take_quota");
        self.store.take_quota(key, now, window, limit).await
    }
    async fn quota_used(&self, key: &str, now: Timestamp) -> anyhow::Result<u32> {
        self.note("quota_used");
        self.store.quota_used(key, now).await
    }
    async fn find_users(&self, query: &UserQuery) -> anyhow::Result<UserPage> {
        self.note("find_users");
        self.store.find_users(query).await
    }
}

#[async_trait]
impl SessionStore for Recorder {
    async fn create_session(&self, session: &SessionRecord) -> anyhow::Result<()> {
        self.note("create_session");
        self.sessions.create_session(session).await
    }
    async fn session(&self, hash: &TokenHash, now: Timestamp) -> anyhow::Result<Option<SessionRecord>> {
        self.note("session");
        self.sessions.session(hash, now).await
    }
    async fn delete_session(&self, hash: &TokenHash) -> anyhow::Result<()> {
        self.note("delete_session");
        self.sessions.delete_session(hash).await
    }
    async fn create_device(&self, device: &DeviceRecord) -> anyhow::Result<()> {
        self.note("create_device");
        self.sessions.create_device(device).await
    }
    async fn delete_device(&self, user_id: &UserId, hash: &TokenHash) -> anyhow::Result<()> {
        self.note("delete_device");
        self.sessions.delete_device(user_id, hash).await
    }
    async fn sessions_of(&self, user_id: &UserId, now: Timestamp) -> anyhow::Result<Vec<SessionRecord>> {
        self.note("sessions_of");
        self.sessions.sessions_of(user_id, now).await
    }
    async fn known_devices(&self, user_id: &UserId, now: Timestamp) -> anyhow::Result<Vec<TokenHash>> {
        self.note("known_devices");
        self.sessions.known_devices(user_id, now).await
    }
    async fn device(&self, hash: &TokenHash, now: Timestamp) -> anyhow::Result<Option<DeviceRecord>> {
        self.note("device");
        self.sessions.device(hash, now).await
    }
    async fn touch_session(&self, hash: &TokenHash, seen: Timestamp, password: Timestamp) -> anyhow::Result<()> {
        self.note("touch_session");
        self.sessions.touch_session(hash, seen, password).await
    }
}

#[async_trait]
impl LoginAttempts for Recorder {
    async fn reserve(&self, key: &str, now: Timestamp, policy: LockoutPolicy) -> anyhow::Result<Reservation> {
        self.note("reserve");
        self.attempts.reserve(key, now, policy).await
    }
    async fn record_failure(
        &self,
        key: &str,
        now: Timestamp,
        policy: LockoutPolicy,
    ) -> anyhow::Result<Option<LockedNow>> {
        self.note("record_failure");
        self.attempts.record_failure(key, now, policy).await
    }
    async fn clear(&self, key: &str) -> anyhow::Result<()> {
        self.note("clear");
        self.attempts.clear(key).await
    }
    async fn release(&self, key: &str) -> anyhow::Result<()> {
        self.note("release");
        self.attempts.release(key).await
    }
    async fn state(&self, key: &str, now: Timestamp) -> anyhow::Result<LockoutState> {
        self.note("state");
        self.attempts.state(key, now).await
    }
    async fn mark_locked(&self, key: &str, user_id: Option<&UserId>, until: Timestamp) -> anyhow::Result<()> {
        self.note("mark_locked");
        self.attempts.mark_locked(key, user_id, until).await
    }
    async fn locked_now(&self, now: Timestamp, limit: usize) -> anyhow::Result<Vec<(UserId, Timestamp)>> {
        self.note("locked_now");
        self.attempts.locked_now(now, limit).await
    }
}

#[async_trait]
impl JobQueue for Recorder {
    async fn enqueue(&self, queue: Queue, bodies: &[String]) -> anyhow::Result<()> {
        self.note(&format!("enqueue {queue:?} x{}", bodies.len()));
        self.queue.enqueue(queue, bodies).await
    }
}

#[async_trait]
impl Passwords for Recorder {
    async fn hash(&self, password: &Password) -> anyhow::Result<PasswordHash> {
        self.note("hash");
        self.passwords.hash(password).await
    }
    async fn verify(&self, hash: &PasswordHash, candidate: &str) -> anyhow::Result<bool> {
        self.note("verify");
        self.passwords.verify(hash, candidate).await
    }
}

/// An in-memory app whose ports write to a journal; the mail queue is not worked (the worker's
/// calls are not the request's).
fn recorded_app(extra: &[(&str, &str)]) -> (App, Journal, learners::wiring::MemoryParts) {
    let (mut app, parts, _clock) = memory_app();
    let config = Arc::new(learners_tests::config("unused", extra));
    // The site settings start from the configuration: read from this one (no setting saved).
    app.settings = Arc::new(learners::app::SettingsReader::new(parts.store.clone(), config.clone()));
    app.config = config;
    let journal: Journal = Arc::default();
    let recorder = Arc::new(Recorder {
        journal: journal.clone(),
        store: app.store.clone(),
        sessions: app.sessions.clone(),
        attempts: app.attempts.clone(),
        queue: app.queue.clone(),
        passwords: app.passwords.clone(),
    });
    app.store = recorder.clone();
    app.sessions = recorder.clone();
    app.attempts = recorder.clone();
    app.queue = recorder.clone();
    app.passwords = recorder;
    (app, journal, parts)
}

/// The journal of one step, emptied for the next.
fn take(journal: &Journal) -> Vec<String> {
    std::mem::take(&mut *journal.lock().unwrap())
}

fn form(address: &str) -> learners::flows::registration::RegistrationForm {
    learners::flows::registration::RegistrationForm {
        email: address.to_owned(),
        username: unique("u"),
        name: "Uniform Learner".into(),
        password: PASSWORD.into(),
        terms_accepted: true,
    }
}

/// An account in each state, made before recording: pending, active.
async fn accounts(app: &App) -> (String, String) {
    use learners::flows::registration::register;
    let (pending, active) = (email("pending-"), email("active-"));
    register(app, &form(&pending)).await.unwrap();
    register(app, &form(&active)).await.unwrap();
    let user = app.store.user_by_email_key(&active).await.unwrap().unwrap();
    assert!(app.store.activate_user(&user.id, Timestamp::from_unix(0)).await.unwrap());
    (pending, active)
}

#[tokio::test]
async fn registration_does_the_same_work_for_a_new_and_an_existing_address() {
    use learners::flows::registration::register;
    let (app, journal, _parts) = recorded_app(&[]);
    let (pending, active) = accounts(&app).await;
    take(&journal);
    let mut sequences = Vec::new();
    for address in [email("new-"), pending, active] {
        register(&app, &form(&address)).await.unwrap();
        sequences.push(take(&journal));
    }
    assert_eq!(sequences[0], ["hash", "create_user", "enqueue Mail x1"]);
    assert!(sequences.iter().all(|s| *s == sequences[0]), "{sequences:#?}");
}

#[tokio::test]
async fn new_link_and_reset_requests_do_the_same_work_whatever_the_account() {
    use learners::flows::{activation::resend, recovery::request_reset};
    let (app, journal, _parts) = recorded_app(&[]);
    let (pending, active) = accounts(&app).await;
    let unknown = email("unknown-");
    take(&journal);
    let mut resends = Vec::new();
    let mut resets = Vec::new();
    for address in [&pending, &active, &unknown] {
        resend(&app, address).await.unwrap();
        resends.push(take(&journal));
        request_reset(&app, address).await.unwrap();
        resets.push(take(&journal));
    }
    assert_eq!(resends[0], ["enqueue Mail x1"]);
    assert!(resends.iter().all(|s| *s == resends[0]), "{resends:#?}");
    assert_eq!(resets[0], ["enqueue Mail x1"]);
    assert!(resets.iter().all(|s| *s == resets[0]), "{resets:#?}");
}

#[tokio::test]
async fn sign_in_does_the_same_work_for_an_unknown_address_and_a_wrong_password() {
    use learners::flows::signin::{sign_in_from, Client};
    let (app, journal, _parts) = recorded_app(&[("LEARNERS_MAX_FAILED_LOGINS", "3")]);
    let (_, active) = accounts(&app).await;
    let unknown = email("unknown-");
    take(&journal);
    // A well-formed device cookie that this account never gave.
    let stranger = learners::domain::Token::generate();
    let client = Client { device: Some(stranger.as_str()), session: None, ip: Some("192.0.2.7"), user_agent: None };
    // Three attempts each: two failures, then the one that locks (and queues the lock notice).
    let mut runs = Vec::new();
    for address in [&active, &unknown] {
        let mut run = Vec::new();
        for _ in 0..3 {
            assert!(sign_in_from(&app, address, "wrong password here", client).await.is_err());
            run.push(take(&journal));
        }
        runs.push(run);
    }
    assert_eq!(runs[0], runs[1], "known account, wrong password vs unknown address");
    assert!(runs[0][2].iter().any(|c| c == "enqueue Mail x1"), "the locking attempt queues a notice: {:?}", runs[0][2]);
    assert!(runs[0][0].contains(&"verify".to_owned()));
    // The lock itself: one more attempt each, refused before any verification, alike.
    let locked: Vec<Vec<String>> = {
        let mut out = Vec::new();
        for address in [&active, &unknown] {
            assert!(sign_in_from(&app, address, PASSWORD, client).await.is_err());
            out.push(take(&journal));
        }
        out
    };
    assert_eq!(locked[0], locked[1]);
    assert!(!locked[0].contains(&"verify".to_owned()), "a locked attempt verifies nothing");
}
