//! Row job kind: bulk registration. A row is an account to create, active, without mail; it
//! ends `created`, `skipped` (already registered, or a duplicate in the file) or `failed`.
//!
//! Invitations (issue 26, chosen per upload: `RowJob::invite`): each account the job creates
//! gets one mail with a link to choose a password (`MailRequest::Invitation`, minted and sent by
//! the mail worker); its row's code is then `invited` instead of `created`, so the report says
//! who was invited. The mail goes on the queue after the row's write: a redelivered row finds
//! its row settled as `invited` and queues it again, and the mail worker sends it once.

use super::RowKind;
use crate::domain::{
    AuditEntry, Email, FullName, JobKind, Password, RowJob, RowOutcome, RowResult, User, UserId, UserSource,
    UserStatus, Username,
};
use crate::mail::MailRequest;
use crate::metrics::Metric;
use crate::ports::{BulkCreate, Queue};
use crate::App;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// How long a kept password waits for its row (a job's messages are long settled by then).
const KEPT_PASSWORD_SECONDS: i64 = 86_400;

/// One row on its way to the worker. Its password never travels with it (a queue message can
/// end in the dead-letter queue for 14 days): the intake seals it (`App::sealer`, bound to the
/// job and row) and keeps it in the store, and the write that settles the row forgets it; the
/// table and its backups never hold it in clear. Not `Debug`: it may hold the password in
/// memory.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkRow {
    pub row: u64,
    pub email: String,
    pub username: String,
    pub name: String,
    /// The file gave a password: the worker reads it from the store (`RowJobs::kept_password`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub has_password: bool,
    #[serde(skip)]
    pub password: Option<String>,
}

pub struct BulkRegistration;

/// Settles a row that creates no account, and counts it (once: not when it was settled before).
async fn settle_row(app: &App, job: &RowJob, outcome: &RowOutcome) -> anyhow::Result<()> {
    if app.jobs.settle_row(job, outcome).await? {
        app.metrics.count(match outcome.result {
            RowResult::Done => Metric::BulkRowsCreated,
            RowResult::Skipped => Metric::BulkRowsSkipped,
            RowResult::Failed => Metric::BulkRowsFailed,
        });
    }
    Ok(())
}

#[async_trait]
impl RowKind for BulkRegistration {
    const KIND: JobKind = JobKind::BulkRegistration;
    const QUEUE: Queue = Queue::BulkRegistration;
    type Row = BulkRow;

    fn row_number(row: &BulkRow) -> u64 {
        row.row
    }

    fn failed(row: &BulkRow) -> RowOutcome {
        RowOutcome::new(
            row.row,
            &row.email,
            RowResult::Failed,
            "processing_failed",
            "The account could not be created; try this row again.",
        )
    }

    async fn before_enqueue(app: &App, job: &RowJob, rows: &mut [BulkRow]) -> anyhow::Result<()> {
        let passwords: Vec<(u64, String)> =
            rows.iter_mut().filter_map(|row| row.password.take().map(|password| (row.row, password))).collect();
        if !passwords.is_empty() {
            let kept_until = job.created_at.plus_seconds(KEPT_PASSWORD_SECONDS);
            let sealed = app.sealer.seal(&job.id, &passwords).await?;
            anyhow::ensure!(
                sealed.len() == passwords.len(),
                "the sealer sealed {} of {}",
                sealed.len(),
                passwords.len()
            );
            let sealed: Vec<(u64, String)> = passwords.iter().map(|(row, _)| *row).zip(sealed).collect();
            app.jobs.keep_passwords(&job.id, &sealed, kept_until).await?;
        }
        Ok(())
    }

