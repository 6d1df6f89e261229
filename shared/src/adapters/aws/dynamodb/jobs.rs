//! `BulkJobs` on DynamoDB: jobs, their rows and problem rows, kept passwords.

use super::{applied, DynamoStore};
use crate::adapters::aws::items::{self, RefAction};
use crate::domain::{AuditEntry, BulkJob, JobStatus, RowOutcome, Timestamp, User};
use crate::ports::{BulkCreate, BulkJobs};
use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};

impl DynamoStore {
    /// The update that counts a settled row on its job.
    pub(super) fn count_row(&self, job_id: &str, counter: &str) -> anyhow::Result<TransactWriteItem> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(items::job_key(job_id)))
            .update_expression("ADD #counter :one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#counter", counter)
            .expression_attribute_values(":one", items::n(1))
            .build()
            .context("building the job count update")?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The delete of a row's kept password, in the write that settles the row.
    pub(super) fn forget_password(&self, job_id: &str, row: u64) -> anyhow::Result<TransactWriteItem> {
        let delete = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(&self.table)
            .set_key(Some(items::kept_password_key(job_id, row)))
            .build()
            .context("building a password delete")?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    pub(super) async fn row_expiry(&self, job_id: &str) -> anyhow::Result<Timestamp> {
        let job = self.job(job_id).await?.with_context(|| format!("no job {job_id}"))?;
        Ok(job.created_at.plus_seconds(items::JOB_RETENTION_SECONDS))
    }
}

