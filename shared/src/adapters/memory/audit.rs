//! `AuditLog` in memory: entries per account, and across accounts in the `feed` index's order
//! (newest first by `<epoch seconds>#<id>`), with its filters and cursor. The one difference
//! from DynamoDB: a page here is always full when more follow (DynamoDB's reads per call are
//! bounded, so its pages may be short, each with a cursor).

use super::Tables;
use crate::domain::{AuditEntry, AuditPage, AuditQuery, Cursor, UserId};
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

    async fn find_entries(&self, query: &AuditQuery) -> anyhow::Result<AuditPage> {
        let below = query.start_key();
        let state = self.lock();
        let chosen: Vec<&AuditEntry> = match &query.learner {
            Some(id) => state.audit.get(id).map(|entries| entries.iter().collect()).unwrap_or_default(),
            None => state.audit.values().flatten().collect(),
        };
        let mut keyed: Vec<(String, AuditEntry)> = chosen
            .into_iter()
            .filter(|e| query.admits(e))
            .map(|e| (e.sort_key(), e.clone()))
            .filter(|(key, _)| *key < below)
            .collect();
        keyed.sort_by(|a, b| b.0.cmp(&a.0));
        let more = keyed.len() > query.limit;
        keyed.truncate(query.limit);
        let next = if more { keyed.last().map(|(key, _)| Cursor::Key(key.clone())) } else { None };
        Ok(AuditPage { entries: keyed.into_iter().map(|(_, e)| e).collect(), next })
    }
}
