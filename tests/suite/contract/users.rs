//! `UserStore`: accounts, their claims, emailed tokens, quotas, the operator role, deletion.

use super::*;
use learners_tests::{on_both_backends, Backend};

on_both_backends!(
    created_users_read_back,
    email_and_username_are_unique_case_insensitively,
    a_refused_user_leaves_nothing_behind,
    concurrent_creations_of_one_email_store_one_user,
    an_activation_token_is_consumed_once_under_concurrency,
    expired_and_unknown_tokens_activate_nothing,
    emailed_tokens_are_stored_and_read_back_used_or_not,
    a_new_activation_token_ends_the_older_ones,
    concurrent_new_activation_tokens_replace_once,
    a_pending_registration_is_replaced_in_the_next_epoch_and_moves_its_username,
    concurrent_replacements_of_one_registration_apply_once,
    a_reset_link_sets_the_password_once,
    a_reset_link_is_used_once_under_concurrency,
    an_operator_sets_a_password_and_ends_every_session,
    an_operator_activates_an_account_once_and_for_all,
    removal_requests_raise_the_auth_epoch,
    a_learner_changes_their_name,
    raising_the_epoch_applies_once_from_the_epoch_read,
    disabling_ends_the_epoch_and_enabling_restores_once,
    the_operator_role_is_granted_listed_and_revoked,
    a_refusal_of_mail_is_recorded_on_the_account,
    an_operator_clears_a_refusal_of_mail,
    quotas_allow_their_limit_per_window,
    quotas_report_their_uses_in_the_current_window,
    a_deleted_account_leaves_only_its_retirement_record,
    concurrent_deletions_of_one_account_delete_it_once,
    a_refused_last_write_leaves_the_account_without_what_it_owned,
    an_email_change_moves_the_claim_and_spends_its_link_once,
    an_email_change_to_a_taken_address_or_from_a_stale_read_changes_nothing,
    concurrent_email_changes_to_one_address_move_one_account,
    an_email_revert_ends_every_session,
    claims_are_looked_up_in_batches_past_a_hundred_keys,
);

/// 120 accounts and as many unknown keys: more than one BatchGetItem request of 100 keys on
/// either side; each held claim answers with its account (the operator role included), and
/// nothing else does.
async fn claims_are_looked_up_in_batches_past_a_hundred_keys(backend: Backend) {
    let store = store_on(backend).await;
    let mut emails = Vec::new();
    let mut usernames = Vec::new();
    let mut users = Vec::new();
    for i in 0..120 {
        let learner = user(&format!("Learner{i}@Example.com"), &format!("Learner_{i}"));
        store.create_user(&learner, None).await.unwrap();
        emails.push(format!("learner{i}@example.com"));
        emails.push(format!("nobody{i}@example.com"));
        usernames.push(format!("learner_{i}"));
        usernames.push(format!("nobody_{i}"));
        users.push(learner);
    }
    store.activate_user(&users[7].id, NOW).await.unwrap();
    assert!(store.set_operator(&users[7].id, true).await.unwrap());
    let held = store.claims_held(&emails, &usernames).await.unwrap();
    assert_eq!(held.emails.len(), 120);
    assert_eq!(held.usernames.len(), 120);
    assert_eq!(held.emails["learner3@example.com"], users[3]);
    assert!(held.emails["learner7@example.com"].operator);
    assert!(held.usernames.contains("learner_119") && !held.usernames.contains("nobody_0"));
    assert!(!held.emails.contains_key("nobody0@example.com"));
    assert_eq!(store.claims_held(&[], &[]).await.unwrap(), learners::ports::HeldClaims::default());
}

