//! Account removal: self-service (when switched on) and operator deletion, through the deletion
//! queue, on both backends; nothing personal left behind; safe to repeat.

use learners_tests::{email, on_both_backends, unique, Backend, TestApp, ADMIN_TOKEN, PASSWORD, SITE_URL};
use reqwest::Method;
use serde_json::{json, Value};

const ON: &[(&str, &str)] = &[("LEARNERS_SELF_REMOVAL_ENABLED", "true")];

/// Registers, activates and signs in an account with a name and username of its own.
async fn account(app: &TestApp, prefix: &str) -> (String, String, String, String) {
    let address = email(prefix);
    let username = unique(prefix);
    let name = format!("Name {}", unique(""));
    let body =
        json!({"email": address, "username": username, "name": name, "password": PASSWORD, "terms_accepted": true});
    assert_eq!(app.post_json("/api/v1/registrations", &body).await.status(), 202);
    let link = app.mail_to(&address).await.into_iter().find_map(|m| m.link("/activate/")).unwrap();
    assert_eq!(app.activate_link(&link).await.status(), 200);
    let cookie = app.session_cookie(&address, PASSWORD).await;
    (address, username, name, cookie)
}

/// Items that still mention any of `needles`, ignoring case.
async fn leftovers(app: &TestApp, needles: &[&str]) -> Vec<String> {
    app.table_dump()
        .await
        .into_iter()
        .filter(|item| needles.iter().any(|n| item.to_lowercase().contains(&n.to_lowercase())))
        .collect()
}

