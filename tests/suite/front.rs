//! Issue 23, point 8 and point 7's display: the site's front and its rules as a learner meets
//! them, seen from outside. The accepted terms version is on the account (both backends); each
//! page form's own address answers exactly as its `/api/v1/` twin; a learner's own change shows
//! on the console's audit of that learner, beside operator actions.

use learners::domain::{Actor, AuditEntry, Email, PasswordHash, User};
use learners_tests::{email, on_both_backends, registration, unique, urlencode, Backend, TestApp, PASSWORD};
use reqwest::Method;
use serde_json::{json, Value};

const TERMS: [(&str, &str); 3] = [
    ("LEARNERS_TERMS_URL", "https://learn.example.org/legal/terms"),
    ("LEARNERS_PRIVACY_URL", "https://learn.example.org/legal/privacy"),
    ("LEARNERS_TERMS_VERSION", "2026-01"),
];

async fn stored(app: &TestApp, address: &str) -> User {
    let key = Email::parse(address).unwrap().key();
    app.app.store.user_by_email_key(&key).await.unwrap().expect("the account")
}

/// A registration records the version of the terms in force; a site without one records none;
/// a replaced pending registration takes the replacement's version (or drops it).
async fn the_accepted_terms_version_is_on_the_account(backend: Backend) {
    let app = TestApp::spawn_with(backend, &TERMS).await;
    let address = email("terms-");
    let answer = app.post_json("/register", &registration(&address, &unique("terms"))).await;
    assert_eq!(answer.status(), 202);
    let user = stored(&app, &address).await;
    assert_eq!(user.terms_version.as_deref(), Some("2026-01"));
    assert!(user.terms_accepted_at.is_some());

    // The same account registered again while pending: the worker's replacement keeps a version.
    let again = app.register(&address, &unique("terms")).await;
    assert_eq!(again.status(), 202);
    app.settle().await;
    let replaced = stored(&app, &address).await;
    assert_eq!(replaced.auth_epoch, user.auth_epoch + 1, "the pending registration was replaced");
    assert_eq!(replaced.terms_version.as_deref(), Some("2026-01"));

    // The store writes what the replacement says: another version, or none.
    for version in [Some("2026-02"), None] {
        let previous = stored(&app, &address).await;
        let next = User {
            password_hash: Some(PasswordHash::from_phc(format!("$argon2id$other-{version:?}"))),
            terms_version: version.map(str::to_owned),
            auth_epoch: previous.auth_epoch + 1,
            ..previous.clone()
        };
        app.app.store.replace_registration(&previous, &next).await.unwrap();
        assert_eq!(stored(&app, &address).await.terms_version.as_deref(), version);
    }

    let plain = TestApp::spawn(backend).await;
    let address = email("no-terms-");
    assert_eq!(plain.register(&address, &unique("noterms")).await.status(), 202);
    assert_eq!(stored(&plain, &address).await.terms_version, None, "no version configured, none recorded");
}

on_both_backends!(the_accepted_terms_version_is_on_the_account);

