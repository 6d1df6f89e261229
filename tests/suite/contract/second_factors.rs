//! `SecondFactorStore`: versioned replacement of an account's factors, deleted with it, and
//! challenges taken once.

use super::*;
use learners::domain::{Challenge, ChallengePurpose, SecondFactors, TotpFactor};
use learners::ports::SecondFactorStore;
use learners_tests::{on_both_backends, Backend};

async fn factors_store(backend: Backend) -> (Arc<dyn Store>, Arc<dyn SecondFactorStore>) {
    match backend {
        Backend::Memory => {
            let store = Arc::new(MemoryStore::new());
            (store.clone(), store)
        }
        Backend::Moto => {
            let store = Arc::new(dynamo_store(learners_tests::unique("contract-")).await);
            (store.clone(), store)
        }
    }
}

on_both_backends!(factors_are_replaced_on_the_version_read_only);
async fn factors_are_replaced_on_the_version_read_only(backend: Backend) {
    let (store, factors) = factors_store(backend).await;
    let ada = user("ada@example.com", "ada");
    store.create_user(&ada, None).await.unwrap();
    assert_eq!(factors.second_factors(&ada.id).await.unwrap(), SecondFactors::default());
    let totp = TotpFactor { secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP".into(), last_step: 1, created_at: NOW.unix() };
    let first = SecondFactors { version: 1, totp: Some(totp), ..Default::default() };
    assert!(factors.save_second_factors(&ada.id, &first).await.unwrap());
    assert!(!factors.save_second_factors(&ada.id, &first).await.unwrap(), "version 1 again: refused");
    assert_eq!(factors.second_factors(&ada.id).await.unwrap(), first);
    // Two writers of version 1: the first wins, the second changes nothing.
    let mut a = first.next();
    a.totp.as_mut().unwrap().last_step = 2;
    let mut b = first.next();
    b.recovery_codes = vec!["x".into()];
    assert!(factors.save_second_factors(&ada.id, &a).await.unwrap());
    assert!(!factors.save_second_factors(&ada.id, &b).await.unwrap());
    assert_eq!(factors.second_factors(&ada.id).await.unwrap(), a);
    // No account, no factors.
    let ghost = user("ghost@example.com", "ghost");
    assert!(!factors.save_second_factors(&ghost.id, &first).await.unwrap());
    assert_eq!(factors.second_factors(&ghost.id).await.unwrap(), SecondFactors::default());
    // Deleted with the account.
    let key = "counter";
    let retirement = retirement_of(&ada, "arn:op");
    let request = DeleteRequest { user: &ada, counter_key: key, retirement: &retirement, job_row: None, audit: None };
    assert_eq!(store.delete_user(&request).await.unwrap(), Deleted::Deleted);
    assert_eq!(factors.second_factors(&ada.id).await.unwrap(), SecondFactors::default());
}

on_both_backends!(a_challenge_is_taken_once_and_not_after_expiry);
async fn a_challenge_is_taken_once_and_not_after_expiry(backend: Backend) {
    let (_, factors) = factors_store(backend).await;
    let ada = user("ada@example.com", "ada");
    let token = Token::generate();
    let challenge = Challenge {
        hash: token.hash(),
        purpose: ChallengePurpose::SignIn,
        user_id: Some(ada.id.clone()),
        state: r#"{"a":1}"#.into(),
        expires_at: NOW.plus_seconds(600),
    };
    factors.put_challenge(&challenge).await.unwrap();
    assert!(factors.put_challenge(&challenge).await.is_err(), "a clash is an error");
    assert_eq!(factors.challenge(&token.hash(), NOW).await.unwrap(), Some(challenge.clone()));
    assert_eq!(factors.challenge(&token.hash(), NOW.plus_seconds(600)).await.unwrap(), None, "expired");
    assert_eq!(factors.take_challenge(&token.hash(), NOW.plus_seconds(600)).await.unwrap(), None, "expired");
    let hash = token.hash();
    let takes = futures::future::join_all((0..4).map(|_| factors.take_challenge(&hash, NOW))).await;
    let taken: Vec<Challenge> = takes.into_iter().filter_map(Result::unwrap).collect();
    assert_eq!(taken, vec![challenge], "exactly one take gets it");
    assert_eq!(factors.challenge(&token.hash(), NOW).await.unwrap(), None);
    let anonymous = Challenge { hash: Token::generate().hash(), user_id: None, ..taken_or(&token) };
    factors.put_challenge(&anonymous).await.unwrap();
    assert_eq!(factors.take_challenge(&anonymous.hash, NOW).await.unwrap(), Some(anonymous));
}

fn taken_or(token: &Token) -> Challenge {
    Challenge {
        hash: token.hash(),
        purpose: ChallengePurpose::PasskeyAuthentication,
        user_id: None,
        state: "{}".into(),
        expires_at: NOW.plus_seconds(60),
    }
}
