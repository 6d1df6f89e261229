//! `Mailer` on SES v2.

use super::LazyClient;
use crate::ports::{MailError, Mailer, OutgoingMail};
use async_trait::async_trait;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use aws_sdk_sesv2::Client;

pub struct SesMailer {
    client: LazyClient<Client>,
    from: String,
    /// Bounce and complaint events of mail sent with it come back to the service.
    configuration_set: Option<String>,
}

impl SesMailer {
    pub fn new(client: Client, from: impl Into<String>, configuration_set: Option<String>) -> Self {
        Self { client: LazyClient::ready(client), from: from.into(), configuration_set }
    }

    /// Its client is made on first use (see `LazyClient`).
    pub fn lazy(sdk: &aws_config::SdkConfig, from: impl Into<String>, configuration_set: Option<String>) -> Self {
        Self { client: LazyClient::new(sdk, Client::new), from: from.into(), configuration_set }
    }

    fn client(&self) -> &Client {
        self.client.get()
    }
}

fn utf8(data: &str) -> Result<Content, MailError> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(|e| MailError::Permanent(anyhow::Error::new(e).context("building SES content")))
}

/// `"Name" <address>` (RFC 5322), the name as a MIME encoded word when it is not plain ASCII
/// (SES takes no raw UTF-8 there); the address alone without a name. The name was checked
/// (`domain::settings`): no quotes, backslashes, angle brackets or line breaks.
fn from_header(name: &str, address: &str) -> String {
    use base64::Engine;
    let name = name.trim();
    if name.is_empty() || name.chars().any(|c| c.is_control() || matches!(c, '"' | '\\' | '<' | '>')) {
        return address.to_owned();
    }
    if name.is_ascii() {
        format!("\"{name}\" <{address}>")
    } else {
        let encoded = base64::engine::general_purpose::STANDARD.encode(name.as_bytes());
        format!("=?UTF-8?B?{encoded}?= <{address}>")
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let message = Message::builder()
            .subject(utf8(&mail.subject)?)
            .body(Body::builder().text(utf8(&mail.text)?).html(utf8(&mail.html)?).build())
            .build();
        let result = self
            .client()
            .send_email()
            .from_email_address(from_header(&mail.from_name, &self.from))
            .set_configuration_set_name(self.configuration_set.clone())
            .destination(Destination::builder().to_addresses(&mail.to).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await;
        let Err(error) = result else {
            return Ok(());
        };
        // The SDK already retried throttling and 5xx; what is still passing is worth a later try.
        let transient = match error.as_service_error() {
            Some(e) => {
                e.is_too_many_requests_exception()
                    || e.is_limit_exceeded_exception()
                    || error.raw_response().is_some_and(|r| r.status().is_server_error())
            }
            None => true,
        };
        let error = anyhow::Error::new(error).context("SES SendEmail");
        Err(if transient { MailError::Transient(error) } else { MailError::Permanent(error) })
    }
}

impl std::fmt::Debug for SesMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SesMailer").field("from", &self.from).finish()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_sender_name_is_quoted_or_encoded() {
        assert_eq!(super::from_header("", "no-reply@x.org"), "no-reply@x.org");
        assert_eq!(super::from_header("Learn Site", "no-reply@x.org"), "\"Learn Site\" <no-reply@x.org>");
        assert_eq!(super::from_header("Élan", "a@x.org"), "=?UTF-8?B?w4lsYW4=?= <a@x.org>");
        assert_eq!(super::from_header("a\"b", "a@x.org"), "a@x.org");
    }
}