async fn removal(app: &TestApp, cookie: &str, password: &str) -> reqwest::Response {
    app.with_cookie(Method::POST, "/api/v1/account/removal", cookie)
        .json(&json!({ "password": password }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn switched_off_the_route_does_not_exist_and_the_form_is_absent() {
    let app = TestApp::spawn(Backend::Memory).await;
    let (_, _, _, cookie) = account(&app, "off-").await;
    let answer = |response: reqwest::Response| async move {
        let mut headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .filter(|(n, _)| *n != "date")
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        headers.sort();
        (response.status(), headers, response.bytes().await.unwrap())
    };
    let removal = answer(removal(&app, &cookie, PASSWORD).await).await;
    let unknown = answer(
        app.with_cookie(Method::POST, "/api/v1/account/nothing-here", &cookie)
            .json(&json!({"password": PASSWORD}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(removal.0, 404);
    assert_eq!(removal, unknown);
    let settings =
        app.with_cookie(Method::GET, "/account/settings", &cookie).send().await.unwrap().text().await.unwrap();
    assert!(!settings.contains("/api/v1/account/removal"));
    assert!(!settings.contains("Delete my account"));
}

on_both_backends!(
    a_learner_removes_their_account,
    an_operator_deletes_by_email_and_nothing_personal_remains,
    forged_deletion_messages_delete_nothing,
    rows_refused_at_upload_are_scrubbed_with_the_account,
);

/// Rows an upload refused hold the address as written, with no link to the account: the
/// deletion finds them by the address and scrubs them too.
async fn rows_refused_at_upload_are_scrubbed_with_the_account(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (address, username, name, _) = account(&app, "refused-row-").await;
    let shouted = address.to_uppercase().replace("@EXAMPLE.COM", "@example.com");
    // Refused at upload: a bad username, and the same address again in another case.
    let csv = format!("email,username,name\n{address},x,Too Short\n{shouted},{},Again\n", unique("again"));
    let upload = app.admin_post_csv("/admin/v1/bulk-registrations", csv).await;
    assert_eq!(upload.status(), 202);
    app.settle().await;
    assert!(!leftovers(&app, &[&address]).await.is_empty(), "the refused rows hold the address before");

    let deletion = app
        .client
        .post(app.url("/admin/v1/deletions"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"emails": [address]}))
        .send()
        .await
        .unwrap();
    assert_eq!(deletion.status(), 202);
    app.settle().await;
    assert!(app.user(&address).await.is_none());
    let left = leftovers(&app, &[&address, &username, &name]).await;
    assert!(left.is_empty(), "after the deletion a scan finds the address nowhere: {left:#?}");
}

/// Anything that may send to the deletion queue could write a message: without a deletion job
/// the worker can read, or a removal request on the account itself, nothing is deleted.
async fn forged_deletion_messages_delete_nothing(backend: Backend) {
    use learners::ports::Queue;
    let app = TestApp::spawn(backend).await;
    let (victim, _, _, _) = account(&app, "victim-").await;
    let victim_id = app.user(&victim).await.unwrap()["user_id"].as_str().unwrap().to_owned();
    let forged = [
        // The issue's own example: "self", by email, no job.
        json!({"requested_by": "self", "targets": [{"row": 1, "email": victim}]}),
        // "self" by user id, for an account whose owner asked for nothing.
        json!({"requested_by": "self", "targets": [{"row": 1, "user_id": victim_id}]}),
        // An operator's name and a job that does not exist.
        json!({"job_id": uuid::Uuid::now_v7().to_string(), "requested_by": "arn:aws:iam::1:user/x", "targets": [{"row": 2, "email": victim}]}),
    ];
    for message in &forged {
        app.app.queue.enqueue(Queue::Deletion, &[message.to_string()]).await.unwrap();
    }
    // A bulk registration job is no deletion job either.
    let csv = format!("email,username,name\n{},{},Someone\n", email("other-"), unique("other"));
    let upload = app.admin_post_csv("/admin/v1/bulk-registrations", csv).await;
    let bulk_job = upload.json::<Value>().await.unwrap()["job_id"].as_str().unwrap().to_owned();
    let posing =
        json!({"job_id": bulk_job, "requested_by": "arn:aws:iam::1:user/x", "targets": [{"row": 2, "email": victim}]});
    app.app.queue.enqueue(Queue::Deletion, &[posing.to_string()]).await.unwrap();
    app.settle().await;
    assert_eq!(app.user(&victim).await.unwrap()["status"], "active", "nothing was deleted");
    assert_eq!(app.sign_in(&victim, PASSWORD).await.status(), 200);
}

async fn a_learner_removes_their_account(backend: Backend) {
    let app = TestApp::spawn_with(backend, ON).await;
    let (address, username, name, cookie) = account(&app, "leaver-").await;
    let settings =
        app.with_cookie(Method::GET, "/account/settings", &cookie).send().await.unwrap().text().await.unwrap();
    assert!(settings.contains(r#"action="/account/removal""#), "the form posts to a page address");

    // Without a session: 401. A wrong password is refused and counted on the user's own
    // confirmation counter, apart from sign-in's (which strangers fill).
    let anonymous = app
        .client
        .post(app.url("/api/v1/account/removal"))
        .header("origin", SITE_URL)
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let wrong = removal(&app, &cookie, "not my password").await;
    assert_eq!(wrong.status(), 403);
    assert_eq!(wrong.json::<Value>().await.unwrap()["error"]["code"], "invalid_password");
    assert_eq!(app.user(&address).await.unwrap()["failed_logins"], 0);
    let forged = app
        .client
        .post(app.url("/api/v1/account/removal"))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);

    let done = removal(&app, &cookie, PASSWORD).await;
    assert_eq!(done.status(), 202);
    assert!(done.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    // The old cookie is refused at once, before the worker has run.
    assert_eq!(app.with_cookie(Method::GET, "/api/v1/account", &cookie).send().await.unwrap().status(), 401);
    assert!(app.mail_to(&address).await.iter().any(|m| m.subject.contains("being deleted")));
    app.settle().await;
    assert!(app.user(&address).await.is_none(), "the worker deleted the account");

    // Now the address behaves as an unknown one, and both it and the username are free again.
    let unknown = app.sign_in(&email("never-"), PASSWORD).await;
    let gone = app.sign_in(&address, PASSWORD).await;
    assert_eq!(gone.status(), unknown.status());
    assert_eq!(gone.bytes().await.unwrap(), unknown.bytes().await.unwrap());
    let mails = app.mail_to(&address).await.len();
    app.post_json("/api/v1/password-resets", &json!({"email": address})).await;
    app.post_json("/api/v1/activation-emails", &json!({"email": address})).await;
    app.settle().await;
    assert_eq!(app.mail_to(&address).await.len(), mails, "no mail to a deleted account");
    assert!(
        leftovers(&app, &[&address, &username, &name]).await.is_empty(),
        "{:?}",
        leftovers(&app, &[&address, &username, &name]).await
    );
    let body =
        json!({"email": address, "username": username, "name": name, "password": PASSWORD, "terms_accepted": true});
    assert_eq!(app.post_json("/api/v1/registrations", &body).await.status(), 202);
    assert_eq!(app.user(&address).await.unwrap()["status"], "pending_activation");
}

async fn an_operator_deletes_by_email_and_nothing_personal_remains(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (ada, ada_user, ada_name, ada_cookie) = account(&app, "ada-").await;
    let (bob, bob_user, bob_name, _) = account(&app, "bob-").await;
    let keep = account(&app, "keep-").await;
    // Give them tokens, counters and an audit trail: a reset link, failed sign-ins, an unlock.
    app.post_json("/api/v1/password-resets", &json!({"email": ada})).await;
    app.sign_in(&bob, "not the password").await;
    let unlock = app
        .client
        .post(app.url("/admin/v1/users/unlock"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"email": bob}))
        .send()
        .await
        .unwrap();
    assert_eq!(unlock.status(), 204);
    // And a bulk account, with its job row (and a row of the same file naming Ada's account).
    let cara = email("cara-");
    let (cara_user, cara_name) = (unique("cara-"), format!("Name {}", unique("")));
    let csv = format!("email,username,name\n{cara},{cara_user},{cara_name}\n{ada},{},Someone Else\n", unique("x"));
    let upload = app.admin_post_csv("/admin/v1/bulk-registrations", csv).await;
    assert_eq!(upload.status(), 202);
    app.settle().await;
    let bob_id = app.user(&bob).await.unwrap()["user_id"].as_str().unwrap().to_owned();

    // Without the credential: 401, and nothing happens.
    let list = json!({"emails": [ada.to_uppercase().replace("@EXAMPLE.COM", "@example.com"), bob, cara, email("ghost-"), "not an email"]});
    let refused = app.client.post(app.url("/admin/v1/deletions")).json(&list).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    app.settle().await;
    assert!(app.user(&ada).await.is_some());

    let post = || app.client.post(app.url("/admin/v1/deletions")).bearer_auth(ADMIN_TOKEN).json(&list).send();
    let accepted: Value = post().await.unwrap().json().await.unwrap();
    assert_eq!(accepted["rows"], 5);
    app.settle().await;
    let job: Value = app
        .admin_get(&format!("/admin/v1/deletions/{}", accepted["job_id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (job["status"].as_str(), job["deleted"].as_u64(), job["not_found"].as_u64(), job["failed"].as_u64()),
        (Some("completed"), Some(3), Some(1), Some(1))
    );
    assert_eq!(app.with_cookie(Method::GET, "/api/v1/account", &ada_cookie).send().await.unwrap().status(), 401);
    for gone in [&ada, &bob, &cara] {
        assert!(app.user(gone).await.is_none());
    }
    assert!(app.user(&keep.0).await.is_some(), "others are untouched");

    // A scan of the whole table finds none of their emails, usernames or names.
    let needles = [ada.as_str(), &ada_user, &ada_name, &bob, &bob_user, &bob_name, &cara, &cara_user, &cara_name];
    let left = leftovers(&app, &needles).await;
    assert!(left.is_empty(), "{left:#?}");
    assert!(!leftovers(&app, &[&keep.0, &keep.1]).await.is_empty(), "the scan does see what is there");
    // The audit trail keeps the user id, nothing personal.
    let audit: Value = app.admin_get(&format!("/admin/v1/audit?user_id={bob_id}")).await.json().await.unwrap();
    let actions: Vec<&str> =
        audit["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["delete", "unlock"]);

    // The same list again: the same final state, every address now not found.
    let again: Value = post().await.unwrap().json().await.unwrap();
    app.settle().await;
    let job: Value = app
        .admin_get(&format!("/admin/v1/deletions/{}", again["job_id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (job["deleted"].as_u64(), job["not_found"].as_u64(), job["failed"].as_u64()),
        (Some(0), Some(4), Some(1))
    );
    assert!(leftovers(&app, &needles).await.is_empty());
    assert_eq!(app.client.get(app.url("/admin/v1/deletions/x")).send().await.unwrap().status(), 401);
}

#[tokio::test]
async fn a_deletion_message_delivered_twice_leaves_the_same_state() {
    use learners::flows::removal::{process_own_request as process, DeletionMessage, DeletionTarget};
    let app = TestApp::spawn(Backend::Memory).await;
    let (address, username, name, _) = account(&app, "twice-").await;
    let user_id = app.user(&address).await.unwrap()["user_id"].as_str().unwrap().to_owned();
    // As the learner's own request leaves it: marked for removal, then the message.
    let id = learners::domain::UserId::parse(&user_id).unwrap();
    assert!(app.app.store.request_removal(&id).await.unwrap());
    let message = DeletionMessage {
        job_id: None,
        requested_by: "self".into(),
        targets: vec![DeletionTarget { row: 1, email: None, user_id: Some(user_id) }],
    };
    process(&app.app, &message).await.unwrap();
    let after_first = app.table_dump().await;
    process(&app.app, &message).await.unwrap();
    let mut after_second = app.table_dump().await;
    let mut first = after_first.clone();
    first.sort();
    after_second.sort();
    assert_eq!(first, after_second);
    assert!(leftovers(&app, &[&address, &username, &name]).await.is_empty());
    let hmac = learners::domain::email_hmac(
        "test-retirement-secret-0123456789abcdef",
        &learners::domain::Email::parse(&address).unwrap(),
    );
    let record = app.app.store.retirement(&hmac).await.unwrap().expect("a retirement record");
    assert_eq!(record.requested_by, "self");
}

/// The learner's own request is queued a moment before the account is marked: a worker that
/// gets the message first waits for the mark instead of dropping a real request.
#[tokio::test]
async fn a_learners_deletion_waits_a_moment_for_the_accounts_mark() {
    use learners::flows::removal::{process_own_request as process, DeletionMessage, DeletionTarget};
    let app = TestApp::spawn(Backend::Memory).await;
    let (address, _, _, _) = account(&app, "late-mark-").await;
    let user_id = app.user(&address).await.unwrap()["user_id"].as_str().unwrap().to_owned();
    let id = learners::domain::UserId::parse(&user_id).unwrap();
    let message = DeletionMessage {
        job_id: None,
        requested_by: "self".into(),
        targets: vec![DeletionTarget { row: 1, email: None, user_id: Some(user_id) }],
    };
    let store = app.app.store.clone();
    let marker = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        store.request_removal(&id).await.unwrap()
    });
    process(&app.app, &message).await.unwrap();
    assert!(marker.await.unwrap());
    assert!(app.user(&address).await.is_none(), "deleted once the mark arrived");
}
