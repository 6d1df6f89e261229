//! Row job kind: deletion by list. A row is an address whose account goes; it ends `deleted`,
//! `not_found` or `failed`, and keeps no address it was not asked to keep (only a row that
//! is no valid address at all shows what was written, to say what was wrong).

use super::RowKind;
use crate::domain::{
    email_hmac, Actor, AuditEntry, Email, JobKind, Retirement, RowJob, RowOutcome, RowResult, UserId, UserStatus,
};
use crate::ports::Queue;
use crate::ports::{DeleteRequest, Deleted};
use crate::App;
use anyhow::Context;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// One account to delete: by address (an operator's list) or by id (the learner's own request).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeletionTarget {
    pub row: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// Addresses per operator request (a larger list is refused: split it).
pub const MAX_EMAILS: usize = 10_000;

pub struct Deletion;

#[async_trait]
impl RowKind for Deletion {
    const KIND: JobKind = JobKind::Deletion;
    const QUEUE: Queue = Queue::Deletion;
    type Row = DeletionTarget;

    fn row_number(row: &DeletionTarget) -> u64 {
        row.row
    }

    fn failed(row: &DeletionTarget) -> RowOutcome {
        target_outcome(row, RowResult::Failed, "processing_failed", "The account could not be deleted; try again.")
    }

    async fn settle(app: &App, job: &RowJob, row: &DeletionTarget) -> anyhow::Result<()> {
        let secret = app
            .config
            .retirement_secret
            .as_deref()
            .context("LEARNERS_RETIREMENT_SECRET is not set: no deletion can run")?;
        delete_one(app, secret, Some(job), &job.operator, row).await
    }
}

/// Why a console list's row naming an operator's account was not deleted.
const OPERATOR_ACCOUNT: &str = "An operator's account is not deleted from the console (the admin API can).";

/// Why an admin API list's row naming an operator's account was not deleted: a list is where
/// a slip happens (the wrong file, the operator's own address in a cohort's list), and an
/// operator's account goes only on purpose, after its role is revoked.
const OPERATOR_ACCOUNT_IN_A_LIST: &str =
    "An operator's account is not deleted from a list: revoke its operator role first (learnerctl operators revoke), \
     then delete it.";

/// How many times (200 ms apart) a learner's own deletion waits for the account's mark.
const MARK_WAITS: u32 = 5;

/// A deletion row's outcome.
fn target_outcome(target: &DeletionTarget, result: RowResult, code: &str, message: &str) -> RowOutcome {
    RowOutcome {
        row: target.row,
        // A deletion job keeps no address: deleted and unknown ones alike are personal data
        // (the operator has the list, and the row numbers point into it). Only what is no
        // address at all is shown, to say what was wrong with it.
        email: match &target.email {
            Some(raw) if result == RowResult::Failed && Email::parse(raw).is_err() => raw.clone(),
            _ => String::new(),
        },
        result,
        code: code.into(),
        message: message.into(),
        user_id: None,
    }
}

/// Deletes the account a target names. With a job, the row is settled in the same write (or
/// as `not_found`); without one, only an account marked by its owner's own request goes.
pub(crate) async fn delete_one(
    app: &App,
    secret: &str,
    job: Option<&RowJob>,
    requested_by: &str,
    target: &DeletionTarget,
) -> anyhow::Result<()> {
    // No "already settled?" read first: `delete_user` and `settle_row` both check it in the
    // same atomic write that settles the row.
    let user = match (&target.email, &target.user_id) {
        (Some(email), _) => match Email::parse(email) {
            Ok(email) => app.store.user_by_email_key(&email.key()).await?,
            Err(_) => None,
        },
        (None, Some(id)) => match UserId::parse(id) {
            Some(id) => app.store.user_by_id(&id).await?,
            None => None,
        },
        (None, None) => None,
    };
    let not_found = || target_outcome(target, RowResult::Skipped, "not_found", "No account has this address.");
    // A learner's request is queued just before the account is marked (so that a marked
    // account always has its deletion on the way): the mark may be a moment behind.
    let mut user = user;
    for _ in 0..MARK_WAITS {
        match &user {
            Some(found) if job.is_none() && found.status != UserStatus::RemovalRequested => {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                user = app.store.user_by_id(&found.id).await?;
            }
            _ => break,
        }
    }
    let authorised = match (job, &user) {
        // An operator's job: the pipeline passes only rows the job has.
        (Some(_), _) => true,
        // A learner's own request: by user id, for an account that is marked for removal.
        (None, Some(user)) => {
            target.email.is_none() && requested_by == "self" && user.status == UserStatus::RemovalRequested
        }
        (None, None) => true,
    };
    if !authorised {
        tracing::warn!(
            row = target.row,
            "deletion target without authority (no removal request, or not a row of the job): nothing deleted"
        );
        return Ok(());
    }
    let Some(user) = user else {
        if let Some(job) = job {
            app.jobs.settle_row(job, &not_found()).await?;
        }
        return Ok(());
    };
    let now = app.clock.now();
    if let Some(job) = job.filter(|_| user.operator) {
        // A list naming an operator's account (the operator's own among them): that row is
        // refused, whoever sent the list.
        let why = if Actor::from_record(&job.operator).may_change(&user) {
            OPERATOR_ACCOUNT_IN_A_LIST
        } else {
            OPERATOR_ACCOUNT
        };
        let refused = target_outcome(target, RowResult::Failed, "operator_account", why);
        if app.jobs.settle_row(job, &refused).await? {
            let entry = AuditEntry::new(now, &job.operator, "delete", &user.id, "refused: operator account");
            app.audit.record(&entry).await?;
        }
        return Ok(());
    }
    let retirement = Retirement {
        email_hmac: email_hmac(secret, &user.email),
        user_id: user.id.clone(),
        retired_at: now,
        requested_by: requested_by.to_owned(),
    };
    let deleted = target_outcome(target, RowResult::Done, "deleted", "");
    let audit =
        job.map(|job| AuditEntry::new(now, &job.operator, "delete", &user.id, format!("deleted by job {}", job.id)));
    let request = DeleteRequest {
        user: &user,
        counter_key: &app.counter_key(&user.email)?,
        retirement: &retirement,
        job_row: job.map(|job| (job, &deleted)),
        audit: audit.as_ref(),
    };
    match app.store.delete_user(&request).await? {
        Deleted::Deleted => {
            tracing::info!(user_id = %user.id, requested_by, "account deleted");
            app.metrics.count(crate::metrics::Metric::Deletions);
        }
        Deleted::AlreadySettled => {}
        Deleted::NotFound => {
            if let Some(job) = job {
                app.jobs.settle_row(job, &not_found()).await?;
            }
        }
    }
    Ok(())
}