/// The memory store keeps BatchGetItem's mechanisms, not only its results: at most 100 keys a
/// request, and keys a request leaves unprocessed (as under throttling) asked again until
/// answered; a store that answers nothing at all is an error, not an endless loop.
#[tokio::test]
async fn unprocessed_keys_of_a_batch_are_asked_again() {
    let store = MemoryStore::new();
    let mut emails = Vec::new();
    for i in 0..30 {
        store.create_user(&user(&format!("l{i}@example.com"), &format!("l{i}")), None).await.unwrap();
        emails.push(format!("l{i}@example.com"));
    }
    store.inner().set_batch_get_capacity(7);
    let held = store.claims_held(&emails, &["l0".to_owned()]).await.unwrap();
    assert_eq!((held.emails.len(), held.usernames.len()), (30, 1));
    // 31 claims 7 at a time, then 30 accounts 7 at a time.
    assert_eq!(store.inner().batch_get_requests(), 5 + 5);
    store.inner().set_batch_get_capacity(0);
    let stalled = store.claims_held(&emails, &[]).await.unwrap_err();
    assert!(stalled.to_string().contains("answered nothing"), "{stalled:#}");
}

async fn created_users_read_back(backend: Backend) {
    let store = store_on(backend).await;
    let grace = user("Grace@Example.com", "Grace_H");
    store.create_user(&grace, None).await.unwrap();
    assert_eq!(store.user_by_email_key("grace@example.com").await.unwrap(), Some(grace.clone()));
    assert_eq!(store.user_by_id(&grace.id).await.unwrap(), Some(grace));
    assert_eq!(store.user_by_email_key("other@example.com").await.unwrap(), None);
    assert_eq!(store.user_by_id(&UserId::generate()).await.unwrap(), None);
}

