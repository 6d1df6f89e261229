//! Operators and second factors (issue 22): the console opens only in a session begun with a
//! second factor (`LEARNERS_OPERATOR_SECOND_FACTOR=required`, the default), its confirmations
//! ask for that factor rather than the password, and support removes a learner's factors (never
//! an operator's from the console; the admin API does that).

use learners::domain::{RecoveryCodes, SecondFactors};
use learners::flows::signin::{sign_in, SignInStep};
use learners::oidc::clients::{self, NewClient};
use learners_gateway::routes::TEMPLATE;
use learners_gateway::RouteTable;
use learners_tests::console;
use learners_tests::{email, on_both_backends, unique, urlencode, Backend, TestApp, ADMIN_TOKEN, PASSWORD};
use reqwest::Method;
use serde_json::{json, Value};

/// The IAM principal that grants roles here (as `learnerctl` would).
const IAM: &str = "arn:aws:iam::000000000000:user/test-admin";

/// An active account with the operator role, granted through the admin flow.
async fn operator(app: &TestApp, prefix: &str) -> String {
    let address = email(prefix);
    app.active_account(&address, &unique(prefix)).await;
    learners::flows::admin::set_operator_role(&app.app, IAM, &address, true).await.unwrap();
    address
}

async fn console_get(app: &TestApp, cookie: &str, path: &str) -> reqwest::Response {
    app.with_cookie(Method::GET, path, cookie).send().await.unwrap()
}

/// The page's text as a person reads it (the apostrophe is entity-encoded in the HTML).
async fn page_text(response: reqwest::Response) -> String {
    response.text().await.unwrap().replace("&#39;", "'").replace("&#x27;", "'")
}

