//! `RowJobs` on DynamoDB: jobs, their idempotency keys, per-block tallies, row outcomes and
//! problem copies spread over 16 shard partitions, and kept passwords.
//!
//! No row's write touches the job item: concurrent workers share no item, so none of their
//! transactions cancels another (`TransactionConflict`), and no partition takes every row.

use super::{applied, DynamoStore};
use crate::adapters::aws::items::{self, Item, RefAction};
use crate::domain::{
    block_of, block_rows, AuditEntry, Counts, Cursor, JobKind, JobStatus, RowJob, RowOutcome, Timestamp, User, UserId,
    ROW_SHARDS,
};
use crate::ports::{BulkCreate, JobCreated, RowJobs};
use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Put, PutRequest, TransactWriteItem, WriteRequest};
use futures::{StreamExt, TryStreamExt};

/// BatchWriteItem calls in flight at once (kept passwords).
const BATCHES_IN_FLIGHT: usize = 8;

/// Conditional PutItem calls in flight at once while an intake settles its refused rows.
const ROWS_IN_FLIGHT: usize = 32;

impl DynamoStore {
    /// The delete of a row's kept password, in the write that settles the row.
    fn forget_password(&self, job_id: &str, row: u64) -> anyhow::Result<TransactWriteItem> {
        let delete = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(&self.table)
            .set_key(Some(items::kept_password_key(job_id, row)))
            .build()
            .context("building a password delete")?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// Writes items 25 to a request, `BATCHES_IN_FLIGHT` requests at a time.
    async fn put_all(&self, all: Vec<Item>, what: &'static str) -> anyhow::Result<()> {
        let batches: Vec<Vec<WriteRequest>> = all
            .chunks(25)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|item| {
                        let put =
                            PutRequest::builder().set_item(Some(item.clone())).build().context("building a put")?;
                        Ok(WriteRequest::builder().put_request(put).build())
                    })
                    .collect::<anyhow::Result<Vec<_>>>()
            })
            .collect::<anyhow::Result<_>>()?;
        futures::stream::iter(batches.into_iter().map(|batch| self.batch_write(batch, what)))
            .buffer_unordered(BATCHES_IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// Settles one row refused at intake, unless it is settled already (by an earlier try of
    /// the intake): a conditional PutItem, which BatchWriteItem cannot send, billed as the
    /// batch's put was. Its problem copy follows from the row as stored, so a try cut off
    /// between the two is completed by the next, and a copy never disagrees with its row.
    async fn settle_new_row(
        &self,
        kind: JobKind,
        job_id: &str,
        outcome: &RowOutcome,
        expires: Timestamp,
    ) -> anyhow::Result<()> {
        let put = self
            .client()
            .put_item()
            .table_name(&self.table)
            .set_item(Some(items::row_item(kind, job_id, outcome, expires)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        let stored = match put {
            Ok(_) => outcome.clone(),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                let item = self.get(items::job_row_key(job_id, outcome.row)).await?;
                items::row_from_item(&item.context("a settled row vanished")?)?
            }
            Err(e) => return Err(e).context("DynamoDB PutItem (a row settled at intake)"),
        };
        if stored.is_problem() {
            self.client()
                .put_item()
                .table_name(&self.table)
                .set_item(Some(items::problem_item(kind, job_id, &stored, expires)))
                .send()
                .await
                .context("DynamoDB PutItem (a problem row's copy)")?;
        }
        Ok(())
    }

    /// Items of the job's shard partitions whose sort key is `<prefix><row>` with a row in
    /// `first..=last`, merged in row order, at most `limit`: one query per shard named, side by
    /// side.
    async fn across_shards(
        &self,
        job_id: &str,
        prefix: &str,
        shards: &[u64],
        (first, last): (u64, u64),
        limit: usize,
    ) -> anyhow::Result<Vec<RowOutcome>> {
        let shard_query = |shard: u64| {
            let pk = format!("JOB#{job_id}#{shard}");
            async move {
                let mut pages = self
                    .client()
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                    .expression_attribute_values(":pk", items::s(&pk))
                    .expression_attribute_values(":from", items::s(&format!("{prefix}{first:010}")))
                    .expression_attribute_values(":to", items::s(&format!("{prefix}{last:010}")))
                    .limit(limit.clamp(1, 1000) as i32)
                    .consistent_read(true)
                    .into_paginator()
                    .items()
                    .send();
                let mut found = Vec::new();
                while found.len() < limit {
                    let Some(item) = pages.next().await else { break };
                    found.push(items::row_from_item(&item.context("DynamoDB Query (job rows)")?)?);
                }
                Ok::<_, anyhow::Error>(found)
            }
        };
        let shards = futures::future::try_join_all(shards.iter().map(|shard| shard_query(*shard))).await?;
        let mut rows: Vec<RowOutcome> = shards.into_iter().flatten().collect();
        rows.sort_by_key(|r| r.row);
        rows.truncate(limit);
        Ok(rows)
    }

    /// The first `limit` items above row `after`, wherever they are: every shard, each read up
    /// to `limit` (for sparse items, such as the problem copies).
    async fn next_anywhere(
        &self,
        job_id: &str,
        prefix: &str,
        after: u64,
        limit: usize,
    ) -> anyhow::Result<Vec<RowOutcome>> {
        let all: Vec<u64> = (0..ROW_SHARDS).collect();
        self.across_shards(job_id, prefix, &all, (after + 1, LAST_ROW), limit).await
    }
}

/// The largest row number a sort key holds (ten digits).
const LAST_ROW: u64 = 9_999_999_999;

/// The shards that hold the rows `first..=last` (their blocks'), each once.
fn shards_of(first: u64, last: u64) -> Vec<u64> {
    let blocks = block_of(first)..=block_of(last);
    let mut shards: Vec<u64> = blocks.take(ROW_SHARDS as usize).map(|block| block % ROW_SHARDS).collect();
    shards.sort_unstable();
    shards.dedup();
    shards
}

#[async_trait]
impl RowJobs for DynamoStore {
    async fn create_job(&self, job: &RowJob) -> anyhow::Result<JobCreated> {
        let mut actions = vec![self.put_new(items::job_item(job))?];
        if let Some(idempotency) = &job.idempotency {
            // A claim whose time is over (its job gone or going with it) is free again:
            // DynamoDB deletes the two expired items apart, and late.
            let claim = Put::builder()
                .table_name(&self.table)
                .set_item(Some(items::idempotency_item(job, idempotency)))
                .condition_expression("attribute_not_exists(pk) OR #ttl < :now")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":now", items::ts(job.created_at))
                .build()
                .context("building the idempotency claim")?;
            actions.push(TransactWriteItem::builder().put(claim).build());
        }
        let Some(failed) = self.transact(actions).await? else {
            return Ok(JobCreated::Created);
        };
        anyhow::ensure!(failed.get(1) == Some(&true), "job id collision");
        let key = &job.idempotency.as_ref().context("a claim failed without a key")?.key;
        let claim = self.get(items::idempotency_key(key)).await?.context("an idempotency key vanished")?;
        let existing =
            self.job(items::get_s(&claim, "job_id")?).await?.context("an idempotency key without its job")?;
        Ok(JobCreated::Existing(existing))
    }

    async fn job(&self, id: &str) -> anyhow::Result<Option<RowJob>> {
        self.get(items::job_key(id)).await?.as_ref().map(items::job_from_item).transpose()
    }

    async fn recent_jobs(&self, after: Option<&Cursor>, limit: usize) -> anyhow::Result<(Vec<RowJob>, Option<Cursor>)> {
        self.query_jobs(after, limit).await
    }

    async fn settle_at_intake(&self, job: &RowJob, outcomes: &[RowOutcome]) -> anyhow::Result<()> {
        let expires = job.rows_expire_at();
        // Owned rows: a stream of futures that borrow from the closure's argument does not
        // satisfy the `Send` bound `async_trait` asks of this future.
        let writes = outcomes
            .iter()
            .cloned()
            .map(|outcome| async move { self.settle_new_row(job.kind, &job.id, &outcome, expires).await });
        futures::stream::iter(writes).buffer_unordered(ROWS_IN_FLIGHT).try_collect::<Vec<()>>().await?;
        Ok(())
    }

    async fn mark_queued(&self, job_id: &str, total: u64) -> anyhow::Result<()> {
        let result = self
            .client()
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::job_key(job_id)))
            .update_expression("SET #status = :queued, #total = :total")
            .condition_expression("#status = :receiving")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#total", "total")
            .expression_attribute_values(":total", items::n(total as i64))
            .expression_attribute_values(":queued", items::s(JobStatus::Queued.as_str()))
            .expression_attribute_values(":receiving", items::s(JobStatus::Receiving.as_str()))
            .send()
            .await;
        applied(result, "DynamoDB UpdateItem (job queued)")?;
        Ok(())
    }

    async fn mark_completed(&self, job_id: &str, counts: &Counts) -> anyhow::Result<()> {
        let result = self
            .client()
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::job_key(job_id)))
            .update_expression(
                "SET #status = :completed, final_done = :done, final_skipped = :skipped, final_failed = :failed",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":completed", items::s(JobStatus::Completed.as_str()))
            .expression_attribute_values(":done", items::n(counts.done as i64))
            .expression_attribute_values(":skipped", items::n(counts.skipped as i64))
            .expression_attribute_values(":failed", items::n(counts.failed as i64))
            .send()
            .await;
        applied(result, "DynamoDB UpdateItem (job completed)")?;
        Ok(())
    }

    async fn keep_passwords(
        &self,
        job_id: &str,
        passwords: &[(u64, String)],
        expires_at: Timestamp,
    ) -> anyhow::Result<()> {
        let all = passwords.iter().map(|(row, password)| items::kept_password_item(job_id, *row, password, expires_at));
        self.put_all(all.collect(), "kept passwords").await
    }

    async fn kept_password(&self, job_id: &str, row: u64, now: Timestamp) -> anyhow::Result<Option<String>> {
        let Some(item) = self.get(items::kept_password_key(job_id, row)).await? else {
            return Ok(None);
        };
        if items::get_ts(&item, "expires_at")? <= now {
            return Ok(None);
        }
        Ok(Some(items::get_s(&item, "sealed_password")?.to_owned()))
    }

    async fn create_bulk_user(
        &self,
        job: &RowJob,
        user: &User,
        outcome: &RowOutcome,
        audit: &AuditEntry,
    ) -> anyhow::Result<BulkCreate> {
        let (job_id, expires) = (job.id.as_str(), job.rows_expire_at());
        let actions = vec![
            self.put_new(items::user_item(user))?,
            self.put_new(items::claim_item(items::email_key(&user.email.key()), &user.id))?,
            self.put_new(items::claim_item(items::username_key(&user.username.key()), &user.id))?,
            self.put_new(items::row_item(job.kind, job_id, outcome, expires))?,
            self.put_new(items::audit_item(audit))?,
            self.put(items::ref_item(&user.id, &items::job_row_key(job_id, outcome.row), RefAction::Scrub, expires))?,
            self.forget_password(job_id, outcome.row)?,
        ];
        let Some(failed) = self.transact(actions).await? else {
            return Ok(BulkCreate::Created);
        };
        if failed.get(3) == Some(&true) || self.get(items::job_row_key(job_id, outcome.row)).await?.is_some() {
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

    async fn settle_row(&self, job: &RowJob, outcome: &RowOutcome) -> anyhow::Result<bool> {
        let (job_id, expires) = (job.id.as_str(), job.rows_expire_at());
        let mut actions = vec![
            self.put_new(items::row_item(job.kind, job_id, outcome, expires))?,
            self.forget_password(job_id, outcome.row)?,
        ];
        if outcome.is_problem() {
            let copy = Put::builder()
                .table_name(&self.table)
                .set_item(Some(items::problem_item(job.kind, job_id, outcome, expires)))
                .build()
                .context("building a problem row put")?;
            actions.push(TransactWriteItem::builder().put(copy).build());
        }
        // A row that names an existing account (already registered) goes with that account.
        if let Some(user_id) = &outcome.user_id {
            let row = items::job_row_key(job_id, outcome.row);
            let copy = items::problem_item(job.kind, job_id, outcome, expires);
            actions.push(self.put(items::ref_item(user_id, &row, RefAction::Scrub, expires))?);
            actions.push(self.put(items::ref_item(user_id, &copy, RefAction::Scrub, expires))?);
        }
        Ok(self.transact(actions).await?.is_none())
    }

    async fn block_rows(&self, job_id: &str, block: u64) -> anyhow::Result<Vec<RowOutcome>> {
        let (first, last) = block_rows(block);
        let mut pages = self
            .client()
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", items::s(&items::rows_pk(job_id, first)))
            .expression_attribute_values(":from", items::s(&format!("ROW#{first:010}")))
            .expression_attribute_values(":to", items::s(&format!("ROW#{last:010}")))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let mut rows = Vec::new();
        while let Some(item) = pages.next().await {
            rows.push(items::row_from_item(&item.context("DynamoDB Query (a block's rows)")?)?);
        }
        Ok(rows)
    }

    async fn record_tally(&self, job: &RowJob, block: u64, counts: &Counts) -> anyhow::Result<()> {
        let result = self
            .client()
            .put_item()
            .table_name(&self.table)
            .set_item(Some(items::tally_item(job, block, counts)))
            .condition_expression("attribute_not_exists(pk) OR settled < :settled")
            .expression_attribute_values(":settled", items::n(counts.settled() as i64))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // A tally that counts as many rows or more is there: it stays.
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(e).context("DynamoDB PutItem (tally)"),
        }
    }

    async fn tallied(&self, job_id: &str) -> anyhow::Result<Counts> {
        let mut sum = Counts::default();
        for item in self.partition(&format!("JOB#{job_id}"), "TALLY#", "tallies").await? {
            sum = sum.plus(items::tally_from_item(&item)?);
        }
        Ok(sum)
    }

    async fn rows(&self, job_id: &str, after: u64, limit: usize) -> anyhow::Result<Vec<RowOutcome>> {
        // Every row of a job is settled once (refused ones too): the next `limit` rows are
        // those numbered up to `after + limit` (one more: a file's header is its row 1, no
        // row of the job), read from their own shards, each item once (a report page reads
        // what it shows). Rows not settled yet leave gaps, filled from beyond the window; so
        // does the end of the job (a query of each shard, finding nothing).
        let last = after.saturating_add(limit as u64 + 1).min(LAST_ROW);
        let mut rows =
            self.across_shards(job_id, "ROW#", &shards_of(after + 1, last), (after + 1, last), limit).await?;
        if rows.len() < limit && last < LAST_ROW {
            rows.extend(self.next_anywhere(job_id, "ROW#", last, limit - rows.len()).await?);
        }
        Ok(rows)
    }

    async fn problems(&self, job_id: &str, after: u64, limit: usize) -> anyhow::Result<Vec<RowOutcome>> {
        self.next_anywhere(job_id, "ERR#", after, limit).await
    }

    async fn rows_of_user(&self, user_id: &UserId) -> anyhow::Result<Vec<(String, RowOutcome)>> {
        // Through the account's references to the rows that name it (written with each row).
        let mut rows = Vec::new();
        for reference in self.partition(&format!("USER#{user_id}"), "REF#JOB#", "job row references").await? {
            let (pk, sk) = (items::get_s(&reference, "target_pk")?, items::get_s(&reference, "target_sk")?);
            // The row itself, not its problem copy.
            if !sk.starts_with("ROW#") {
                continue;
            }
            let job_id = pk.strip_prefix("JOB#").and_then(|rest| rest.rsplit_once('#')).map(|(job, _)| job.to_owned());
            let Some(job_id) = job_id else {
                continue;
            };
            let key = Item::from([("pk".to_owned(), items::s(pk)), ("sk".to_owned(), items::s(sk))]);
            if let Some(item) = self.get(key).await? {
                rows.push((job_id, items::row_from_item(&item)?));
            }
        }
        rows.sort_by(|a, b| (&a.0, a.1.row).cmp(&(&b.0, b.1.row)));
        Ok(rows)
    }
}
