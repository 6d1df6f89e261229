//! Operators fix an address (issue 23, point 6): the admin API and the console's "Change email"
//! move an account to another address. An active account is told at both addresses; a taken
//! address is refused (409 in the API, a message on the card); the console leaves operator
//! accounts alone; every outcome is in the audit.

use learners::flows::outbox::{send_later, MailRequest};
use learners_tests::console;
use learners_tests::{email, on_both_backends, unique, urlencode, Backend, TestApp, ADMIN_TOKEN, PASSWORD};
use reqwest::Method;
use serde_json::{json, Value};

/// The IAM principal that grants roles here (as `learnerctl` would).
const IAM: &str = "arn:aws:iam::000000000000:user/test-admin";

async fn change(app: &TestApp, body: &Value, token: Option<&str>) -> reqwest::Response {
    let mut request = app.client.post(app.url("/admin/v1/users/email")).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn audit_of(app: &TestApp, address: &str) -> Vec<Value> {
    let response = app.admin_get(&format!("/admin/v1/audit?email={}", urlencode(address))).await;
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["entries"].as_array().unwrap().clone()
}

async fn error_code(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json::<Value>().await.unwrap()["error"].clone())
}

/// The page's text as a person reads it (the apostrophe is entity-encoded in the HTML).
async fn page_text(response: reqwest::Response) -> String {
    response.text().await.unwrap().replace("&#39;", "'").replace("&#x27;", "'")
}

on_both_backends!(an_active_learner_is_told_at_both_addresses);

/// The admin API moves an active account: the notice reaches both mailboxes, the new address
/// signs in and the old one no longer does, the learner's sessions end, and the audit records
/// the IAM caller and both addresses.
async fn an_active_learner_is_told_at_both_addresses(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (old, new) = (email("ada-old-"), email("ada-new-"));
    app.active_account(&old, &unique("ada")).await;
    let session = app.session_cookie(&old, PASSWORD).await;
    let settings = || async { app.with_cookie(Method::GET, "/account/settings", &session).send().await.unwrap() };
    assert_eq!(settings().await.status(), 200, "signed in before the change");

    assert_eq!(change(&app, &json!({"email": old, "new_email": new}), None).await.status(), 401);
    let moved = change(&app, &json!({"email": old, "new_email": new}), Some(ADMIN_TOKEN)).await;
    assert_eq!(moved.status(), 200);
    let view = moved.json::<Value>().await.unwrap();
    assert_eq!((view["email"].as_str(), view["status"].as_str()), (Some(new.as_str()), Some("active")));

    for (mailbox, which) in [(&old, "old"), (&new, "new")] {
        let mails = app.mail_to(mailbox).await;
        let notice = mails
            .iter()
            .find(|m| m.subject.contains("email address of your"))
            .unwrap_or_else(|| panic!("no notice at the {which} address: {:?}", mails.iter().map(|m| &m.subject)));
        // Text or HTML (moto keeps the HTML part): both addresses, and what to do if unasked.
        let body = &notice.body;
        assert!(body.contains("changed the email address of your") && body.contains(&old), "{which}: {body}");
        assert!(body.contains(&format!("to {new}")) || body.contains(&format!("to <strong>{new}")), "{body}");
        assert!(body.contains("If you did not ask for this, contact the site"), "{body}");
    }
    // The queue may deliver the message again: each address is told once.
    let id = learners::domain::UserId::parse(view["user_id"].as_str().unwrap()).unwrap();
    let epoch = app.app.store.user_by_id(&id).await.unwrap().unwrap().auth_epoch;
    let again =
        MailRequest::EmailChangedByOperator { user_id: id.to_string(), old_email: old.clone(), auth_epoch: epoch };
    send_later(&app.app, &again).await.unwrap();
    for mailbox in [&old, &new] {
        let mails = app.mail_to(mailbox).await;
        let notices = mails.iter().filter(|m| m.subject.contains("email address of your")).count();
        assert_eq!(notices, 1, "one notice per address, the message redelivered");
    }
    assert_eq!(app.sign_in(&old, PASSWORD).await.status(), 401, "the old address no longer signs in");
    assert_eq!(app.sign_in(&new, PASSWORD).await.status(), 200);
    assert_ne!(settings().await.status(), 200, "the session from before the change has ended");
    assert!(app.user(&old).await.is_none());

    let entries = audit_of(&app, &new).await;
    let entry = entries.iter().find(|e| e["action"] == "change_email").expect("the change is audited");
    let outcome = entry["outcome"].as_str().unwrap();
    assert_eq!(outcome, "done, both addresses told");
    assert!(!outcome.contains(&old) && !outcome.contains(&new), "no address in the audit, which outlives the account");
    assert!(entry["operator"].as_str().unwrap().starts_with("arn:aws:"), "the IAM caller: {entry}");
}

