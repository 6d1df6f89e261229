//! `Mailer`: a test per adapter (the memory mailer, SES on moto).

use learners::adapters::aws::{provision, AwsClients, SesMailer};
use learners::adapters::clock::ManualClock;
use learners::adapters::memory::{CapturedMail, MemoryMailer};
use learners::ports::{Mailer, OutgoingMail};
use learners_tests::{moto, unique};
use std::sync::Arc;

fn mail(to: &str) -> OutgoingMail {
    OutgoingMail {
        to: to.into(),
        from_name: "Learners".into(),
        subject: "Hello".into(),
        text: "plain body".into(),
        html: "<p>html body</p>".into(),
    }
}

#[tokio::test]
async fn the_memory_mailer_captures_what_it_sends() {
    let clock = Arc::new(ManualClock::new());
    clock.set(super::NOW);
    let mailer = MemoryMailer::new(clock.clone());
    mailer.send(&mail("a@example.com")).await.unwrap();
    clock.advance(5);
    mailer.send(&OutgoingMail { subject: "Again".into(), ..mail("b@example.com") }).await.unwrap();
    let captured = |to: &str, subject: &str, sent_at| CapturedMail {
        to: to.into(),
        from_name: "Learners".into(),
        subject: subject.into(),
        text: "plain body".into(),
        html: "<p>html body</p>".into(),
        sent_at,
    };
    // Every part as given, in the order sent, stamped by its clock.
    let expected = vec![
        captured("a@example.com", "Hello", super::NOW),
        captured("b@example.com", "Again", super::NOW.plus_seconds(5)),
    ];
    assert_eq!(mailer.sent(), expected);
}

#[tokio::test]
async fn ses_delivers_from_a_verified_sender_and_refuses_otherwise() {
    let clients = AwsClients::for_endpoint(moto::url()).await;
    provision::verify_sender(&clients, "no-reply@example.com").await.unwrap();
    let to = format!("{}@example.com", unique("ses-"));
    SesMailer::new(clients.ses.clone(), "no-reply@example.com", None).send(&mail(&to)).await.unwrap();
    let delivered = moto::sent_mail_to(&to).await;
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].subject, "Hello");
    let refused = SesMailer::new(clients.ses, "stranger@unverified.example", None).send(&mail(&to)).await;
    assert!(matches!(refused, Err(learners::ports::MailError::Permanent(_))), "{refused:?}");
}
