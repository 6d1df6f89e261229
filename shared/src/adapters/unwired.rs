//! The adapter of a service a function is not wired to call (`wiring::functions`): every call
//! fails, naming the service. A Lambda function gets it for each AWS service its IAM policy does
//! not grant, so its binary does not link that service's SDK; the local gateway gives it to each
//! handler in place of what its function lacks, so a test fails where production would.

use crate::domain::oidc::PublicJwk;
use crate::ports::{MailError, Mailer, ObjectStream, OutgoingMail, Sealer, SignedUpload, Signer, Uploads};
use async_trait::async_trait;
use std::time::Duration;

/// Stands for `service` (say, "SES") in a function that does not call it.
pub struct Unwired(pub &'static str);

impl Unwired {
    fn refuse(&self) -> anyhow::Error {
        anyhow::anyhow!("this function is not wired to call {} (see wiring::functions and its IAM policy)", self.0)
    }
}

#[async_trait]
impl Mailer for Unwired {
    async fn send(&self, _: &OutgoingMail) -> Result<(), MailError> {
        Err(MailError::Permanent(self.refuse()))
    }
}

#[async_trait]
impl Signer for Unwired {
    async fn signing_key(&self) -> anyhow::Result<PublicJwk> {
        Err(self.refuse())
    }

    async fn sign_rs256(&self, _: &[u8]) -> anyhow::Result<Vec<u8>> {
        Err(self.refuse())
    }

    async fn public_keys(&self) -> anyhow::Result<Vec<PublicJwk>> {
        Err(self.refuse())
    }
}

#[async_trait]
impl Sealer for Unwired {
    async fn seal(&self, _: &str, _: &[(u64, String)]) -> anyhow::Result<Vec<String>> {
        Err(self.refuse())
    }

    async fn open(&self, _: &str, _: u64, _: &str) -> anyhow::Result<String> {
        Err(self.refuse())
    }
}

#[async_trait]
impl Uploads for Unwired {
    async fn presign_put(&self, _: &str, _: Duration) -> anyhow::Result<SignedUpload> {
        Err(self.refuse())
    }

    async fn presign_post(&self, _: &str, _: &str, _: u64, _: Duration) -> anyhow::Result<SignedUpload> {
        Err(self.refuse())
    }

    async fn open(&self, _: &str) -> anyhow::Result<Option<ObjectStream>> {
        Err(self.refuse())
    }

    async fn delete(&self, _: &str) -> anyhow::Result<()> {
        Err(self.refuse())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_call_fails_naming_the_service() {
        let unwired = Unwired("KMS");
        let said = |e: anyhow::Error| e.to_string();
        for message in [
            said(Signer::public_keys(&unwired).await.unwrap_err()),
            said(Sealer::seal(&unwired, "job", &[]).await.unwrap_err()),
            said(Uploads::delete(&unwired, "key").await.unwrap_err()),
        ] {
            assert!(message.contains("not wired to call KMS"), "{message}");
        }
        let mail = OutgoingMail {
            to: "a@example.org".into(),
            from_name: String::new(),
            subject: "s".into(),
            text: "t".into(),
            html: "h".into(),
        };
        assert!(matches!(Mailer::send(&unwired, &mail).await, Err(MailError::Permanent(_))));
    }
}
