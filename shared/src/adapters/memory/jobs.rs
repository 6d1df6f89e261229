//! `RowJobs` in memory: jobs, their idempotency keys, per-block tallies, row outcomes with
//! their problem copies, and kept passwords. A row is settled once: every write of a row
//! checks that it is not settled yet, as the DynamoDB adapter's conditions do.

use super::Tables;
use crate::domain::{block_rows, AuditEntry, Counts, Cursor, JobStatus, RowJob, RowOutcome, Timestamp, User, UserId};
use crate::ports::{BulkCreate, JobCreated, RowJobs};
use async_trait::async_trait;

#[async_trait]
impl RowJobs for Tables {
    async fn create_job(&self, job: &RowJob) -> anyhow::Result<JobCreated> {
        let mut state = self.lock();
        // A claim whose time is over (its job expired) is free again, as on DynamoDB.
        let held = job
            .idempotency
            .as_ref()
            .and_then(|i| state.idempotency.get(&i.key))
            .filter(|id| state.jobs.get(*id).is_some_and(|held| held.rows_expire_at() >= job.created_at))
            .cloned();
        if let Some(existing) = held {
            let existing = state.jobs.get(&existing).cloned();
            return existing
                .map(JobCreated::Existing)
                .ok_or_else(|| anyhow::anyhow!("an idempotency key without its job"));
        }
        anyhow::ensure!(!state.jobs.contains_key(&job.id), "job id collision");
        if let Some(idempotency) = &job.idempotency {
            state.idempotency.insert(idempotency.key.clone(), job.id.clone());
        }
        state.jobs.insert(job.id.clone(), job.clone());
        Ok(JobCreated::Created)
    }

    async fn job(&self, id: &str) -> anyhow::Result<Option<RowJob>> {
        Ok(self.lock().jobs.get(id).cloned())
    }

    async fn recent_jobs(&self, after: Option<&Cursor>, limit: usize) -> anyhow::Result<(Vec<RowJob>, Option<Cursor>)> {
        Ok(self.query_jobs(after, limit))
    }

    async fn settle_at_intake(&self, job: &RowJob, outcomes: &[RowOutcome]) -> anyhow::Result<()> {
        let mut state = self.lock();
        for outcome in outcomes {
            // A row settled before (by an earlier try of the intake) stays as it was.
            if !state.row_settled(&job.id, outcome.row) {
                state.note_row(&job.id, outcome);
            }
        }
        Ok(())
    }

    async fn mark_queued(&self, job_id: &str, total: u64) -> anyhow::Result<()> {
        if let Some(job) = self.lock().jobs.get_mut(job_id).filter(|job| job.status == JobStatus::Receiving) {
            job.status = JobStatus::Queued;
            job.total = total;
        }
        Ok(())
    }

    async fn mark_completed(&self, job_id: &str, counts: &Counts) -> anyhow::Result<()> {
        if let Some(job) = self.lock().jobs.get_mut(job_id) {
            job.status = JobStatus::Completed;
            job.final_counts = Some(*counts);
        }
        Ok(())
    }

    async fn keep_passwords(
        &self,
        job_id: &str,
        passwords: &[(u64, String)],
        expires_at: Timestamp,
    ) -> anyhow::Result<()> {
        let mut state = self.lock();
        for (row, password) in passwords {
            state.kept_passwords.insert((job_id.to_owned(), *row), (password.clone(), expires_at));
        }
        Ok(())
    }

    async fn kept_password(&self, job_id: &str, row: u64, now: Timestamp) -> anyhow::Result<Option<String>> {
        let state = self.lock();
        let kept = state.kept_passwords.get(&(job_id.to_owned(), row));
        Ok(kept.filter(|(_, expires_at)| now < *expires_at).map(|(password, _)| password.clone()))
    }