async fn email_and_username_are_unique_case_insensitively(backend: Backend) {
    let store = store_on(backend).await;
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

async fn a_refused_user_leaves_nothing_behind(backend: Backend) {
    let store = store_on(backend).await;
    store.create_user(&user("grace@example.com", "grace"), None).await.unwrap();
    let refused = user("grace@example.com", "newname");
    let (token, record) = activation_token(&refused, 3600);
    assert!(store.create_user(&refused, Some(&record)).await.is_err());
    // Neither the username claim, the user nor the token of the refused write exists.
    assert!(store.user_by_id(&refused.id).await.unwrap().is_none());
    assert_eq!(store.consume_activation_token(&token.hash(), NOW).await.unwrap(), TokenUse::Unknown);
    store.create_user(&user("new@example.com", "newname"), None).await.expect("the username is still free");
}

async fn concurrent_creations_of_one_email_store_one_user(backend: Backend) {
    let store = store_on(backend).await;
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

async fn an_activation_token_is_consumed_once_under_concurrency(backend: Backend) {
    let store = store_on(backend).await;
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

async fn expired_and_unknown_tokens_activate_nothing(backend: Backend) {
    let store = store_on(backend).await;
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

async fn emailed_tokens_are_stored_and_read_back_used_or_not(backend: Backend) {
    let store = store_on(backend).await;
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

async fn a_new_activation_token_ends_the_older_ones(backend: Backend) {
    let store = store_on(backend).await;
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

async fn concurrent_new_activation_tokens_replace_once(backend: Backend) {
    let store = store_on(backend).await;
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

/// `user`'s next registration: another username, name, password hash and terms time, one epoch on.
fn replacement(user: &User, username: &str, hash: &str) -> User {
    User {
        username: learners::domain::Username::parse(username).unwrap(),
        name: learners::domain::FullName::parse("Alan Turing").unwrap(),
        password_hash: Some(PasswordHash::from_phc(hash.to_owned())),
        terms_accepted_at: Some(NOW.plus_seconds(5)),
        auth_epoch: user.auth_epoch + 1,
        ..user.clone()
    }
}

async fn a_pending_registration_is_replaced_in_the_next_epoch_and_moves_its_username(backend: Backend) {
    use learners::ports::Reregistration;
    let store = store_on(backend).await;
    let grace = User {
        password_hash: Some(PasswordHash::from_phc("$argon2id$first".into())),
        ..user("grace@example.com", "grace")
    };
    let (old_link, record) = activation_token(&grace, 3600);
    store.create_user(&grace, Some(&record)).await.unwrap();
    let next = replacement(&grace, "Alan_T", "$argon2id$second");
    assert_eq!(store.replace_registration(&grace, &next).await.unwrap(), Reregistration::Replaced);
    assert_eq!(store.user_by_id(&grace.id).await.unwrap(), Some(next.clone()));
    assert_eq!(store.user_by_email_key("grace@example.com").await.unwrap(), Some(next.clone()));
    assert!(!store.username_taken("grace").await.unwrap(), "the old username is free");
    assert!(store.username_taken("alan_t").await.unwrap());
    // The earlier registration's link ended with it.
    assert_eq!(store.consume_activation_token(&old_link.hash(), NOW).await.unwrap(), TokenUse::Unknown);
    // A replacement from a stale read changes nothing.
    let stale = replacement(&grace, "stale", "$argon2id$stale");
    assert_eq!(store.replace_registration(&grace, &stale).await.unwrap(), Reregistration::Changed);
    assert!(!store.username_taken("stale").await.unwrap());
    // A username another account holds is refused, and nothing changes.
    store.create_user(&user("other@example.com", "taken"), None).await.unwrap();
    let clash = replacement(&next, "Taken", "$argon2id$clash");
    assert_eq!(store.replace_registration(&next, &clash).await.unwrap(), Reregistration::UsernameTaken);
    assert_eq!(store.user_by_id(&grace.id).await.unwrap(), Some(next.clone()));
    assert!(store.username_taken("alan_t").await.unwrap());
    // The same username: only the rest changes.
    let same = replacement(&next, "alan_t", "$argon2id$third");
    assert_eq!(store.replace_registration(&next, &same).await.unwrap(), Reregistration::Replaced);
    assert_eq!(store.user_by_id(&grace.id).await.unwrap(), Some(same.clone()));
    assert!(store.username_taken("alan_t").await.unwrap());
    // Not for an account that is not the one read: a broken promise is an error.
    let skips = User { auth_epoch: same.auth_epoch + 2, ..replacement(&same, "skips", "$argon2id$x") };
    assert!(store.replace_registration(&same, &skips).await.is_err());
    // An active account, or one made by an operator, is never replaced.
    assert!(store.activate_user(&grace.id, NOW).await.unwrap());
    let active = store.user_by_id(&grace.id).await.unwrap().unwrap();
    let late = replacement(&active, "late", "$argon2id$late");
    assert_eq!(store.replace_registration(&active, &late).await.unwrap(), Reregistration::Changed);
    assert_eq!(store.user_by_id(&grace.id).await.unwrap(), Some(active));
    let bulk = User { source: learners::domain::UserSource::Bulk, ..user("bulk@example.com", "bulk") };
    store.create_user(&bulk, None).await.unwrap();
    let over = replacement(&bulk, "over", "$argon2id$over");
    assert_eq!(store.replace_registration(&bulk, &over).await.unwrap(), Reregistration::Changed);
    assert!(!store.username_taken("over").await.unwrap());
}

async fn concurrent_replacements_of_one_registration_apply_once(backend: Backend) {
    use learners::ports::Reregistration;
    let store = store_on(backend).await;
    let grace = User {
        password_hash: Some(PasswordHash::from_phc("$argon2id$first".into())),
        ..user("grace@example.com", "grace")
    };
    store.create_user(&grace, None).await.unwrap();
    let tasks = (0..10).map(|i| {
        let store = store.clone();
        let next = replacement(&grace, &format!("racer{i}"), &format!("$argon2id${i}"));
        tokio::spawn(async move {
            store.replace_registration(&grace_of(&next), &next).await.unwrap() == Reregistration::Replaced
        })
    });
    assert_eq!(futures_count(tasks).await, 1);
    let stored = store.user_by_id(&grace.id).await.unwrap().unwrap();
    assert_eq!(stored.auth_epoch, 1);
    let mut claimed = Vec::new();
    for i in 0..10 {
        if store.username_taken(&format!("racer{i}")).await.unwrap() {
            claimed.push(format!("racer{i}"));
        }
    }
    assert_eq!(claimed, [stored.username.key()], "only the winner's username is claimed");
    assert!(!store.username_taken("grace").await.unwrap());
}

/// The registration `next` replaces, as read: the first one (epoch 0, username `grace`).
fn grace_of(next: &User) -> User {
    User {
        username: learners::domain::Username::parse("grace").unwrap(),
        name: learners::domain::FullName::parse("Grace Hopper").unwrap(),
        password_hash: Some(PasswordHash::from_phc("$argon2id$first".into())),
        terms_accepted_at: Some(NOW),
        auth_epoch: 0,
        ..next.clone()
    }
}

async fn a_reset_link_sets_the_password_once(backend: Backend) {
    let store = store_on(backend).await;
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

async fn a_reset_link_is_used_once_under_concurrency(backend: Backend) {
    let store = store_on(backend).await;
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

async fn an_operator_sets_a_password_and_ends_every_session(backend: Backend) {
    let store = store_on(backend).await;
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

async fn an_operator_activates_an_account_once_and_for_all(backend: Backend) {
    let store = store_on(backend).await;
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

async fn removal_requests_raise_the_auth_epoch(backend: Backend) {
    let store = store_on(backend).await;
    let grace = user("grace@example.com", "grace");
    store.create_user(&grace, None).await.unwrap();
    assert!(store.request_removal(&grace.id).await.unwrap());
    let stored = store.user_by_id(&grace.id).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.auth_epoch), (UserStatus::RemovalRequested, 1));
    assert!(!store.request_removal(&UserId::generate()).await.unwrap());
}

async fn a_learner_changes_their_name(backend: Backend) {
    let store = store_on(backend).await;
    let grace = user("grace@example.com", "grace");
    store.create_user(&grace, None).await.unwrap();
    let name = learners::domain::FullName::parse("Grace Brewster Hopper").unwrap();
    assert!(store.set_name(&grace.id, &name).await.unwrap());
    let stored = store.user_by_id(&grace.id).await.unwrap().unwrap();
    assert_eq!(stored, User { name: name.clone(), ..grace.clone() }, "the name and nothing else");
    assert!(!store.set_name(&UserId::generate(), &name).await.unwrap(), "no such user");
    assert!(store.user_by_email_key("nobody@example.com").await.unwrap().is_none(), "no account made");
    assert!(store.request_removal(&grace.id).await.unwrap());
    let other = learners::domain::FullName::parse("Someone Else").unwrap();
    assert!(!store.set_name(&grace.id, &other).await.unwrap(), "being removed");
    assert_eq!(store.user_by_id(&grace.id).await.unwrap().unwrap().name, name);
}

async fn raising_the_epoch_applies_once_from_the_epoch_read(backend: Backend) {
    let store = store_on(backend).await;
    let grace = user("grace@example.com", "grace");
    store.create_user(&grace, None).await.unwrap();
    let before = grace.password_hash.clone();
    // Without a password: the epoch only ("Sign out everywhere else").
    assert!(store.raise_auth_epoch(&grace.id, 0, None).await.unwrap());
    let stored = store.user_by_id(&grace.id).await.unwrap().unwrap();
    assert_eq!((stored.auth_epoch, stored.password_hash.clone()), (1, before));
    // From an epoch no longer current: nothing.
    assert!(!store.raise_auth_epoch(&grace.id, 0, Some(&password_hash("late"))).await.unwrap());
    assert_eq!(store.user_by_id(&grace.id).await.unwrap().unwrap(), stored);
    // With a password, in the same write.
    assert!(store.raise_auth_epoch(&grace.id, 1, Some(&password_hash("new"))).await.unwrap());
    let stored = store.user_by_id(&grace.id).await.unwrap().unwrap();
    assert_eq!((stored.auth_epoch, stored.password_hash), (2, Some(password_hash("new"))));
    // Of many changes from one epoch, one applies.
    let tasks = (0..6).map(|i| {
        let (store, id) = (store.clone(), grace.id.clone());
        tokio::spawn(
            async move { store.raise_auth_epoch(&id, 2, Some(&password_hash(&format!("p{i}")))).await.unwrap() },
        )
    });
    assert_eq!(futures_count(tasks).await, 1);
    assert_eq!(store.user_by_id(&grace.id).await.unwrap().unwrap().auth_epoch, 3);
    assert!(!store.raise_auth_epoch(&UserId::generate(), 0, None).await.unwrap(), "no such user");
    assert!(store.request_removal(&grace.id).await.unwrap());
    assert!(!store.raise_auth_epoch(&grace.id, 4, None).await.unwrap(), "being removed");
}

async fn disabling_ends_the_epoch_and_enabling_restores_once(backend: Backend) {
    let store = store_on(backend).await;
    let grace = user("grace@example.com", "grace");
    store.create_user(&grace, None).await.unwrap();
    let at = learners::domain::Timestamp::from_unix(NOW.unix() + 5);
    // Disabling: the time is set and the epoch raised, in one write; the status stays.
    assert!(store.set_disabled(&grace.id, 0, Some(at)).await.unwrap());
    let stored = store.user_by_id(&grace.id).await.unwrap().unwrap();
    assert_eq!(stored, User { disabled_at: Some(at), auth_epoch: 1, ..grace.clone() });
    // Twice: the second changes nothing (already disabled), nor does a stale epoch.
    assert!(!store.set_disabled(&grace.id, 1, Some(NOW)).await.unwrap(), "already disabled");
    assert!(!store.set_disabled(&grace.id, 0, None).await.unwrap(), "a stale epoch");
    assert_eq!(store.user_by_id(&grace.id).await.unwrap().unwrap(), stored);
    // Enabling: the time goes, the epoch stays (what the disabling ended stays ended).
    assert!(store.set_disabled(&grace.id, 1, None).await.unwrap());
    assert_eq!(store.user_by_id(&grace.id).await.unwrap().unwrap(), User { auth_epoch: 1, ..grace.clone() });
    assert!(!store.set_disabled(&grace.id, 1, None).await.unwrap(), "already enabled");
    // Of many disablings from one epoch, one applies.
    let tasks = (0..6).map(|_| {
        let (store, id) = (store.clone(), grace.id.clone());
        tokio::spawn(async move { store.set_disabled(&id, 1, Some(NOW)).await.unwrap() })
    });
    assert_eq!(futures_count(tasks).await, 1);
    assert_eq!(store.user_by_id(&grace.id).await.unwrap().unwrap().auth_epoch, 2);
    assert!(!store.set_disabled(&UserId::generate(), 0, Some(NOW)).await.unwrap(), "no such user");
    assert!(store.request_removal(&grace.id).await.unwrap());
    assert!(!store.set_disabled(&grace.id, 3, None).await.unwrap(), "being removed");
}

async fn the_operator_role_is_granted_listed_and_revoked(backend: Backend) {
    let store = store_on(backend).await;
    let grace = user("grace@example.com", "grace");
    let alan = user("alan@example.com", "alan");
    store.create_user(&grace, None).await.unwrap();
    store.create_user(&alan, None).await.unwrap();
    assert!(store.operators().await.unwrap().is_empty());
    // Granted to an active account only: a pending one was proven by nobody's mailbox.
    assert!(!store.set_operator(&grace.id, true).await.unwrap(), "a pending account");
    assert!(!store.user_by_id(&grace.id).await.unwrap().unwrap().operator);
    assert!(store.operators().await.unwrap().is_empty());
    assert!(store.activate_user(&grace.id, NOW).await.unwrap());
    assert!(store.activate_user(&alan.id, NOW).await.unwrap());
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

async fn a_refusal_of_mail_is_recorded_on_the_account(backend: Backend) {
    let store = store_on(backend).await;
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

async fn an_operator_clears_a_refusal_of_mail(backend: Backend) {
    let store = store_on(backend).await;
    let grace = user("grace@example.com", "grace");
    store.create_user(&grace, None).await.unwrap();
    let bounce = MailRefusal { kind: MailRefusalKind::Bounce, address: "grace@example.com".into(), at: NOW };
    assert!(store.mark_mail_refused(&grace.id, &bounce).await.unwrap());
    assert!(store.clear_mail_refusal(&grace.id).await.unwrap());
    let stored = store.user_by_id(&grace.id).await.unwrap().unwrap();
    assert_eq!(stored, grace, "the refusal is gone, the rest untouched");
    assert!(stored.mailable());
    // Clearing twice is no error; no account, no change.
    assert!(store.clear_mail_refusal(&grace.id).await.unwrap());
    assert!(!store.clear_mail_refusal(&UserId::generate()).await.unwrap());
    assert!(store.user_by_id(&UserId::generate()).await.unwrap().is_none());
}

async fn quotas_allow_their_limit_per_window(backend: Backend) {
    let store = store_on(backend).await;
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

async fn quotas_report_their_uses_in_the_current_window(backend: Backend) {
    let store = store_on(backend).await;
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

async fn a_deleted_account_leaves_only_its_retirement_record(backend: Backend) {
    let store = store_on(backend).await;
    let grace = account_with_everything(&store, "Grace@Example.com", "Grace").await;
    let alan = account_with_everything(&store, "alan@example.com", "alan").await;
    assert!(store.activate_user(&grace.user.id, NOW).await.unwrap());
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

async fn concurrent_deletions_of_one_account_delete_it_once(backend: Backend) {
    let store = store_on(backend).await;
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
        idle_seconds: 86_400,
        password_at: NOW,
        methods: vec![AuthMethod::Password, AuthMethod::AuthenticatorCode],
        browser: "Firefox on Linux".to_owned(),
    };
    store.create_session(&session).await.unwrap();
    let device = DeviceRecord {
        hash: Token::generate().hash(),
        user_id: user.id.clone(),
        auth_epoch: 0,
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

/// A deletion takes its steps one request at a time, the account's own transaction last (as
/// `UserStore::delete_user` says, and as the embedded store mirrors it): when that last write
/// is refused (here: its audit entry's id is taken), what the account owned is gone already,
/// the account and its claims stay, and the next try deletes it.
async fn a_refused_last_write_leaves_the_account_without_what_it_owned(backend: Backend) {
    let store = store_on(backend).await;
    let grace = account_with_everything(&store, "grace@example.com", "grace").await;
    let job = row_job(JobKind::BulkRegistration, 1, None);
    store.create_job(&job).await.unwrap();
    let naming = RowOutcome::new(2, "Grace@Example.com", RowResult::Failed, "duplicate_in_file", "");
    store.settle_at_intake(&job, std::slice::from_ref(&naming)).await.unwrap();
    let retirement = retirement_of(&grace.user, "self");
    let taken = AuditEntry::new(NOW, "arn:op", "delete", &grace.user.id, "deleted");
    store.record(&taken).await.unwrap();
    let request = DeleteRequest {
        user: &grace.user,
        counter_key: &grace.counter_key,
        retirement: &retirement,
        job_row: None,
        audit: Some(&taken),
    };
    // The adapter learns only that its last write's condition failed: "not found".
    assert_eq!(store.delete_user(&request).await.unwrap(), Deleted::NotFound);
    for hash in &grace.tokens {
        assert_eq!(store.token(hash).await.unwrap(), None, "a token went before the account");
    }
    assert_eq!(store.session(&grace.session, NOW).await.unwrap(), None);
    assert_eq!(store.device(&grace.device, NOW).await.unwrap(), None);
    assert_eq!(store.state(&grace.counter_key, NOW).await.unwrap(), LockoutState::default());
    assert_eq!(store.rows(&job.id, 0, 10).await.unwrap()[0].email, learners::domain::DELETED_EMAIL);
    assert_eq!(store.user_by_id(&grace.user.id).await.unwrap(), Some(grace.user.clone()), "the account stays");
    assert!(store.username_taken("grace").await.unwrap());
    assert_eq!(store.retirement(&retirement.email_hmac).await.unwrap(), None);

    // The next try (a redelivery, with an audit entry of its own) finishes it.
    let again = AuditEntry::new(NOW.plus_seconds(1), "arn:op", "delete", &grace.user.id, "deleted");
    let request = DeleteRequest { audit: Some(&again), ..request };
    assert_eq!(store.delete_user(&request).await.unwrap(), Deleted::Deleted);
    assert_eq!(store.user_by_email_key("grace@example.com").await.unwrap(), None);
    assert_eq!(store.retirement(&retirement.email_hmac).await.unwrap(), Some(retirement));
}

/// An email change's link, mailed to the new address.
fn email_change_link(user: &User, new_email: &str, ttl: i64) -> TokenRecord {
    let address = learners::domain::Email::parse(new_email).unwrap();
    TokenRecord::mint(TokenPurpose::EmailChange, user, NOW, ttl).1.about(&address)
}

fn change<'a>(user: &'a User, new_email: &'a learners::domain::Email, token: Option<&'a TokenHash>) -> EmailChange<'a> {
    EmailChange { user, new_email, token, end_sessions: false, now: NOW }
}

async fn an_email_change_moves_the_claim_and_spends_its_link_once(backend: Backend) {
    let store = store_on(backend).await;
    let grace = user("grace@example.com", "grace");
    store.create_user(&grace, None).await.unwrap();
    let link = email_change_link(&grace, "Grace@New.example.org", 86_400);
    store.put_token(&link).await.unwrap();
    assert_eq!(store.token(&link.hash).await.unwrap(), Some(link.clone()), "the address is stored with the link");
    let new_email = link.address.clone().unwrap();
    assert_eq!(store.change_email(&change(&grace, &new_email, Some(&link.hash))).await.unwrap(), EmailChanged::Changed);
    let moved = store.user_by_email_key("grace@new.example.org").await.unwrap().unwrap();
    assert_eq!((moved.id.clone(), moved.email.as_ref()), (grace.id.clone(), "Grace@new.example.org"));
    assert_eq!(moved.auth_epoch, grace.auth_epoch, "sessions go on");
    assert_eq!(store.user_by_email_key("grace@example.com").await.unwrap(), None, "the old claim is gone");
    assert!(store.token(&link.hash).await.unwrap().unwrap().used_at.is_some());
    // The old address is free for a new account; the spent link moves nothing again.
    store.create_user(&user("grace@example.com", "other"), None).await.unwrap();
    let third = learners::domain::Email::parse("third@example.org").unwrap();
    assert_eq!(store.change_email(&change(&moved, &third, Some(&link.hash))).await.unwrap(), EmailChanged::Stale);
    assert!(store.user_by_email_key("third@example.org").await.unwrap().is_none());
    // A change of case alone moves no claim.
    let recased = learners::domain::Email::parse("GRACE@new.example.org").unwrap();
    assert_eq!(store.change_email(&change(&moved, &recased, None)).await.unwrap(), EmailChanged::Changed);
    let stored = store.user_by_email_key("grace@new.example.org").await.unwrap().unwrap();
    assert_eq!(stored.email.as_ref(), "GRACE@new.example.org");
}

async fn an_email_change_to_a_taken_address_or_from_a_stale_read_changes_nothing(backend: Backend) {
    let store = store_on(backend).await;
    let grace = user("grace@example.com", "grace");
    let ada = user("ada@example.com", "ada");
    store.create_user(&grace, None).await.unwrap();
    store.create_user(&ada, None).await.unwrap();
    let link = email_change_link(&grace, "ADA@example.com", 86_400);
    store.put_token(&link).await.unwrap();
    let taken = link.address.clone().unwrap();
    assert_eq!(store.change_email(&change(&grace, &taken, Some(&link.hash))).await.unwrap(), EmailChanged::Taken);
    assert_eq!(store.user_by_email_key("ada@example.com").await.unwrap().unwrap().id, ada.id);
    assert_eq!(store.user_by_id(&grace.id).await.unwrap().unwrap().email.as_ref(), "grace@example.com");
    assert!(store.token(&link.hash).await.unwrap().unwrap().used_at.is_none(), "the link is not spent");
    // A read from before a password change (a raised epoch) is stale.
    assert!(store.set_password(&grace.id, &password_hash("new")).await.unwrap());
    let free = learners::domain::Email::parse("grace@new.example.org").unwrap();
    assert_eq!(store.change_email(&change(&grace, &free, None)).await.unwrap(), EmailChanged::Stale);
    // An expired link, or another account's, is stale too.
    let fresh = store.user_by_id(&grace.id).await.unwrap().unwrap();
    let expired = email_change_link(&fresh, "grace@new.example.org", 60);
    store.put_token(&expired).await.unwrap();
    let late = EmailChange { now: NOW.plus_seconds(61), ..change(&fresh, &free, Some(&expired.hash)) };
    assert_eq!(store.change_email(&late).await.unwrap(), EmailChanged::Stale);
    let adas = email_change_link(&ada, "grace@new.example.org", 86_400);
    store.put_token(&adas).await.unwrap();
    assert_eq!(store.change_email(&change(&fresh, &free, Some(&adas.hash))).await.unwrap(), EmailChanged::Stale);
    assert_eq!(store.user_by_email_key("grace@new.example.org").await.unwrap(), None);
    assert_eq!(store.user_by_email_key("grace@example.com").await.unwrap().unwrap().id, grace.id);
}

async fn concurrent_email_changes_to_one_address_move_one_account(backend: Backend) {
    let store = store_on(backend).await;
    let mut learners = Vec::new();
    for i in 0..6 {
        let learner = user(&format!("learner{i}@example.com"), &format!("learner{i}"));
        store.create_user(&learner, None).await.unwrap();
        learners.push(learner);
    }
    let changes = learners.into_iter().map(|learner| {
        let store = store.clone();
        tokio::spawn(async move {
            let wanted = learners::domain::Email::parse("wanted@example.org").unwrap();
            let change = EmailChange { user: &learner, new_email: &wanted, token: None, end_sessions: false, now: NOW };
            match store.change_email(&change).await.unwrap() {
                EmailChanged::Changed => true,
                EmailChanged::Taken => false,
                EmailChanged::Stale => panic!("nothing else changed the accounts"),
            }
        })
    });
    assert_eq!(futures_count(changes).await, 1);
    assert!(store.user_by_email_key("wanted@example.org").await.unwrap().is_some());
}

async fn an_email_revert_ends_every_session(backend: Backend) {
    let store = store_on(backend).await;
    let grace = user("grace@new.example.org", "grace");
    store.create_user(&grace, None).await.unwrap();
    let old = learners::domain::Email::parse("grace@example.com").unwrap();
    let revert = TokenRecord::mint(TokenPurpose::EmailRevert, &grace, NOW, 7 * 86_400).1.about(&old);
    store.put_token(&revert).await.unwrap();
    let back = EmailChange { end_sessions: true, ..change(&grace, &old, Some(&revert.hash)) };
    assert_eq!(store.change_email(&back).await.unwrap(), EmailChanged::Changed);
    let stored = store.user_by_email_key("grace@example.com").await.unwrap().unwrap();
    assert_eq!(stored.auth_epoch, grace.auth_epoch + 1);
    assert_eq!(store.token(&revert.hash).await.unwrap().unwrap().address, Some(old));
}
