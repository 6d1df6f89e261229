//! Mail that is not lost: SES throttling answered by backoff (and the reset quota spent only
//! on a mail that went out), and SES bounce and complaint events stopping mail to an address.

use learners::adapters::aws::SesMailer;
use learners::domain::{User, UserStatus};
use learners::handlers::sqs::{SqsEvent, SqsMessage};
use learners::metrics::Metric;
use learners_tests::{email, memory_app, on_both_backends, Backend, TestApp};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A stand-in for the SES v2 endpoint: it answers the first `throttled` SendEmail calls with
/// 429 TooManyRequestsException (what SES says past the account's sending rate), the rest 200.
struct FakeSes {
    url: String,
    calls: Arc<AtomicUsize>,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeSes {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn fake_ses(throttled: usize) -> FakeSes {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (calls, accepted) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (c, a) = (calls.clone(), accepted.clone());
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let (calls, accepted) = (c.clone(), a.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (calls, accepted) = (calls.clone(), accepted.clone());
                    async move {
                        assert_eq!(req.uri().path(), "/v2/email/outbound-emails");
                        let n = calls.fetch_add(1, Ordering::SeqCst);
                        let (status, kind, body) = if n < throttled {
                            (429, "TooManyRequestsException", r#"{"message":"Maximum sending rate exceeded."}"#)
                        } else {
                            accepted.fetch_add(1, Ordering::SeqCst);
                            (200, "", r#"{"MessageId":"fake-message-id"}"#)
                        };
                        let mut response = hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from(body)));
                        *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                        response.headers_mut().insert("content-type", "application/json".parse().unwrap());
                        if !kind.is_empty() {
                            response.headers_mut().insert("x-amzn-errortype", kind.parse().unwrap());
                        }
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
            });
        }
    });
    FakeSes { url, calls, accepted, task }
}

/// An SES v2 client for `url` whose SDK does not retry by itself, so the service's own
/// backoff is what is under test (in Lambda the SDK's three attempts come first).
async fn ses_client(url: &str) -> aws_sdk_sesv2::Client {
    let credentials = aws_sdk_sesv2::config::Credentials::new("test", "test", None, None, "test");
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(url)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(credentials)
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    aws_sdk_sesv2::Client::new(&sdk)
}

fn active_user(address: &str) -> User {
    let user = learners_tests::stored_user(address, &learners_tests::unique("u"));
    User { status: UserStatus::Active, activated_at: Some(user.created_at), ..user }
}

#[tokio::test]
async fn ses_throttling_is_waited_out_and_the_reset_quota_counts_the_mail_once() {
    let (mut app, _parts, _clock) = memory_app();
    let address = email("throttled-");
    let user = active_user(&address);
    app.store.create_user(&user, None).await.unwrap();
    let quota = format!("reset-mail#{}", user.id);

    // Throttled three times, then accepted: one mail, after backoff; the quota counts one.
    let ses = fake_ses(3).await;
    app.mailer = Arc::new(SesMailer::new(ses_client(&ses.url).await, "no-reply@example.com", None));
    learners::mail::dispatch(&app, &reset_request(&address)).await.expect("sent after backoff");
    assert_eq!((ses.calls.load(Ordering::SeqCst), ses.accepted.load(Ordering::SeqCst)), (4, 1));
    assert_eq!(app.store.quota_used(&quota, app.clock.now()).await.unwrap(), 1);
    assert_eq!(app.metrics.total(Metric::MailsSent), 1);

    // Throttled on every attempt: the message must come back (Err), and the quota is untouched,
    // so the retry that SQS makes later is not refused by it.
    let ses = fake_ses(usize::MAX).await;
    app.mailer = Arc::new(SesMailer::new(ses_client(&ses.url).await, "no-reply@example.com", None));
    assert!(learners::mail::dispatch(&app, &reset_request(&address)).await.is_err());
    assert_eq!(ses.accepted.load(Ordering::SeqCst), 0);
    assert_eq!(app.store.quota_used(&quota, app.clock.now()).await.unwrap(), 1);
    assert_eq!(app.metrics.total(Metric::MailsSent), 1);
}

