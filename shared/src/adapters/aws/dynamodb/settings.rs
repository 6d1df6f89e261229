//! `SettingsStore` on DynamoDB: partition `SETTINGS`, the item in force (`CURRENT`) and one
//! item per saved version (`VERSION#<n>`). A save is one transaction: the item in force is
//! replaced only while it holds the version read (absent for the first save), the version item
//! is new, and the audit entry goes with them. The history is one Query of the partition,
//! newest first: no Scan.

use super::DynamoStore;
use crate::adapters::aws::items;
use crate::domain::{AuditEntry, StoredSettings};
use crate::ports::SettingsStore;
use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};

#[async_trait]
impl SettingsStore for DynamoStore {
    async fn current_settings(&self) -> anyhow::Result<Option<StoredSettings>> {
        self.get(items::settings_key()).await?.map(|item| items::settings_from_item(&item)).transpose()
    }

    async fn save_settings(&self, next: &StoredSettings, audit: &AuditEntry) -> anyhow::Result<bool> {
        anyhow::ensure!(next.version > 0, "saved settings have a version above 0");
        let current =
            Put::builder().table_name(&self.table).set_item(Some(items::settings_item(items::settings_key(), next)?));
        let current = if next.version == 1 {
            current.condition_expression("attribute_not_exists(pk)")
        } else {
            current
                .condition_expression("version = :read")
                .expression_attribute_values(":read", items::n(i64::try_from(next.version - 1)?))
        };
        let actions = vec![
            TransactWriteItem::builder().put(current.build().context("building a put")?).build(),
            self.put_new(items::settings_item(items::settings_version_key(next.version), next)?)?,
            self.put_new(items::audit_item(audit))?,
        ];
        Ok(self.transact(actions).await?.is_none())
    }

    async fn settings_version(&self, version: u64) -> anyhow::Result<Option<StoredSettings>> {
        self.get(items::settings_version_key(version)).await?.map(|item| items::settings_from_item(&item)).transpose()
    }

    async fn settings_history(&self, limit: usize) -> anyhow::Result<Vec<StoredSettings>> {
        let limit = i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000);
        let output = self
            .client()
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", items::s("SETTINGS"))
            .expression_attribute_values(":prefix", items::s("VERSION#"))
            .scan_index_forward(false)
            .limit(limit)
            .consistent_read(true)
            .send()
            .await
            .context("DynamoDB Query (settings history)")?;
        output.items().iter().map(items::settings_from_item).collect()
    }
}
