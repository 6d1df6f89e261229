//! `SettingsStore` in memory: the settings in force and every saved version, replaced on the
//! version read, with the audit entry in the same write (as the DynamoDB transaction).

use super::Tables;
use crate::domain::{AuditEntry, StoredSettings};
use crate::ports::SettingsStore;
use async_trait::async_trait;

#[async_trait]
impl SettingsStore for Tables {
    async fn current_settings(&self) -> anyhow::Result<Option<StoredSettings>> {
        Ok(self.lock().settings.last_key_value().map(|(_, s)| s.clone()))
    }

    async fn save_settings(&self, next: &StoredSettings, audit: &AuditEntry) -> anyhow::Result<bool> {
        anyhow::ensure!(next.version > 0, "saved settings have a version above 0");
        let mut state = self.lock();
        let current = state.settings.last_key_value().map_or(0, |(version, _)| *version);
        // As DynamoDB's conditions: the current item holds the version before (or is absent for
        // version 1), and no kept version has this number.
        if current + 1 != next.version || state.settings.contains_key(&next.version) || state.audit_exists(audit) {
            return Ok(false);
        }
        state.settings.insert(next.version, next.clone());
        state.put_audit(audit);
        Ok(true)
    }

    async fn settings_version(&self, version: u64) -> anyhow::Result<Option<StoredSettings>> {
        Ok(self.lock().settings.get(&version).cloned())
    }

    async fn settings_history(&self, limit: usize) -> anyhow::Result<Vec<StoredSettings>> {
        Ok(self.lock().settings.values().rev().take(limit).cloned().collect())
    }
}
