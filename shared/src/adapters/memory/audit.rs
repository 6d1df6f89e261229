//! `AuditLog` in memory: entries per account, and the latest across accounts by whole days.

use super::Tables;
use crate::domain::{AuditEntry, Timestamp, UserId};
use crate::ports::AuditLog;
use async_trait::async_trait;

#[async_trait]
impl AuditLog for Tables {
    async fn record(&self, entry: &AuditEntry) -> anyhow::Result<()> {
        self.lock().put_audit(entry);
        Ok(())
    }

    async fn entries_for(&self, user_id: &UserId) -> anyhow::Result<Vec<AuditEntry>> {
        let mut entries = self.lock().audit.get(user_id).cloned().unwrap_or_default();
        entries.sort_by(|a, b| (b.at, &b.id).cmp(&(a.at, &a.id)));
        Ok(entries)
    }

    async fn latest(&self, now: Timestamp, days: u32, limit: usize) -> anyhow::Result<Vec<AuditEntry>> {
        // As the DynamoDB index answers: whole days (UTC) back from today's.
        let first_day = (now.unix().div_euclid(86_400) - i64::from(days.saturating_sub(1))) * 86_400;
        let mut entries: Vec<AuditEntry> =
            self.lock().audit.values().flatten().filter(|e| e.at.unix() >= first_day).cloned().collect();
        entries.sort_by(|a, b| (b.at, &b.id).cmp(&(a.at, &a.id)));
        entries.truncate(limit);
        Ok(entries)
    }
}