on_both_backends!(the_admin_api_refuses_unknown_invalid_and_taken_addresses);

async fn the_admin_api_refuses_unknown_invalid_and_taken_addresses(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (ada, bob) = (email("ada-"), email("bob-"));
    app.active_account(&ada, &unique("ada")).await;
    app.active_account(&bob, &unique("bob")).await;

    let (status, error) =
        error_code(change(&app, &json!({"email": email("ghost-"), "new_email": email("x-")}), Some(ADMIN_TOKEN)).await)
            .await;
    assert_eq!((status, error["code"].as_str()), (404, Some("user_not_found")));
    let (status, error) =
        error_code(change(&app, &json!({"email": ada, "new_email": "not-an-address"}), Some(ADMIN_TOKEN)).await).await;
    assert_eq!((status, error["code"].as_str()), (422, Some("validation_failed")));
    assert!(error["fields"]["new_email"].is_string(), "{error}");
    let (status, error) = error_code(change(&app, &json!({"email": ada}), Some(ADMIN_TOKEN)).await).await;
    assert_eq!(status, 422);
    assert!(error["fields"]["new_email"].is_string(), "{error}");
    let (status, error) =
        error_code(change(&app, &json!({"email": ada, "new_email": bob, "notify": false}), Some(ADMIN_TOKEN)).await)
            .await;
    assert_eq!(status, 422, "unknown fields are refused");
    assert!(error["fields"]["notify"].is_string(), "{error}");
    let malformed = app
        .client
        .post(app.url("/admin/v1/users/email"))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body("{\"email\":")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);

    // Bob's address, in another case: taken (a claim is case-blind), nothing changes.
    let (status, error) =
        error_code(change(&app, &json!({"email": ada, "new_email": bob.to_uppercase()}), Some(ADMIN_TOKEN)).await)
            .await;
    assert_eq!((status, error["code"].as_str()), (409, Some("email_taken")));
    assert_eq!(app.sign_in(&ada, PASSWORD).await.status(), 200, "ada keeps her address");
    assert_eq!(app.sign_in(&bob, PASSWORD).await.status(), 200);
    let entries = audit_of(&app, &ada).await;
    assert!(entries
        .iter()
        .any(|e| e["action"] == "change_email" && e["outcome"] == "taken: another account uses the new address"));
    assert!(!app.mail_to(&ada).await.iter().any(|m| m.subject.contains("email address of your")), "nobody told");

    // The same address: nothing to do.
    let same = change(&app, &json!({"email": ada, "new_email": ada}), Some(ADMIN_TOKEN)).await;
    assert_eq!(same.status(), 200);
    assert!(audit_of(&app, &ada).await.iter().any(|e| e["action"] == "change_email" && e["outcome"] == "no_change"));
}

on_both_backends!(the_console_changes_a_learner_and_leaves_operators_alone);