    async fn settle(app: &App, job: &RowJob, row: &BulkRow) -> anyhow::Result<()> {
        let mut row = row.clone();
        if row.has_password {
            row.password = match app.jobs.kept_password(&job.id, row.row, app.clock.now()).await? {
                Some(sealed) => Some(app.sealer.open(&job.id, row.row, &sealed).await?),
                None => None,
            };
            if row.password.is_none() {
                let outcome = RowOutcome::new(
                    row.row,
                    &row.email,
                    RowResult::Failed,
                    "password_expired",
                    "The row's password was kept for a day and is gone; register this row again.",
                );
                return settle_row(app, job, &outcome).await;
            }
        }
        let row = &row;
        // The rules are applied again: a message is input too.
        let valid = match validate(app, row) {
            Ok(valid) => valid,
            Err(outcome) => return settle_row(app, job, &outcome).await,
        };
        // The breach corpus is asked here, one row at a time, not at intake (where every row
        // of a file is checked in one request).
        if let Some(password) = &valid.password {
            if let Err(reason) = app.refuse_breached(password).await {
                let outcome =
                    RowOutcome::new(row.row, &row.email, RowResult::Failed, "invalid_password", reason.to_string());
                return settle_row(app, job, &outcome).await;
            }
        }
        let password_hash = match &valid.password {
            Some(password) => Some(app.passwords.hash(password).await?),
            None => None,
        };
        let now = app.clock.now();
        let email_text = valid.email.to_string();
        let user = User {
            id: UserId::generate(),
            email: valid.email,
            username: valid.username,
            name: valid.name,
            password_hash,
            status: UserStatus::Active,
            created_at: now,
            activated_at: Some(now),
            terms_accepted_at: None,
            terms_version: None,
            source: UserSource::Bulk,
            auth_epoch: 0,
            operator: false,
            mail_refused: None,
            support: false,
            disabled_at: None,
        };
        let mut outcome = if job.invite {
            RowOutcome::new(
                row.row,
                &email_text,
                RowResult::Done,
                INVITED,
                "Created; an invitation to choose a password was sent to this address.",
            )
        } else {
            RowOutcome::new(row.row, &email_text, RowResult::Done, "created", "")
        };
        outcome.user_id = Some(user.id.clone());
        let audit = AuditEntry::new(
            now,
            &job.operator,
            "bulk_register",
            &user.id,
            format!("created by job {} (row {})", job.id, row.row),
        );
        match app.jobs.create_bulk_user(job, &user, &outcome, &audit).await? {
            BulkCreate::Created => {
                app.metrics.count(Metric::BulkRowsCreated);
                if job.invite {
                    invite(app, job, &user.id).await?;
                }
                Ok(())
            }
            BulkCreate::AlreadySettled if job.invite => {
                // Settled by an earlier delivery, which may have stopped before its invitation
                // was queued: queued again if the row says it invited (the worker sends once).
                let settled = app.jobs.rows(&job.id, row.row.saturating_sub(1), 1).await?;
                if let Some(settled) = settled.first().filter(|s| s.row == row.row && s.code == INVITED) {
                    let email = Email::parse(&settled.email).ok();
                    let owner = match email {
                        Some(email) => app.store.user_by_email_key(&email.key()).await?,
                        None => None,
                    };
                    if let Some(owner) = owner.filter(|u| u.source == UserSource::Bulk) {
                        invite(app, job, &owner.id).await?;
                    }
                }
                Ok(())
            }
            BulkCreate::AlreadySettled => Ok(()),
            BulkCreate::Taken { email_taken, .. } => {
                let what = if email_taken { "email" } else { "username" };
                // The row names that account: it goes with it if the account is deleted.
                let owner = if email_taken {
                    app.store.user_by_email_key(&user.email.key()).await?.map(|u| u.id)
                } else {
                    None
                };
                let mut outcome = RowOutcome::new(
                    row.row,
                    &email_text,
                    RowResult::Skipped,
                    "already_registered",
                    format!("An account with this {what} already exists; it was left as it is."),
                );
                outcome.user_id = owner;
                settle_row(app, job, &outcome).await
            }
        }
    }
}

/// The code of a created row whose learner is sent an invitation.
pub const INVITED: &str = "invited";

/// Queues the invitation of an account the job created.
async fn invite(app: &App, job: &RowJob, user_id: &UserId) -> anyhow::Result<()> {
    let request = MailRequest::Invitation { user_id: user_id.to_string(), job_id: job.id.clone() };
    app.queue.enqueue(Queue::Mail, &[request.to_body()?]).await
}

/// A row that passed the self-registration rules.
pub(crate) struct ValidRow {
    pub email: Email,
    pub username: Username,
    pub name: FullName,
    pub password: Option<Password>,
}

/// Applies the self-registration rules to every field (the password policy too, when a
/// password is given).
pub(crate) fn validate(app: &App, row: &BulkRow) -> Result<ValidRow, RowOutcome> {
    let fail = |code: &str, message: String| RowOutcome::new(row.row, &row.email, RowResult::Failed, code, message);
    let email = Email::parse(&row.email).map_err(|e| fail("invalid_email", e.to_string()))?;
    let username = Username::parse(&row.username).map_err(|e| fail("invalid_username", e.to_string()))?;
    let name = FullName::parse(&row.name).map_err(|e| fail("invalid_name", e.to_string()))?;
    let password = match &row.password {
        Some(password) => {
            let personal = [username.as_ref(), email.local_part(), name.as_ref()];
            Some(
                app.password_policy(crate::domain::Factors::PasswordOnly)
                    .check(password, &personal)
                    .map_err(|e| fail("invalid_password", e.to_string()))?,
            )
        }
        None => None,
    };
    Ok(ValidRow { email, username, name, password })
}
