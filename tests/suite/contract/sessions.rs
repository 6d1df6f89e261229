//! `SessionStore`: sessions (operator sessions' idle end included) and known browsers.

use super::*;
use learners_tests::{on_both_backends, Backend};

on_both_backends!(
    sessions_are_stored_read_until_expiry_and_deleted,
    operator_sessions_end_when_idle_and_record_the_password,
    devices_are_remembered_listed_and_expire,
    a_device_is_forgotten_by_its_account_only,
    an_accounts_sessions_are_listed_oldest_first,
);

async fn an_accounts_sessions_are_listed_oldest_first(backend: Backend) {
    let store = store_on(backend).await;
    let grace = user("grace@example.com", "grace");
    let alan = user("alan@example.com", "alan");
    let session = |owner: &User, started: i64, lasts: i64, browser: &str| SessionRecord {
        hash: Token::generate().hash(),
        user_id: owner.id.clone(),
        auth_epoch: 1,
        created_at: NOW.plus_seconds(started),
        expires_at: NOW.plus_seconds(started + lasts),
        operator: false,
        last_seen_at: NOW.plus_seconds(started),
        idle_seconds: 86_400,
        password_at: NOW.plus_seconds(started),
        methods: vec![AuthMethod::Password],
        browser: browser.to_owned(),
    };
    let (later, first, short) =
        (session(&grace, 5, 600, "Chrome on Android"), session(&grace, 0, 600, ""), session(&grace, 2, 60, "Safari"));
    let theirs = session(&alan, 0, 600, "Firefox on Linux");
    for s in [&later, &first, &short, &theirs] {
        store.create_session(s).await.unwrap();
    }
    let listed = store.sessions_of(&grace.id, NOW.plus_seconds(10)).await.unwrap();
    assert_eq!(listed, vec![first.clone(), short.clone(), later.clone()], "oldest first, as stored");
    assert_eq!(listed[0].browser_label(), learners::domain::UNKNOWN_BROWSER);
    // Expired (its reference may linger): not listed.
    assert_eq!(store.sessions_of(&grace.id, NOW.plus_seconds(62)).await.unwrap(), vec![first.clone(), later.clone()]);
    // Signed out: not listed.
    store.delete_session(&first.hash).await.unwrap();
    assert_eq!(store.sessions_of(&grace.id, NOW.plus_seconds(10)).await.unwrap(), vec![short, later]);
    assert_eq!(store.sessions_of(&alan.id, NOW).await.unwrap(), vec![theirs]);
    assert!(store.sessions_of(&UserId::generate(), NOW).await.unwrap().is_empty());
}

async fn sessions_are_stored_read_until_expiry_and_deleted(backend: Backend) {
    let store = store_on(backend).await;
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
        idle_seconds: 86_400,
        password_at: NOW,
        methods: vec![AuthMethod::Password, AuthMethod::AuthenticatorCode],
        browser: "Firefox on Linux".to_owned(),
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

async fn operator_sessions_end_when_idle_and_record_the_password(backend: Backend) {
    let store = store_on(backend).await;
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
        idle_seconds: OPERATOR_IDLE_SECONDS,
        password_at: NOW,
        methods: vec![AuthMethod::Password, AuthMethod::AuthenticatorCode],
        browser: "Firefox on Linux".to_owned(),
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

async fn devices_are_remembered_listed_and_expire(backend: Backend) {
    let store = store_on(backend).await;
    use learners::domain::DeviceRecord;
    let grace = user("grace@example.com", "grace");
    let alan = user("alan@example.com", "alan");
    let (first, second, other) = (Token::generate(), Token::generate(), Token::generate());
    for (token, owner, ttl) in [(&first, &grace, 60), (&second, &grace, 120), (&other, &alan, 60)] {
        let device = DeviceRecord {
            hash: token.hash(),
            user_id: owner.id.clone(),
            auth_epoch: 0,
            created_at: NOW,
            expires_at: NOW.plus_seconds(ttl),
        };
        store.create_device(&device).await.unwrap();
    }
    let read = store.device(&first.hash(), NOW).await.unwrap().expect("a known device");
    assert_eq!(read.user_id, grace.id);
    assert_eq!(store.device(&first.hash(), NOW.plus_seconds(60)).await.unwrap(), None, "expired");
    // Oldest first (the first expires first).
    assert_eq!(store.known_devices(&grace.id, NOW).await.unwrap(), vec![first.hash(), second.hash()]);
    assert_eq!(store.known_devices(&grace.id, NOW.plus_seconds(60)).await.unwrap(), vec![second.hash()]);
    assert_eq!(store.known_devices(&alan.id, NOW).await.unwrap(), vec![other.hash()]);
}

async fn a_device_is_forgotten_by_its_account_only(backend: Backend) {
    let store = store_on(backend).await;
    let grace = user("grace@example.com", "grace");
    let alan = user("alan@example.com", "alan");
    let tokens: Vec<Token> = (0..3).map(|_| Token::generate()).collect();
    for (i, token) in tokens.iter().enumerate() {
        let device = DeviceRecord {
            hash: token.hash(),
            user_id: grace.id.clone(),
            auth_epoch: 4,
            created_at: NOW.plus_seconds(i as i64),
            expires_at: NOW.plus_seconds(3_600 + i as i64),
        };
        store.create_device(&device).await.unwrap();
    }
    let read = store.device(&tokens[0].hash(), NOW).await.unwrap().expect("a known device");
    assert_eq!(read.auth_epoch, 4, "the epoch is kept");
    // Another account's id deletes nothing.
    store.delete_device(&alan.id, &tokens[1].hash()).await.unwrap();
    assert!(store.device(&tokens[1].hash(), NOW).await.unwrap().is_some());
    store.delete_device(&grace.id, &tokens[1].hash()).await.unwrap();
    assert_eq!(store.device(&tokens[1].hash(), NOW).await.unwrap(), None);
    assert_eq!(store.known_devices(&grace.id, NOW).await.unwrap(), vec![tokens[0].hash(), tokens[2].hash()]);
    // Gone already: nothing happens, nothing fails.
    store.delete_device(&grace.id, &tokens[1].hash()).await.unwrap();
}