    async fn create_bulk_user(
        &self,
        job: &RowJob,
        user: &User,
        outcome: &RowOutcome,
        audit: &AuditEntry,
    ) -> anyhow::Result<BulkCreate> {
        let mut state = self.lock();
        if state.row_settled(&job.id, outcome.row) {
            return Ok(BulkCreate::AlreadySettled);
        }
        let email_taken = state.emails.contains_key(&user.email.key());
        let username_taken = state.usernames.contains_key(&user.username.key());
        if email_taken || username_taken {
            return Ok(BulkCreate::Taken { email_taken, username_taken });
        }
        anyhow::ensure!(
            !state.users.contains_key(&user.id) && !state.audit_exists(audit),
            "bulk user creation was cancelled for no known reason"
        );
        state.emails.insert(user.email.key(), user.id.clone());
        state.usernames.insert(user.username.key(), user.id.clone());
        state.users.insert(user.id.clone(), user.clone());
        state.kept_passwords.remove(&(job.id.clone(), outcome.row));
        state.note_row(&job.id, outcome);
        state.rows_of_user.entry(user.id.clone()).or_default().push((job.id.clone(), outcome.row));
        state.put_audit(audit);
        Ok(BulkCreate::Created)
    }

    async fn settle_row(&self, job: &RowJob, outcome: &RowOutcome) -> anyhow::Result<bool> {
        let mut state = self.lock();
        if state.row_settled(&job.id, outcome.row) {
            return Ok(false);
        }
        state.note_row(&job.id, outcome);
        state.kept_passwords.remove(&(job.id.clone(), outcome.row));
        if let Some(user_id) = &outcome.user_id {
            state.rows_of_user.entry(user_id.clone()).or_default().push((job.id.clone(), outcome.row));
        }
        Ok(true)
    }

    async fn block_rows(&self, job_id: &str, block: u64) -> anyhow::Result<Vec<RowOutcome>> {
        let (first, last) = block_rows(block);
        let state = self.lock();
        let rows = state.job_rows.get(job_id);
        Ok(rows.map(|rows| rows.range(first..=last).map(|(_, o)| o.clone()).collect()).unwrap_or_default())
    }

    async fn record_tally(&self, job: &RowJob, block: u64, counts: &Counts) -> anyhow::Result<()> {
        let mut state = self.lock();
        let tally = state.tallies.entry(job.id.clone()).or_default().entry(block).or_default();
        if tally.settled() < counts.settled() {
            *tally = *counts;
        }
        Ok(())
    }

    async fn tallied(&self, job_id: &str) -> anyhow::Result<Counts> {
        let state = self.lock();
        let tallies = state.tallies.get(job_id).into_iter().flat_map(|t| t.values());
        Ok(tallies.fold(Counts::default(), |sum, tally| sum.plus(*tally)))
    }

    async fn rows(&self, job_id: &str, after: u64, limit: usize) -> anyhow::Result<Vec<RowOutcome>> {
        let state = self.lock();
        let rows = state.job_rows.get(job_id).into_iter().flat_map(|rows| rows.range(after + 1..));
        Ok(rows.take(limit).map(|(_, o)| o.clone()).collect())
    }

    async fn problems(&self, job_id: &str, after: u64, limit: usize) -> anyhow::Result<Vec<RowOutcome>> {
        let state = self.lock();
        let (Some(problems), Some(rows)) = (state.problem_rows.get(job_id), state.job_rows.get(job_id)) else {
            return Ok(Vec::new());
        };
        Ok(problems.range(after + 1..).take(limit).filter_map(|row| rows.get(row).cloned()).collect())
    }

    async fn rows_of_user(&self, user_id: &UserId) -> anyhow::Result<Vec<(String, RowOutcome)>> {
        let state = self.lock();
        let mut rows: Vec<(String, RowOutcome)> = state
            .rows_of_user
            .get(user_id)
            .into_iter()
            .flatten()
            .filter_map(|(job, row)| Some((job.clone(), state.job_rows.get(job)?.get(row)?.clone())))
            .collect();
        rows.sort_by(|a, b| (&a.0, a.1.row).cmp(&(&b.0, b.1.row)));
        Ok(rows)
    }
}