/// On the card: an invalid address is refused beside the field, a taken one says so, an
/// operator's account is refused (and audited); a learner's address changes after the confirm
/// step, which shows both addresses.
async fn the_console_changes_a_learner_and_leaves_operators_alone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alice, bob) = (email("alice-"), email("bob-"));
    for operator in [&alice, &bob] {
        app.active_account(operator, &unique("op")).await;
        learners::flows::admin::set_operator_role(&app.app, IAM, operator, true).await.unwrap();
    }
    let (learner, other, moved) = (email("learner-"), email("other-"), email("moved-"));
    app.active_account(&learner, &unique("learner")).await;
    app.active_account(&other, &unique("other")).await;
    let cookie = app.operator_session(&alice).await;

    let card = page_text(
        app.with_cookie(Method::GET, &format!("/operator?email={}", urlencode(&learner)), &cookie)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(card.contains(">Change email</button>") && card.contains(">New email</label>"), "{card}");

    // Another operator: refused, audited, unchanged.
    for fields in [
        vec![("email", bob.as_str()), ("new_email", moved.as_str())],
        vec![("email", bob.as_str()), ("new_email", moved.as_str()), ("confirm", "yes")],
    ] {
        let refused = console::post(&app, &cookie, "/operator/email", &fields).await;
        assert_eq!(refused.status(), 403);
        let page = page_text(refused).await;
        assert!(page.contains("This account has the operator role: the console does not"), "{page}");
    }
    assert!(app.user(&bob).await.is_some() && app.user(&moved).await.is_none());
    let refusals = audit_of(&app, &bob).await;
    assert!(refusals.iter().any(|e| e["action"] == "change_email" && e["outcome"] == "refused: operator account"));

    // Not an address: beside the field, with what was typed.
    let invalid =
        console::post(&app, &cookie, "/operator/email", &[("email", &learner), ("new_email", "learner@")]).await;
    assert_eq!(invalid.status(), 422);
    let page = page_text(invalid).await;
    assert!(page.contains(r#"id="new_email-error""#) && page.contains(r#"value="learner@""#), "{page}");

    // Another account's address: said on the card.
    let taken = console::post(&app, &cookie, "/operator/email", &[("email", &learner), ("new_email", &other)]).await;
    assert_eq!(taken.status(), 409);
    let page = page_text(taken).await;
    assert!(page.contains(&format!("Another account already uses {other}: nothing changed.")), "{page}");
    assert!(page.contains("Another account uses this address."), "{page}");

    // The confirm step shows both addresses; yes changes it (confirmed with the code at sign-in
    // a moment ago, so not asked again).
    let step = console::post(&app, &cookie, "/operator/email", &[("email", &learner), ("new_email", &moved)]).await;
    assert_eq!(step.status(), 200);
    let page = page_text(step).await;
    assert!(
        page.contains(&format!("Change the email of <strong>{learner}</strong> to <strong>{moved}</strong>?")),
        "{page}"
    );
    assert!(app.user(&moved).await.is_none(), "nothing changed before yes");
    let yes = [("email", learner.as_str()), ("new_email", moved.as_str()), ("confirm", "yes")];
    let done = console::post(&app, &cookie, "/operator/email", &yes).await;
    assert_eq!(done.status(), 303);
    let location = done.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(location, format!("/operator?email={}&done=email_both_told", urlencode(&moved)));
    let card = page_text(app.with_cookie(Method::GET, &location, &cookie).send().await.unwrap()).await;
    assert!(card.contains("Both addresses were mailed a notice"), "{card}");
    assert_eq!(app.user(&moved).await.unwrap()["status"], "active");
    assert!(app.mail_to(&learner).await.iter().any(|m| m.subject.contains("email address of your")));
    let entry = audit_of(&app, &moved).await.into_iter().find(|e| e["action"] == "change_email").unwrap();
    assert!(entry["operator"].as_str().unwrap().contains(&alice), "the console operator: {entry}");
}

on_both_backends!(a_pending_learner_gets_one_new_link_at_the_corrected_address);

/// A pending account moved by the admin API: one activation link at the new address (a
/// redelivered message mails no other), none to the old one, whose link no longer activates.
async fn a_pending_learner_gets_one_new_link_at_the_corrected_address(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let right = email("pat-");
    let typo = right.replace("@example.com", "@exmaple.com");
    let old_link = app.register_and_get_link(&typo, &unique("pat")).await;
    let moved = change(&app, &json!({"email": typo, "new_email": right}), Some(ADMIN_TOKEN)).await;
    assert_eq!(moved.status(), 200);
    let view = moved.json::<Value>().await.unwrap();
    assert_eq!(view["status"], "pending_activation");
    let link = app.mailed_link(&right, "Activate", "/activate/").await;

    let id = learners::domain::UserId::parse(view["user_id"].as_str().unwrap()).unwrap();
    let changed_at = app.app.store.user_by_id(&id).await.unwrap().unwrap().auth_epoch - 1;
    let again = MailRequest::EmailChangedByOperator {
        user_id: id.to_string(),
        old_email: typo.clone(),
        auth_epoch: changed_at,
    };
    send_later(&app.app, &again).await.unwrap();
    let links = app.mail_to(&right).await.into_iter().filter(|m| m.subject.starts_with("Activate")).count();
    assert_eq!(links, 1, "one link, the message redelivered");
    assert_eq!(app.mail_to(&typo).await.len(), 1, "the misspelled address got its first link only");

    assert_ne!(app.activate_link(&old_link).await.status(), 200, "the link sent to the typo is dead");
    assert_eq!(app.user(&right).await.unwrap()["status"], "pending_activation");
    assert_eq!(app.activate_link(&link).await.status(), 200);
    assert_eq!(app.sign_in(&right, PASSWORD).await.status(), 200);
    let entries = audit_of(&app, &right).await;
    assert!(entries.iter().any(|e| e["outcome"] == "done, activation link mailed to the new address"), "{entries:?}");
}