fn reset_request(address: &str) -> learners::mail::MailRequest {
    learners::mail::MailRequest::PasswordReset { email: address.to_owned() }
}

fn sqs_event(bodies: &[String]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let mut message = SqsMessage::default();
            message.message_id = Some(format!("m{i}"));
            message.body = Some(body.clone());
            message
        })
        .collect();
    event
}

/// An SES bounce event as SNS delivers it raw to the queue.
fn bounce_event(address: &str, bounce_type: &str) -> String {
    serde_json::json!({
        "eventType": "Bounce",
        "bounce": {
            "bounceType": bounce_type,
            "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": address, "action": "failed", "status": "5.1.1"}],
            "timestamp": "2026-11-29T10:00:00.000Z",
        },
        "mail": {"messageId": "0100018f-example", "destination": [address]},
    })
    .to_string()
}

on_both_backends!(a_hard_bounce_marks_the_account_and_stops_its_mail);

async fn a_hard_bounce_marks_the_account_and_stops_its_mail(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (bounced, other) = (email("bounced-"), email("other-"));
    app.active_account(&bounced, &learners_tests::unique("b")).await;
    app.active_account(&other, &learners_tests::unique("o")).await;
    let view = app.user(&bounced).await.unwrap();
    assert_eq!(view["mail_refused"], serde_json::Value::Null);

    // A soft bounce marks nothing; a hard one marks the account, for the operator to see.
    let event = sqs_event(&[bounce_event(&bounced, "Transient"), bounce_event(&bounced.to_uppercase(), "Permanent")]);
    let answer = learners::handlers::mail_events::handle(&app.app, event).await;
    assert!(answer.batch_item_failures.is_empty());
    let view = app.user(&bounced).await.unwrap();
    assert_eq!(view["mail_refused"]["kind"], "bounce");
    assert_eq!(view["mail_refused"]["address"], bounced.as_str());
    assert_eq!(app.user(&other).await.unwrap()["mail_refused"], serde_json::Value::Null);

    // The next mail to it is not sent; others still get theirs.
    let before = app.mail_to(&bounced).await.len();
    for address in [&bounced, &other] {
        let answer = app.post_json("/api/v1/password-resets", &serde_json::json!({"email": address})).await;
        assert_eq!(answer.status(), 202);
    }
    assert_eq!(app.mail_to(&bounced).await.len(), before);
    assert!(app.mail_to(&other).await.iter().any(|m| m.subject.contains("password")), "the other learner's reset");
}

on_both_backends!(
    ten_requests_for_mail_to_one_pending_address_in_an_hour_send_at_most_the_cap,
    mail_asked_for_from_one_source_stops_at_its_daily_cap,
);

/// Issue 21: anyone could make the site mail an address once a minute forever. Ten requests in
/// an hour for mail to one pending address (re-registrations and new-link requests, mixed) send
/// at most the daily cap, and every answer is the same.
async fn ten_requests_for_mail_to_one_pending_address_in_an_hour_send_at_most_the_cap(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cap = app.app.config.mails_per_address_per_day as usize;
    assert_eq!(cap, 3, "the default");
    let address = email("flood-");
    let mut answers = std::collections::BTreeSet::new();
    for i in 0..10 {
        let response = if i % 2 == 0 {
            app.register(&address, &learners_tests::unique("flood")).await
        } else {
            app.post_json("/api/v1/activation-emails", &serde_json::json!({"email": address})).await
        };
        assert_eq!(response.status(), 202);
        answers.insert((i % 2, response.bytes().await.unwrap()));
        app.settle().await;
        app.clock.advance(360);
    }
    assert_eq!(answers.len(), 2, "one answer per kind of request, mail sent or not");
    let sent = app.mail_to(&address).await;
    assert_eq!(sent.len(), cap, "{:?}", sent.iter().map(|m| &m.subject).collect::<Vec<_>>());
    // The re-registrations after the cap still replaced the registration: the last link mailed
    // ended with them, and nothing was mailed for them.
    let page = app.activate_link(&app.mailed_link(&address, "Activate", "/activate/").await).await;
    assert_eq!(page.status(), 404);
    // A day later, the address gets mail again.
    app.clock.advance(86_400);
    assert_eq!(app.post_json("/api/v1/activation-emails", &serde_json::json!({"email": address})).await.status(), 202);
    assert_eq!(app.mail_to(&address).await.len(), cap + 1);
    let page = app.activate_link(&app.mailed_link(&address, "Activate", "/activate/").await).await;
    assert!(page.text().await.unwrap().contains("Your account is active"));
}