fn location(response: &reqwest::Response) -> String {
    response.headers().get("location").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

async fn audit(app: &TestApp, address: &str) -> Vec<Value> {
    let response = app.admin_get(&format!("/admin/v1/audit?email={}", urlencode(address))).await;
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["entries"].as_array().unwrap().clone()
}

async fn factors_of(app: &TestApp, address: &str) -> SecondFactors {
    let email = learners::domain::Email::parse(address).unwrap();
    let user = app.app.store.user_by_email_key(&email.key()).await.unwrap().unwrap();
    app.app.factors.second_factors(&user.id).await.unwrap()
}

/// Does the password alone sign `address` in (no second factor asked)?
async fn password_alone_signs_in(app: &TestApp, address: &str) -> bool {
    match sign_in(&app.app, address, PASSWORD).await {
        Ok(SignInStep::SignedIn(_)) => true,
        Ok(SignInStep::SecondFactor(_)) => false,
        Err(e) => panic!("sign-in of {address}: {e}"),
    }
}

/// The enrolment page, and only it.
fn is_enrolment_page(page: &str) -> bool {
    page.contains("A second factor is required")
        && page.contains(r#"<a href="/account/authenticator">Set up an authenticator app</a>"#)
        && page.contains(r#"<a href="/account/passkeys">Add a passkey</a>"#)
        && page.contains("sign in again")
        && !page.contains("Learner email")
}

on_both_backends!(an_operator_without_a_second_factor_reaches_only_the_enrolment_page);

/// Signed in with the password alone, every console page is the enrolment page and every
/// console post (each one `template.yaml` routes, so a new one cannot be forgotten) is refused
/// with nothing done and nothing audited. Enrolling does not open this session: the next
/// sign-in, with the code, does.
async fn an_operator_without_a_second_factor_reaches_only_the_enrolment_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = operator(&app, "alice-").await;
    let learner = email("learner-");
    app.active_account(&learner, &unique("learner")).await;
    let pending = email("pending-");
    assert_eq!(app.register(&pending, &unique("pending")).await.status(), 202);
    let (application, _) = clients::register(
        &app.app,
        IAM,
        &NewClient {
            name: "Open edX".into(),
            redirect_uris: vec!["https://lms.example/complete".into()],
            post_logout_redirect_uris: vec![],
            public: false,
        },
    )
    .await
    .unwrap();
    let cookie = app.session_cookie(&alice, PASSWORD).await;

    let routes = RouteTable::from_template(TEMPLATE).unwrap();
    let console: Vec<_> = routes.routes.iter().filter(|r| r.path.starts_with("/operator")).collect();
    assert!(console.len() > 15, "the console's routes: {console:?}");
    for route in console.iter().filter(|r| r.method == "GET") {
        let path = route.path.replace("{job_id}", "some-job");
        let response = console_get(&app, &cookie, &path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        let page = page_text(response).await;
        assert!(is_enrolment_page(&page), "GET {path}:\n{page}");
        assert!(!page.contains("Nothing was done"), "GET {path}");
    }
    // The exports ("Export" on the audit page and on "Search learners") are those routes with
    // format=csv: the gate answers them as it answers the pages, with no file.
    for path in ["/operator/audit?format=csv", "/operator/learners?format=csv&q=a"] {
        let response = console_get(&app, &cookie, path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        let kind = response.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(kind.starts_with("text/html"), "GET {path}: {kind}");
        assert!(is_enrolment_page(&page_text(response).await), "GET {path}");
    }

    let chosen = "violet kettle drums 42";
    let newcomer = email("cohort-");
    let csv = format!("email,username,name\n{newcomer},{},Cohort Member\n", unique("member"));
    let client_id = application.id.as_str().to_owned();
    let posts = console.iter().filter(|r| r.method == "POST").collect::<Vec<_>>();
    assert!(posts.len() >= 13, "{posts:?}");
    for route in posts {
        let path = route.path.as_str();
        // What each form sends from the console's pages: without the requirement, it would act.
        let response = match path {
            "/operator/activate" => {
                let fields = [("email", pending.as_str()), ("confirm", "yes"), ("your_password", PASSWORD)];
                console::post(&app, &cookie, path, &fields).await
            }
            "/operator/unlock" | "/operator/clear-mail-refusal" => {
                console::post(&app, &cookie, path, &[("email", learner.as_str())]).await
            }
            "/operator/disable"
            | "/operator/enable"
            | "/operator/reset-link"
            | "/operator/activation-link"
            | "/operator/sign-out" => {
                let fields = [("email", learner.as_str()), ("confirm", "yes"), ("your_password", PASSWORD)];
                console::post(&app, &cookie, path, &fields).await
            }
            "/operator/settings" | "/operator/settings/restore" => {
                let fields = [("version", "0"), ("max_failed_logins", "3"), ("your_password", PASSWORD)];
                console::post(&app, &cookie, path, &fields).await
            }
            "/operator/remove-second-factors" | "/operator/delete" => {
                let fields = [("email", learner.as_str()), ("confirm", "yes"), ("your_password", PASSWORD)];
                console::post(&app, &cookie, path, &fields).await
            }
            "/operator/password" => {
                let fields = [("email", learner.as_str()), ("password", chosen), ("your_password", PASSWORD)];
                console::post(&app, &cookie, path, &fields).await
            }
            "/operator/email" => {
                let moved = email("moved-");
                let fields = [
                    ("email", learner.as_str()),
                    ("new_email", &moved),
                    ("confirm", "yes"),
                    ("your_password", PASSWORD),
                ];
                console::post(&app, &cookie, path, &fields).await
            }
            "/operator/bulk" => {
                console::multipart(&app, &cookie, path, &[("csv", &csv), ("your_password", PASSWORD)]).await
            }
            "/operator/bulk/check" => console::multipart(&app, &cookie, path, &[("csv_file", &csv)]).await,
            "/operator/deletions" => {
                let fields = [("source", "lines"), ("list", learner.as_str()), ("your_password", PASSWORD)];
                console::multipart(&app, &cookie, path, &fields).await
            }
            "/operator/deletions/check" => console::multipart(&app, &cookie, path, &[("emails", &learner)]).await,
            "/operator/bulk/upload" => {
                console::post(&app, &cookie, path, &[("invite", "true"), ("your_password", PASSWORD)]).await
            }
            "/operator/deletions/upload" => console::post(&app, &cookie, path, &[("your_password", PASSWORD)]).await,
            "/operator/applications" => {
                let fields = [("name", "Another"), ("redirect_uris", "https://other.example/complete")];
                console::post(&app, &cookie, path, &fields).await
            }
            "/operator/applications/secret" => console::post(&app, &cookie, path, &[("client_id", &client_id)]).await,
            "/operator/applications/remove" => {
                console::post(&app, &cookie, path, &[("client_id", &client_id), ("confirm", "yes")]).await
            }
            other => panic!("a new console post, {other}: add the form it sends to this test"),
        };
        assert_eq!(response.status(), 403, "POST {path}");
        assert!(response.headers().get("set-cookie").is_none(), "POST {path}: no session renewed");
        let page = page_text(response).await;
        assert!(is_enrolment_page(&page) && page.contains("Nothing was done"), "POST {path}:\n{page}");
    }

    // Nothing was done, and nothing is on record as done from the console.
    app.settle().await;
    assert_eq!(app.user(&pending).await.unwrap()["status"], "pending_activation");
    assert!(app.user(&learner).await.is_some(), "not deleted");
    assert!(password_alone_signs_in(&app, &learner).await, "the learner's password is unchanged");
    assert!(app.user(&newcomer).await.is_none(), "nobody registered");
    let applications = clients::list(&app.app).await.unwrap();
    assert_eq!(applications.len(), 1, "none registered, none removed");
    assert_eq!(applications[0].secret_hash, application.secret_hash, "the secret is unchanged");
    let now = app.app.clock.now();
    let today = learners::domain::AuditQuery {
        operator: Some("console:".into()),
        action: None,
        learner: None,
        from: now.plus_seconds(-86_400),
        to: now,
        after: None,
        limit: 100,
    };
    let recent = app.app.audit.find_entries(&today).await.unwrap().entries;
    assert!(recent.is_empty(), "{recent:?}");
    for address in [&learner, &pending] {
        assert!(audit(&app, address).await.is_empty(), "{address}");
    }

    // Enrolled now: this session was still begun with the password alone.
    app.enrol_totp(&alice).await;
    let page = page_text(console_get(&app, &cookie, "/operator").await).await;
    assert!(page.contains("You have one now") && page.contains("sign in again"), "{page}");
    assert!(!page.contains("Learner email"), "{page}");
    let refused = console::post(&app, &cookie, "/operator/unlock", &[("email", learner.as_str())]).await;
    assert_eq!(refused.status(), 403);

    // The next sign-in, with a code, opens the console.
    let with_code = app.operator_session(&alice).await;
    let page = page_text(console_get(&app, &with_code, "/operator").await).await;
    assert!(page.contains("Learner email") && !page.contains("A second factor is required"), "{page}");
    let unlocked = console::post(&app, &with_code, "/operator/unlock", &[("email", learner.as_str())]).await;
    assert_eq!(unlocked.status(), 303);
}

on_both_backends!(with_a_second_factor_the_confirmation_needs_a_code);

/// After 5 minutes a sensitive action asks for "Code from your app" (or a recovery code), not the
/// password: the password is refused, a wrong code is refused, the right one works, and a
/// recovery code works once.
async fn with_a_second_factor_the_confirmation_needs_a_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = operator(&app, "alice-").await;
    let learner = email("learner-");
    app.active_account(&learner, &unique("learner")).await;
    let cookie = app.operator_session(&alice).await;
    let card = format!("/operator?email={}", urlencode(&learner));
    let page = page_text(console_get(&app, &cookie, &card).await).await;
    assert!(!page.contains("Code from your app"), "just signed in with it: not asked\n{page}");

    app.clock.advance(301);
    let page = page_text(console_get(&app, &cookie, &card).await).await;
    assert!(page.contains("Code from your app") && page.contains("Use a recovery code"), "{page}");
    assert!(!page.contains("Your password"), "the password is not what is asked:\n{page}");
    assert!(!page.contains("data-passkey-confirm"), "no passkey: no passkey button");

    let chosen = "violet kettle drums 42";
    let set = |proof: (&'static str, String)| {
        let (app, cookie, learner) = (&app, &cookie, &learner);
        async move {
            let fields = [("email", learner.as_str()), ("password", chosen), (proof.0, proof.1.as_str())];
            console::post(app, cookie, "/operator/password", &fields).await
        }
    };
    let with_password = set(("your_password", PASSWORD.to_owned())).await;
    assert_eq!(with_password.status(), 403, "the password does not confirm");
    let page = page_text(with_password).await;
    assert!(page.contains("Type a code from your authenticator app"), "{page}");
    let right = app.totp_code(&alice).await;
    let wrong = if right == "123456" { "654321" } else { "123456" };
    assert_eq!(set(("your_code", wrong.to_owned())).await.status(), 403, "a wrong code");
    assert!(password_alone_signs_in(&app, &learner).await, "nothing changed");

    let done = set(("your_code", right.clone())).await;
    assert_eq!(done.status(), 303, "the right code");
    let renewed = learners_tests::cookie_pair(&done).expect("a renewed session");
    assert_eq!(app.sign_in(&learner, chosen).await.status(), 200);

    app.clock.advance(301);
    let again = [("email", learner.as_str()), ("password", "amber lantern field 77")];
    // A recovery code confirms, once.
    let (codes, hashes) = RecoveryCodes::generate();
    let read = factors_of(&app, &alice).await;
    let alices_id = app.user(&alice).await.unwrap()["user_id"].as_str().unwrap().to_owned();
    let alices_id = learners::domain::UserId::parse(&alices_id).unwrap();
    let with_codes = SecondFactors { recovery_codes: hashes, ..read.next() };
    assert!(app.app.factors.save_second_factors(&alices_id, &with_codes).await.unwrap());
    let with_recovery = [again[0], again[1], ("your_code", codes[0].as_str())];
    let done = console::post(&app, &renewed, "/operator/password", &with_recovery).await;
    assert_eq!(done.status(), 303, "a recovery code");
    let renewed = learners_tests::cookie_pair(&done).expect("a renewed session");
    assert_eq!(app.sign_in(&learner, "amber lantern field 77").await.status(), 200);
    app.clock.advance(301);
    let third = [("email", learner.as_str()), ("password", "copper meadow flute 19"), ("your_code", codes[0].as_str())];
    assert_eq!(console::post(&app, &renewed, "/operator/password", &third).await.status(), 403, "used up");
    assert_eq!(factors_of(&app, &alice).await.recovery_codes.len(), 9);
}

on_both_backends!(an_operator_removes_a_learners_second_factors);

/// "Remove second factors" on a learner's card: the confirm step asks for the operator's own
/// code; then the learner's factors are gone, the learner is mailed, the audit shows it, and the
/// password alone signs the learner in.
async fn an_operator_removes_a_learners_second_factors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = operator(&app, "alice-").await;
    let learner = email("learner-");
    app.active_account(&learner, &unique("learner")).await;
    app.enrol_totp(&learner).await;
    assert!(!password_alone_signs_in(&app, &learner).await, "the learner's sign-in asks for the code");
    let cookie = app.operator_session(&alice).await;

    let card = format!("/operator?email={}", urlencode(&learner));
    let page = page_text(console_get(&app, &cookie, &card).await).await;
    assert!(page.contains("Second factors</dt><dd>an authenticator app</dd>"), "{page}");
    assert!(page.contains("Remove second factors"), "{page}");

    app.clock.advance(301);
    let email_only = [("email", learner.as_str())];
    let asked = console::post(&app, &cookie, "/operator/remove-second-factors", &email_only).await;
    assert_eq!(asked.status(), 200);
    let page = page_text(asked).await;
    assert!(page.contains("Remove every second factor") && page.contains("Code from your app"), "{page}");
    let without = [("email", learner.as_str()), ("confirm", "yes")];
    assert_eq!(console::post(&app, &cookie, "/operator/remove-second-factors", &without).await.status(), 403);
    assert!(factors_of(&app, &learner).await.totp.is_some(), "not without the operator's code");
    assert!(!app.mail_to(&learner).await.iter().any(|m| m.subject.contains("second factors")));

    let code = app.totp_code(&alice).await;
    let confirmed = [("email", learner.as_str()), ("confirm", "yes"), ("your_code", code.as_str())];
    let done = console::post(&app, &cookie, "/operator/remove-second-factors", &confirmed).await;
    assert_eq!(done.status(), 303);
    assert_eq!(location(&done), format!("{card}&done=factors_removed"));
    let cookie = learners_tests::cookie_pair(&done).expect("a renewed session");
    let page = page_text(console_get(&app, &cookie, &location(&done)).await).await;
    assert!(page.contains("The second factors are removed"), "{page}");
    assert!(page.contains("Second factors</dt><dd>none</dd>"), "{page}");
    assert!(!page.contains(">Remove second factors</button>"), "nothing left to remove");

    assert!(!factors_of(&app, &learner).await.is_enrolled());
    assert!(password_alone_signs_in(&app, &learner).await, "the password alone signs in now");
    assert_eq!(app.sign_in(&learner, PASSWORD).await.status(), 200);
    let mails = app.mail_to(&learner).await;
    let notice: Vec<_> = mails.iter().filter(|m| m.subject.contains("second factors of your")).collect();
    assert_eq!(notice.len(), 1, "{:?}", mails.iter().map(|m| &m.subject).collect::<Vec<_>>());
    assert!(notice[0].body.contains("An administrator of the site has removed the second factors"));

    let entries = audit(&app, &learner).await;
    assert_eq!(
        (entries[0]["action"].as_str(), entries[0]["outcome"].as_str()),
        (Some("remove_second_factors"), Some("done, learner notified"))
    );
    assert!(entries[0]["operator"].as_str().unwrap().ends_with(&alice), "{entries:?}");
    let page = page_text(console_get(&app, &cookie, "/operator/audit").await).await;
    assert!(page.contains("remove_second_factors") && page.contains(&learner), "{page}");

    // Again: nothing to remove, on record as no change, nobody mailed again.
    let again = console::post(&app, &cookie, "/operator/remove-second-factors", &[without[0], without[1]]).await;
    assert_eq!(again.status(), 303);
    assert_eq!(audit(&app, &learner).await[0]["outcome"], "no_change");
    assert_eq!(app.mail_to(&learner).await.iter().filter(|m| m.subject.contains("second factors of your")).count(), 1);
}

on_both_backends!(an_operators_factors_are_removed_by_the_admin_api_only);

/// The console refuses to remove another operator's second factors (audited, nothing changes);
/// the admin API removes them (an operator who lost their phone gets back in), mails the owner,
/// and the console then asks that operator to set one up again.
async fn an_operators_factors_are_removed_by_the_admin_api_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alice, bob) = (operator(&app, "alice-").await, operator(&app, "bob-").await);
    let bobs_console = app.operator_session(&bob).await;
    let cookie = app.operator_session(&alice).await;
    let refusal = "This account has the operator role: the console does not";
    let code = app.totp_code(&alice).await;
    for fields in
        [vec![("email", bob.as_str())], vec![("email", bob.as_str()), ("confirm", "yes"), ("your_code", code.as_str())]]
    {
        let response = console::post(&app, &cookie, "/operator/remove-second-factors", &fields).await;
        assert_eq!(response.status(), 403, "{fields:?}");
        let page = page_text(response).await;
        assert!(page.contains(refusal) && page.contains("remove its second factors"), "{page}");
    }
    assert!(factors_of(&app, &bob).await.totp.is_some(), "bob's factor is still there");
    let refused: Vec<Value> =
        audit(&app, &bob).await.into_iter().filter(|e| e["action"] == "remove_second_factors").collect();
    assert_eq!(refused.len(), 2, "both steps, on record: {refused:?}");
    assert!(refused.iter().all(|e| e["outcome"] == "refused: operator account"), "{refused:?}");

    let body = json!({"email": bob});
    let path = "/admin/v1/users/remove-second-factors";
    assert_eq!(app.post_json(path, &body).await.status(), 401, "the admin API's credential");
    let removed = app.client.post(app.url(path)).bearer_auth(ADMIN_TOKEN).json(&body).send().await.unwrap();
    assert_eq!(removed.status(), 204);
    assert!(!factors_of(&app, &bob).await.is_enrolled());
    let entries = audit(&app, &bob).await;
    assert_eq!(
        (entries[0]["operator"].as_str(), entries[0]["outcome"].as_str()),
        (Some(learners_gateway::LOCAL_OPERATOR), Some("done, learner notified"))
    );
    assert!(app.mail_to(&bob).await.iter().any(|m| m.subject.contains("second factors of your")));
    assert!(password_alone_signs_in(&app, &bob).await, "bob gets back in with the password");
    // Bob's console asks for a new second factor; his session is not ended.
    let page = page_text(console_get(&app, &bobs_console, "/operator").await).await;
    assert!(is_enrolment_page(&page), "{page}");

    let ghost = json!({"email": email("ghost-")});
    let unknown = app.client.post(app.url(path)).bearer_auth(ADMIN_TOKEN).json(&ghost).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
}