#[async_trait]
impl BulkJobs for DynamoStore {
    async fn create_job(&self, job: &BulkJob, known: &[RowOutcome]) -> anyhow::Result<()> {
        self.client()
            .put_item()
            .table_name(&self.table)
            .set_item(Some(items::job_item(job)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .context("DynamoDB PutItem (job)")?;
        let expires = job.created_at.plus_seconds(items::JOB_RETENTION_SECONDS);
        // Each known row is written twice: its settled marker (ROW#) and its problem copy (ERR#).
        for (chunk, as_problem) in known.chunks(25).map(|c| (c, true)).chain(known.chunks(25).map(|c| (c, false))) {
            let mut requests: Vec<aws_sdk_dynamodb::types::WriteRequest> = chunk
                .iter()
                .map(|outcome| {
                    let put = aws_sdk_dynamodb::types::PutRequest::builder()
                        .set_item(Some(if as_problem {
                            items::problem_item(&job.id, outcome, expires)
                        } else {
                            items::row_item(&job.id, outcome, expires)
                        }))
                        .build()
                        .context("building a row put")?;
                    Ok(aws_sdk_dynamodb::types::WriteRequest::builder().put_request(put).build())
                })
                .collect::<anyhow::Result<_>>()?;
            // BatchWriteItem may hand some writes back under load: send those again.
            for attempt in 0..8u64 {
                let output = self
                    .client()
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .context("DynamoDB BatchWriteItem (row outcomes)")?;
                requests = output.unprocessed_items.and_then(|mut u| u.remove(&self.table)).unwrap_or_default();
                if requests.is_empty() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
            anyhow::ensure!(requests.is_empty(), "DynamoDB kept {} row outcomes unprocessed", requests.len());
        }
        Ok(())
    }

    async fn job(&self, id: &str) -> anyhow::Result<Option<BulkJob>> {
        self.get(items::job_key(id)).await?.as_ref().map(items::job_from_item).transpose()
    }

    async fn keep_passwords(
        &self,
        job_id: &str,
        passwords: &[(u64, String)],
        expires_at: Timestamp,
    ) -> anyhow::Result<()> {
        use futures::{StreamExt, TryStreamExt};
        let batches: Vec<Vec<aws_sdk_dynamodb::types::WriteRequest>> = passwords
            .chunks(25)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|(row, password)| {
                        let put = aws_sdk_dynamodb::types::PutRequest::builder()
                            .set_item(Some(items::kept_password_item(job_id, *row, password, expires_at)))
                            .build()
                            .context("building a password put")?;
                        Ok(aws_sdk_dynamodb::types::WriteRequest::builder().put_request(put).build())
                    })
                    .collect::<anyhow::Result<Vec<_>>>()
            })
            .collect::<anyhow::Result<_>>()?;
        // A few batches at a time; what DynamoDB hands back is sent again.
        futures::stream::iter(batches.into_iter().map(|batch| self.batch_write(batch, "kept passwords")))
            .buffer_unordered(4)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    async fn kept_password(&self, job_id: &str, row: u64, now: Timestamp) -> anyhow::Result<Option<String>> {
        let Some(item) = self.get(items::kept_password_key(job_id, row)).await? else {
            return Ok(None);
        };
        if items::get_ts(&item, "expires_at")? <= now {
            return Ok(None);
        }
        Ok(Some(items::get_s(&item, "password")?.to_owned()))
    }

    async fn create_bulk_user(
        &self,
        job_id: &str,
        user: &User,
        outcome: &RowOutcome,
        audit: &AuditEntry,
    ) -> anyhow::Result<BulkCreate> {
        let expires = self.row_expiry(job_id).await?;
        let actions = vec![
            self.put_new(items::user_item(user))?,
            self.put_new(items::claim_item(items::email_key(&user.email.key()), &user.id))?,
            self.put_new(items::claim_item(items::username_key(&user.username.key()), &user.id))?,
            self.put_new(items::row_item(job_id, outcome, expires))?,
            self.count_row(job_id, "created")?,
            self.put_new(items::audit_item(audit))?,
            self.put(items::ref_item(&user.id, &items::job_row_key(job_id, outcome.row), RefAction::Scrub, expires))?,
            self.forget_password(job_id, outcome.row)?,
        ];
        let Some(failed) = self.transact(actions).await? else {
            return Ok(BulkCreate::Created);
        };
        if failed.get(3) == Some(&true) || self.row_settled(job_id, outcome.row).await? {
            return Ok(BulkCreate::AlreadySettled);
        }
        let (mut email_taken, mut username_taken) = (failed.get(1) == Some(&true), failed.get(2) == Some(&true));
        if !email_taken && !username_taken {
            email_taken = self.get(items::email_key(&user.email.key())).await?.is_some();
            username_taken = self.get(items::username_key(&user.username.key())).await?.is_some();
        }
        anyhow::ensure!(email_taken || username_taken, "bulk user creation was cancelled for no known reason");
        Ok(BulkCreate::Taken { email_taken, username_taken })
    }

    async fn settle_row(&self, job_id: &str, outcome: &RowOutcome) -> anyhow::Result<bool> {
        let expires = self.row_expiry(job_id).await?;
        let copy = Put::builder()
            .table_name(&self.table)
            .set_item(Some(items::problem_item(job_id, outcome, expires)))
            .build()
            .context("building a problem row put")?;
        let mut actions = vec![
            self.put_new(items::row_item(job_id, outcome, expires))?,
            self.count_row(job_id, outcome.result.counter())?,
            TransactWriteItem::builder().put(copy).build(),
            self.forget_password(job_id, outcome.row)?,
        ];
        // A row that names an existing account (already registered) goes with that account.
        if let Some(user_id) = &outcome.user_id {
            let row = items::job_row_key(job_id, outcome.row);
            let copy = items::problem_item(job_id, outcome, expires);
            actions.push(self.put(items::ref_item(user_id, &row, RefAction::Scrub, expires))?);
            actions.push(self.put(items::ref_item(user_id, &copy, RefAction::Scrub, expires))?);
        }
        Ok(self.transact(actions).await?.is_none())
    }

    async fn row_settled(&self, job_id: &str, row: u64) -> anyhow::Result<bool> {
        Ok(self.get(items::job_row_key(job_id, row)).await?.is_some())
    }

    async fn refresh_status(&self, job_id: &str) -> anyhow::Result<Option<BulkJob>> {
        let Some(mut job) = self.job(job_id).await? else {
            return Ok(None);
        };
        let status = if job.settled() >= job.total { JobStatus::Completed } else { JobStatus::Running };
        if status != job.status && job.status != JobStatus::Completed {
            let result = self
                .client()
                .update_item()
                .table_name(&self.table)
                .set_key(Some(items::job_key(job_id)))
                .update_expression("SET #status = :status")
                .condition_expression("#status <> :completed")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":status", items::s(status.as_str()))
                .expression_attribute_values(":completed", items::s(JobStatus::Completed.as_str()))
                .send()
                .await;
            applied(result, "DynamoDB UpdateItem (job status)")?;
            job.status = status;
        }
        Ok(Some(job))
    }

    async fn outcomes(&self, job_id: &str) -> anyhow::Result<Vec<RowOutcome>> {
        self.rows_with_prefix(job_id, "ROW#").await
    }

    async fn problems(&self, job_id: &str) -> anyhow::Result<Vec<RowOutcome>> {
        self.rows_with_prefix(job_id, "ERR#").await
    }
}

impl DynamoStore {
    async fn rows_with_prefix(&self, job_id: &str, prefix: &str) -> anyhow::Result<Vec<RowOutcome>> {
        let mut outcomes = Vec::new();
        let mut pages = self
            .client()
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :rows)")
            .expression_attribute_values(":pk", items::s(&format!("JOB#{job_id}")))
            .expression_attribute_values(":rows", items::s(prefix))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        while let Some(item) = pages.next().await {
            outcomes.push(items::row_from_item(&item.context("DynamoDB Query (row outcomes)")?)?);
        }
        Ok(outcomes)
    }
}
