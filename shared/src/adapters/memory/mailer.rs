//! A mailer that keeps what it is given, for `make dev` (`GET /_dev/mail`) and tests.

use crate::domain::Timestamp;
use crate::ports::{Clock, MailError, Mailer, OutgoingMail};
use async_trait::async_trait;
use serde::Serialize;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct CapturedMail {
    pub to: String,
    /// The sender's display name.
    pub from_name: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub sent_at: Timestamp,
}

pub struct MemoryMailer {
    clock: Arc<dyn Clock>,
    outbox: Mutex<Vec<CapturedMail>>,
}

impl MemoryMailer {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock, outbox: Mutex::new(Vec::new()) }
    }

    pub fn sent(&self) -> Vec<CapturedMail> {
        self.outbox.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn clear(&self) {
        self.outbox.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

#[async_trait]
impl Mailer for MemoryMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let captured = CapturedMail {
            to: mail.to.clone(),
            from_name: mail.from_name.clone(),
            subject: mail.subject.clone(),
            text: mail.text.clone(),
            html: mail.html.clone(),
            sent_at: self.clock.now(),
        };
        self.outbox.lock().unwrap_or_else(|p| p.into_inner()).push(captured);
        Ok(())
    }
}