/// With `LEARNERS_OPERATOR_SECOND_FACTOR=optional`, an operator without one opens the console
/// with the password and confirms with it; one who has a second factor confirms with it.
#[tokio::test]
async fn optional_lets_an_operator_without_one_use_the_password() {
    let app = TestApp::spawn_with(Backend::Memory, &[("LEARNERS_OPERATOR_SECOND_FACTOR", "optional")]).await;
    let alice = operator(&app, "alice-").await;
    let learner = email("learner-");
    app.active_account(&learner, &unique("learner")).await;
    let cookie = app.session_cookie(&alice, PASSWORD).await;
    let card = format!("/operator?email={}", urlencode(&learner));
    let page = page_text(console_get(&app, &cookie, &card).await).await;
    assert!(page.contains("Learner email") && !page.contains("A second factor is required"), "{page}");
    app.clock.advance(301);
    let page = page_text(console_get(&app, &cookie, &card).await).await;
    assert!(page.contains("Your password") && !page.contains("Code from your app"), "{page}");
    let fields = [("email", learner.as_str()), ("password", "violet kettle drums 42"), ("your_password", PASSWORD)];
    let done = console::post(&app, &cookie, "/operator/password", &fields).await;
    assert_eq!(done.status(), 303);

    // Once enrolled, the code is what confirms, even where it is optional.
    let with_code = app.operator_session(&alice).await;
    app.clock.advance(301);
    let again = [("email", learner.as_str()), ("password", "amber lantern field 77"), ("your_password", PASSWORD)];
    assert_eq!(console::post(&app, &with_code, "/operator/password", &again).await.status(), 403);
    let code = app.totp_code(&alice).await;
    let again = [again[0], again[1], ("your_code", code.as_str())];
    assert_eq!(console::post(&app, &with_code, "/operator/password", &again).await.status(), 303);
}
