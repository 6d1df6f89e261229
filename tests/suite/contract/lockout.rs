//! `LoginAttempts`: the sign-in counter, its limit and its lock, under concurrency.

use super::*;
use learners_tests::{on_both_backends, Backend};

on_both_backends!(
    reservations_stop_at_the_limit_and_one_failure_locks,
    a_lock_ends_by_itself_and_clear_forgets,
    concurrent_reservations_grant_exactly_the_limit,
    a_released_attempt_is_given_back_unless_locked,
);

async fn reservations_stop_at_the_limit_and_one_failure_locks(backend: Backend) {
    let attempts = store_on(backend).await;
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

async fn a_lock_ends_by_itself_and_clear_forgets(backend: Backend) {
    let attempts = store_on(backend).await;
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

async fn concurrent_reservations_grant_exactly_the_limit(backend: Backend) {
    let attempts = store_on(backend).await;
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

async fn a_released_attempt_is_given_back_unless_locked(backend: Backend) {
    let attempts = store_on(backend).await;
    for _ in 0..3 {
        assert_eq!(attempts.reserve("k", NOW, POLICY).await.unwrap(), Reservation::Granted);
    }
    assert_eq!(attempts.reserve("k", NOW, POLICY).await.unwrap(), Reservation::Refused { locked_until: None });
    // A success gives its attempt back: one more may run.
    attempts.release("k").await.unwrap();
    assert_eq!(attempts.state("k", NOW).await.unwrap(), LockoutState { failures: 2, locked_until: None });
    assert_eq!(attempts.reserve("k", NOW, POLICY).await.unwrap(), Reservation::Granted);
    attempts.record_failure("k", NOW, POLICY).await.unwrap().expect("the failure at the limit locks");
    // A lock is not undone by a release.
    attempts.release("k").await.unwrap();
    let until = Some(NOW.plus_seconds(600));
    assert_eq!(attempts.state("k", NOW).await.unwrap(), LockoutState { failures: 3, locked_until: until });
    // Nothing to give back: the count stays at zero.
    attempts.release("never-seen").await.unwrap();
    assert_eq!(attempts.state("never-seen", NOW).await.unwrap(), LockoutState::default());
    attempts.reserve("once", NOW, POLICY).await.unwrap();
    attempts.release("once").await.unwrap();
    attempts.release("once").await.unwrap();
    assert_eq!(attempts.state("once", NOW).await.unwrap().failures, 0);
    assert_eq!(attempts.reserve("once", NOW, POLICY).await.unwrap(), Reservation::Granted);
    assert_eq!(attempts.state("once", NOW).await.unwrap().failures, 1);
}