/// Mail asked for from one source IP (the local gateway's peer address) stops at its daily cap,
/// whatever the addresses.
async fn mail_asked_for_from_one_source_stops_at_its_daily_cap(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("LEARNERS_MAILS_PER_SOURCE_PER_DAY", "2")]).await;
    let addresses: Vec<String> = (0..3).map(|_| email("source-")).collect();
    for address in &addresses {
        assert_eq!(app.register(address, &learners_tests::unique("src")).await.status(), 202);
        app.settle().await;
    }
    let mut sent = Vec::new();
    for address in &addresses {
        sent.push(app.mail_to(address).await.len());
    }
    assert_eq!(sent, [1, 1, 0]);
    // The queued request names the source by a keyed hash, never by its address.
    assert!(app.table_dump().await.iter().all(|item| !item.contains("127.0.0.1")));
    app.clock.advance(86_401);
    assert_eq!(
        app.post_json("/api/v1/activation-emails", &serde_json::json!({"email": addresses[2]})).await.status(),
        202
    );
    assert_eq!(app.mail_to(&addresses[2]).await.len(), 1, "the next day");
}

on_both_backends!(a_refusal_of_mail_ends_for_reset_links_after_a_day_and_for_all_mail_when_an_operator_clears_it);

/// Issue 21: one bounce or complaint used to silence an account's mail, reset links included,
/// for good. A reset link the learner asks for a day after the refusal goes out; an operator can
/// clear the refusal (audited), and then all mail goes out again.
async fn a_refusal_of_mail_ends_for_reset_links_after_a_day_and_for_all_mail_when_an_operator_clears_it(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let address = email("bounced-");
    app.active_account(&address, &learners_tests::unique("b")).await;
    let event = sqs_event(&[bounce_event(&address, "Permanent")]);
    assert!(learners::handlers::mail_events::handle(&app.app, event).await.batch_item_failures.is_empty());
    let request = serde_json::json!({"email": address});
    let ask = || app.post_json("/api/v1/password-resets", &request);

    // Within the day: silenced.
    app.clock.advance(3600);
    assert_eq!(ask().await.status(), 202);
    assert_eq!(resets(&app, &address).await, 0);
    // A day after the refusal: the learner's reset link goes out.
    app.clock.advance(learners::mail::REFUSAL_COOL_DOWN_SECONDS - 3600);
    assert_eq!(ask().await.status(), 202);
    assert_eq!(resets(&app, &address).await, 1);
    // Other mail stays silenced until an operator clears the refusal.
    assert_eq!(app.user(&address).await.unwrap()["mail_refused"]["kind"], "bounce");
    let cleared = app
        .client
        .post(app.url("/admin/v1/users/clear-mail-refusal"))
        .bearer_auth(learners_tests::ADMIN_TOKEN)
        .json(&serde_json::json!({"email": address}))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), 204);
    assert_eq!(app.user(&address).await.unwrap()["mail_refused"], serde_json::Value::Null);
    let audit = app.admin_get(&format!("/admin/v1/audit?email={}", learners_tests::urlencode(&address))).await;
    let audit: serde_json::Value = audit.json().await.unwrap();
    assert!(audit.to_string().contains("clear_mail_refusal"), "{audit}");
    // The next day's first reset link goes out at once: the address gets mail again.
    app.clock.advance(3601);
    assert_eq!(ask().await.status(), 202);
    assert_eq!(resets(&app, &address).await, 2);
    // Unknown addresses are a 404 for the operator.
    let unknown = app
        .client
        .post(app.url("/admin/v1/users/clear-mail-refusal"))
        .bearer_auth(learners_tests::ADMIN_TOKEN)
        .json(&serde_json::json!({"email": email("nobody-")}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

async fn resets(app: &TestApp, address: &str) -> usize {
    app.mail_to(address).await.iter().filter(|m| m.subject.starts_with("Reset")).count()
}
