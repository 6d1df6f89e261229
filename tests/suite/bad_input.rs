//! Bad input gets a clear 4xx, never a 500 or a panic; mail failures change no answer.

use async_trait::async_trait;
use learners::handlers::register;
use learners::ports::{MailError, Mailer, OutgoingMail};
use learners_tests::{email, fake_request, memory_app, registration, unique, Backend, TestApp};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const ROUTE: &str = "POST /api/v1/registrations";

async fn error_code(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body["error"].clone())
}

#[tokio::test]
async fn each_bad_input_gets_its_4xx() {
    let app = TestApp::spawn(Backend::Memory).await;
    let post = |content_type: &'static str, body: Vec<u8>| app.post_raw("/api/v1/registrations", content_type, body);

    let (status, error) = error_code(post("application/json", b"{not json".to_vec()).await).await;
    assert_eq!((status, error["code"].as_str()), (400, Some("bad_request")));
    let (status, error) =
        error_code(post("application/json", br#"{"email":"a@example.com","email":"b@example.com"}"#.to_vec()).await)
            .await;
    assert_eq!((status, error["code"].as_str()), (400, Some("bad_request")));
    assert!(error["message"].as_str().unwrap().contains("twice"));
    let (status, _) = error_code(post("application/json", b"[1,2]".to_vec()).await).await;
    assert_eq!(status, 400);
    let (status, _) = error_code(post("text/plain", b"email=a".to_vec()).await).await;
    assert_eq!(status, 400);
    // A form post is answered with the form page (HTML), with the same status.
    let response = post("application/x-www-form-urlencoded", b"email=a&email=b".to_vec()).await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("same key twice"));
    let (status, error) = error_code(post("application/json", vec![b' '; 64 * 1024 + 1]).await).await;
    assert_eq!((status, error["code"].as_str()), (413, Some("payload_too_large")));

    let mut unknown = registration(&email("u-"), &unique("u"));
    unknown["is_staff"] = json!(true);
    let (status, error) = error_code(app.post_json("/api/v1/registrations", &unknown).await).await;
    assert_eq!((status, error["code"].as_str()), (422, Some("validation_failed")));
    assert_eq!(error["fields"]["is_staff"], "Unknown field.");

    let bad = json!({"email": "a@@example.com", "username": "x", "name": "<b>", "password": "Password12345678", "terms_accepted": false});
    let (status, error) = error_code(app.post_json("/api/v1/registrations", &bad).await).await;
    assert_eq!(status, 422);
    let fields = error["fields"].as_object().unwrap();
    let named: Vec<&str> = fields.keys().map(String::as_str).collect();
    assert_eq!(named, ["email", "name", "password", "terms_accepted", "username"]);
    assert!(fields["password"].as_str().unwrap().contains("common"));

    let wrong_types = json!({"email": 1, "username": null, "name": [], "password": {}, "terms_accepted": "maybe"});
    let (status, error) = error_code(app.post_json("/api/v1/registrations", &wrong_types).await).await;
    assert_eq!(status, 422);
    assert_eq!(error["fields"]["email"], "Must be a string.");
    assert_eq!(error["fields"]["terms_accepted"], "Must be true or false.");

    let mut personal = registration(&email("pat-"), "patricia");
    personal["password"] = json!("patricia-2026-course");
    let (status, error) = error_code(app.post_json("/api/v1/registrations", &personal).await).await;
    assert_eq!(status, 422);
    assert!(error["fields"]["password"].as_str().unwrap().contains("username"));

    // Nothing of the above created an account.
    assert!(app.memory.as_ref().unwrap().0.dump().is_empty());

    // Unknown routes and methods are not 500s either.
    assert_eq!(app.get("/api/v1/nothing").await.status(), 404);
    assert_eq!(app.client.put(app.url("/api/v1/registrations")).send().await.unwrap().status(), 405);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_get_a_500(body in proptest::collection::vec(any::<u8>(), 0..512), json_type in any::<bool>()) {
        let content_type = if json_type { "application/json" } else { "application/x-www-form-urlencoded" };
        let status = run(fake_request(ROUTE, Some(content_type), body));
        prop_assert!((400..500).contains(&status) || status == 202, "status {status}");
    }

    #[test]
    fn arbitrary_json_never_gets_a_500(value in arbitrary_json()) {
        let status = run(fake_request(ROUTE, Some("application/json"), value.to_string().into_bytes()));
        prop_assert!((400..500).contains(&status) || status == 202, "status {status}");
    }
}

fn run(request: lambda_http::Request) -> u16 {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (app, _parts, _clock) = memory_app();
    runtime.block_on(register::handle(&app, request)).status()
}

/// JSON values shaped like registrations: the five fields (and others) with values of any type.
fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "\\PC{0,40}".prop_map(Value::String),
        Just(json!("ada@example.com")),
        Just(json!("correct horse battery staple")),
    ];
    let value = leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array)]
    });
    let key = prop_oneof![
        Just("email"),
        Just("username"),
        Just("name"),
        Just("password"),
        Just("terms_accepted"),
        Just("extra")
    ];
    proptest::collection::btree_map(key, value, 0..6)
        .prop_map(|map| Value::Object(map.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
}

/// Fails the first `failures` sends with a passing error, then delivers.
struct FlakyMailer {
    failures: usize,
    permanent: bool,
    attempts: AtomicUsize,
    delivered: AtomicUsize,
}

#[async_trait]
impl Mailer for FlakyMailer {
    async fn send(&self, _mail: &OutgoingMail) -> Result<(), MailError> {
        let attempt = self.attempts.fetch_add(1, Ordering::SeqCst);
        if self.permanent {
            return Err(MailError::Permanent(anyhow::anyhow!("rejected")));
        }
        if attempt < self.failures {
            return Err(MailError::Transient(anyhow::anyhow!("throttled")));
        }
        self.delivered.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

async fn register_with(mailer: Arc<FlakyMailer>) -> (u16, Vec<u8>, Option<learners::domain::User>) {
    let (mut app, mut parts, _clock) = memory_app();
    app.mailer = mailer;
    let address = email("flaky-");
    let body = registration(&address, &unique("flaky")).to_string().into_bytes();
    let request = fake_request(ROUTE, Some("application/json"), body);
    let response = learners::handlers::answer(&app, |app, req| Box::pin(register::handle(app, req)), request).await;
    let status = response.status().as_u16();
    // The answer is given; then the mail worker works the queue (errors are its own).
    while let Ok(batch) = parts.queue.try_recv() {
        for body in batch.bodies {
            let request = learners::mail::MailRequest::parse(&body).expect("a mail request");
            let _ = learners::mail::dispatch(&app, &request).await;
        }
    }
    let stored = app.store.user_by_email_key(&address).await.unwrap();
    (status, response.body().to_vec(), stored)
}

#[tokio::test]
async fn passing_mail_failures_are_retried() {
    let mailer = Arc::new(FlakyMailer { failures: 2, permanent: false, attempts: 0.into(), delivered: 0.into() });
    let (status, _, stored) = register_with(mailer.clone()).await;
    assert_eq!(status, 202);
    assert!(stored.is_some());
    assert_eq!(mailer.attempts.load(Ordering::SeqCst), 3);
    assert_eq!(mailer.delivered.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_mail_that_cannot_go_out_changes_nothing_in_the_answer() {
    let (ok_status, ok_body, _) =
        register_with(Arc::new(FlakyMailer { failures: 0, permanent: false, attempts: 0.into(), delivered: 0.into() }))
            .await;
    let mailer = Arc::new(FlakyMailer { failures: 0, permanent: true, attempts: 0.into(), delivered: 0.into() });
    let (status, body, stored) = register_with(mailer.clone()).await;
    assert_eq!((status, &body), (ok_status, &ok_body));
    assert_eq!(mailer.attempts.load(Ordering::SeqCst), 1, "a permanent refusal is not retried");
    // The registration stands: the learner can ask for a new link later.
    assert_eq!(stored.expect("the account exists").status, learners::domain::UserStatus::PendingActivation);
}
