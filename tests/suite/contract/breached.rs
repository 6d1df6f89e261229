//! `BreachedPasswords`: the range API adapter against a fake range server on 127.0.0.1 (never
//! the real service), and the in-memory twin.

use learners::adapters::breached::{KnownBreaches, RangeApi};
use learners::domain::PasswordPolicy;
use learners::ports::BreachedPasswords;
use learners_tests::range::{answers, FakeRange, Outage, BREACHED, PADDED};
use std::time::Duration;

fn checked(typed: &str) -> learners::domain::Password {
    PasswordPolicy::default().check(typed, &[]).unwrap()
}

#[tokio::test]
async fn the_range_api_is_asked_by_prefix_with_padding_and_a_padded_entry_is_no_hit() {
    let fake = FakeRange::start(answers(), Outage::None).await;
    let api: &dyn BreachedPasswords = &RangeApi::new(&format!("{}/", fake.base), Duration::from_secs(2));
    assert!(api.is_breached(&checked(BREACHED.0)).await.unwrap(), "a listed suffix, in lower case, is a hit");
    assert!(!api.is_breached(&checked(PADDED.0)).await.unwrap(), "a padded entry (count 0) is no hit");
    assert!(!api.is_breached(&checked("violet kettle drums 42")).await.unwrap(), "an unlisted suffix is no hit");
    let requests = fake.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, [format!("/range/{}", BREACHED.1), format!("/range/{}", PADDED.1), "/range/D0D9E".to_owned()]);
    assert!(requests.iter().all(|r| r.padding), "every query asks for padding: {requests:?}");
    assert!(
        requests.iter().all(|r| !r.path.contains(BREACHED.2) && !r.path.contains("amber")),
        "only the prefix leaves"
    );
}

#[tokio::test]
async fn an_outage_or_a_slow_answer_is_an_error_not_a_verdict() {
    let unavailable = FakeRange::start(answers(), Outage::Unavailable).await;
    let api = RangeApi::new(&unavailable.base, Duration::from_secs(2));
    assert!(api.is_breached(&checked(BREACHED.0)).await.is_err(), "a 503 is no verdict");

    let hangs = FakeRange::start(answers(), Outage::Hangs).await;
    let api = RangeApi::new(&hangs.base, Duration::from_millis(300));
    let started = std::time::Instant::now();
    assert!(api.is_breached(&checked(BREACHED.0)).await.is_err(), "a timeout is no verdict");
    assert!(started.elapsed() < Duration::from_secs(2), "the timeout holds: {:?}", started.elapsed());

    // Nothing listens: refused at once.
    let closed = { std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap() };
    let api = RangeApi::new(&format!("http://{closed}"), Duration::from_secs(2));
    assert!(api.is_breached(&checked(BREACHED.0)).await.is_err());
}

#[tokio::test]
async fn the_in_memory_twin_knows_what_it_was_told_in_nfkc() {
    let known = KnownBreaches::new();
    let twin: &dyn BreachedPasswords = &known;
    assert!(!twin.is_breached(&checked(BREACHED.0)).await.unwrap(), "empty, it finds nothing (the setting off)");
    known.add("ａｍｂｅｒ ｆｅｒｒｙ ｌｉｇｈｔｓ １９８７");
    assert!(twin.is_breached(&checked(BREACHED.0)).await.unwrap(), "told in full-width, found as typed in ASCII");
    assert!(!twin.is_breached(&checked(PADDED.0)).await.unwrap());
}
