//! What SES reports about mail already sent: a hard bounce or a complaint marks the account
//! whose address it was (operators see it), and `mail::deliver` sends that account nothing more
//! while its email is that address. SES publishes the events of the configuration set the
//! mail was sent with to an SNS topic, which delivers them to the mail events queue.
//!
//! Soft (transient) bounces mark nothing: SES already retried them, and the next mail may
//! pass. See <https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-contents.html>.

use crate::domain::{AuditEntry, Email, MailRefusal, MailRefusalKind};
use crate::flows::admin::SupportError;
use crate::metrics::Metric;
use crate::App;
use serde::Deserialize;

/// An operator forgets that an account's address refused mail (the learner fixed the mailbox,
/// or the complaint was a slip), so that mail goes to it again; audited like every operator
/// action. A refusal also stops being final by itself for reset links: see
/// `mail::REFUSAL_COOL_DOWN_SECONDS`.
pub async fn clear_mail_refusal(app: &App, operator: &str, raw_email: &str) -> Result<(), SupportError> {
    let email = Email::parse(raw_email)?;
    let user = app.store.user_by_email_key(&email.key()).await?.ok_or(SupportError::NotFound)?;
    let outcome = if user.mail_refused.is_none() {
        "no_change"
    } else if app.store.clear_mail_refusal(&user.id).await? {
        "done"
    } else {
        return Err(SupportError::NotFound);
    };
    let entry = AuditEntry::new(app.clock.now(), operator, "clear_mail_refusal", &user.id, outcome);
    app.audit.record(&entry).await?;
    tracing::info!(operator, action = "clear_mail_refusal", user_id = %user.id, outcome, "operator action");
    Ok(())
}

/// The part of an SES event (or of an SES notification, which names its type differently)
/// that matters here.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SesEvent {
    #[serde(alias = "notificationType")]
    event_type: String,
    bounce: Option<Bounce>,
    complaint: Option<Complaint>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bounce {
    bounce_type: String,
    #[serde(default)]
    bounced_recipients: Vec<Recipient>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Complaint {
    #[serde(default)]
    complained_recipients: Vec<Recipient>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recipient {
    email_address: String,
}

/// An SNS envelope, when the subscription does not deliver raw messages.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SnsEnvelope {
    message: String,
}

/// The refusals a queue message reports: (kind, address). Anything else (deliveries,
/// transient bounces, other JSON) reports none; a body that is not JSON is an error.
pub fn refusals(body: &str) -> Result<Vec<(MailRefusalKind, String)>, serde_json::Error> {
    let event: SesEvent = match serde_json::from_str::<SnsEnvelope>(body) {
        Ok(envelope) => serde_json::from_str(&envelope.message)?,
        Err(_) => serde_json::from_str(body)?,
    };
    let found = match (event.event_type.as_str(), event.bounce, event.complaint) {
        ("Bounce", Some(bounce), _) if bounce.bounce_type == "Permanent" => {
            bounce.bounced_recipients.into_iter().map(|r| (MailRefusalKind::Bounce, r.email_address)).collect()
        }
        ("Complaint", _, Some(complaint)) => {
            complaint.complained_recipients.into_iter().map(|r| (MailRefusalKind::Complaint, r.email_address)).collect()
        }
        _ => Vec::new(),
    };
    Ok(found)
}

/// Marks the account of each refusing address. An address with no account (deleted since)
/// is nothing to mark. Err: the message comes back.
pub async fn record(app: &App, refusals: Vec<(MailRefusalKind, String)>) -> anyhow::Result<()> {
    for (kind, address) in refusals {
        app.metrics.count(Metric::MailsRefused);
        let Ok(email) = Email::parse(&address) else {
            continue;
        };
        let Some(user) = app.store.user_by_email_key(&email.key()).await? else {
            continue;
        };
        let refusal = MailRefusal { kind, address: user.email.to_string(), at: app.clock.now() };
        if app.store.mark_mail_refused(&user.id, &refusal).await? {
            tracing::warn!(user_id = %user.id, kind = kind.as_str(), "the account's address refuses mail: no more mail to it");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hard_bounces_and_complaints_are_refusals_and_nothing_else_is() {
        let bounce = r#"{"eventType":"Bounce","bounce":{"bounceType":"Permanent","bounceSubType":"General","bouncedRecipients":[{"emailAddress":"a@example.org","action":"failed"}]},"mail":{"messageId":"x"}}"#;
        assert_eq!(refusals(bounce).unwrap(), vec![(MailRefusalKind::Bounce, "a@example.org".to_owned())]);
        let soft = bounce.replace("Permanent", "Transient");
        assert!(refusals(&soft).unwrap().is_empty());
        let complaint = r#"{"notificationType":"Complaint","complaint":{"complainedRecipients":[{"emailAddress":"b@example.org"}]}}"#;
        assert_eq!(refusals(complaint).unwrap(), vec![(MailRefusalKind::Complaint, "b@example.org".to_owned())]);
        let wrapped = serde_json::json!({"Type": "Notification", "Message": complaint}).to_string();
        assert_eq!(refusals(&wrapped).unwrap().len(), 1);
        assert!(refusals(r#"{"eventType":"Delivery","delivery":{}}"#).unwrap().is_empty());
        assert!(refusals("not json").is_err());
    }
}
