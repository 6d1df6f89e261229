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