/// Status and body of an answer, to compare two routes' answers.
async fn answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// `POST /register`, `/login`, `/password-reset`, `/password-reset/{token}` and
/// `/activation-email` are their `/api/v1/` twins at the page's address: the same status and
/// body for the same request, refused or accepted.
async fn each_page_form_answers_like_its_api_twin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let learner = email("twin-");
    app.active_account(&learner, &unique("twin")).await;
    let wrong = json!({"email": learner, "password": "not the password at all"});
    let nobody = json!({"email": email("nobody-")});
    let cases: Vec<(&str, &str, Value)> = vec![
        ("/login", "/api/v1/sessions", wrong),
        ("/login", "/api/v1/sessions", json!({"email": learner})),
        ("/register", "/api/v1/registrations", json!({"email": "not an address"})),
        ("/register", "/api/v1/registrations", json!({"email": learner, "surprise": 1})),
        ("/password-reset", "/api/v1/password-resets", nobody.clone()),
        ("/password-reset", "/api/v1/password-resets", json!({"email": "x"})),
        ("/activation-email", "/api/v1/activation-emails", nobody),
        ("/password-reset/not-a-token", "/api/v1/password-resets/not-a-token", json!({"password": PASSWORD})),
    ];
    for (page, api, body) in cases {
        let from_page = answer(app.post_json(page, &body).await).await;
        let from_api = answer(app.post_json(api, &body).await).await;
        assert_eq!(from_page, from_api, "{page} and {api} with {body}");
        assert!(from_page.0 >= 200, "{page}: {from_page:?}");
    }

    // Login CSRF: another site's form posting to either address is refused alike.
    for path in ["/login", "/api/v1/sessions"] {
        let cross = app
            .client
            .post(app.url(path))
            .header("origin", "https://evil.example")
            .header("sec-fetch-site", "cross-site")
            .json(&json!({"email": learner, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        let (status, body) = answer(cross).await;
        assert_eq!((status, &body["error"]["code"]), (403, &json!("cross_origin")), "{path}: {body}");
    }

    // Accepted too: a registration from each address.
    for path in ["/register", "/api/v1/registrations"] {
        let address = email("both-");
        let created = answer(app.post_json(path, &registration(&address, &unique("both"))).await).await;
        assert_eq!(created, (202, json!({"status": "pending_activation"})), "{path}");
    }
    // And a sign-in: the same account, the same answer.
    let right = json!({"email": learner, "password": PASSWORD});
    let (page_status, page_body) = answer(app.post_json("/login", &right).await).await;
    let (api_status, api_body) = answer(app.post_json("/api/v1/sessions", &right).await).await;
    assert_eq!((page_status, api_status), (200, 200));
    assert_eq!(page_body, api_body);
    assert_eq!(page_body["user"]["email"], learner);
}

on_both_backends!(each_page_form_answers_like_its_api_twin);

/// A change the learner made (recorded with `Actor::Learner`) shows on the console's audit of
/// that learner as "the learner", beside an operator's action, under "Actions on <email>"; the
/// card links there as "Actions on this learner".
async fn a_learners_own_change_shows_in_the_console_audit_of_that_learner(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let operator = email("auditor-");
    app.active_account(&operator, &unique("auditor")).await;
    learners::flows::admin::set_operator_role(&app.app, "arn:aws:iam::000000000000:user/test-admin", &operator, true)
        .await
        .unwrap();
    let learner = email("changer-");
    app.active_account(&learner, &unique("changer")).await;
    let user = stored(&app, &learner).await;
    let now = app.app.clock.now();
    let own = AuditEntry::new(now, &Actor::Learner(user.id.clone()).to_record(), "change_name", &user.id, "done");
    app.app.audit.record(&own).await.unwrap();
    let by_operator = Actor::Console { user_id: stored(&app, &operator).await.id, email: operator.clone() };
    let theirs = AuditEntry::new(now, &by_operator.to_record(), "unlock", &user.id, "no_change");
    app.app.audit.record(&theirs).await.unwrap();

    let cookie = app.operator_session(&operator).await;
    let card = app.with_cookie(Method::GET, &format!("/operator?email={}", urlencode(&learner)), &cookie);
    let card = card.send().await.unwrap().text().await.unwrap();
    assert!(card.contains(">Actions on this learner</a>"), "{card}");
    assert!(!card.contains("Operator actions on this learner"), "{card}");

    let audit = app.with_cookie(Method::GET, &format!("/operator/audit?email={}", urlencode(&learner)), &cookie);
    let audit = audit.send().await.unwrap();
    assert_eq!(audit.status(), 200);
    let page = audit.text().await.unwrap();
    assert!(page.contains("<caption>Actions found</caption>"), "{page}");
    assert!(page.contains(&format!("value=\"{learner}\"")), "the filter shows the learner\n{page}");
    let rows: Vec<&str> = page.split("<tr>").skip(2).collect();
    // Both entries, and the operator's look at the card just now (`view`).
    assert_eq!(rows.len(), 3, "three entries:\n{page}");
    let look = rows.iter().find(|row| row.contains("<td>view</td>")).expect("the look-up recorded");
    assert!(look.contains(&format!("<td>{operator}</td>")), "{look}");
    let learner_row = rows.iter().find(|row| row.contains("change_name")).expect("the learner's change");
    assert!(learner_row.contains("<td>the learner</td>"), "who: the learner\n{learner_row}");
    assert!(!learner_row.contains("learner:"), "never the raw record\n{learner_row}");
    let operator_row = rows.iter().find(|row| row.contains("unlock")).expect("the operator's action");
    assert!(operator_row.contains(&format!("<td>{operator}</td>")), "{operator_row}");
}

on_both_backends!(a_learners_own_change_shows_in_the_console_audit_of_that_learner);
