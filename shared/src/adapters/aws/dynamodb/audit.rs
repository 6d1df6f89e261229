//! `AuditLog` on DynamoDB: entries per account, and a per-day feed index across accounts.

use super::DynamoStore;
use crate::adapters::aws::items::{self};
use crate::domain::{AuditEntry, Timestamp, UserId};
use crate::ports::AuditLog;
use anyhow::Context;
use async_trait::async_trait;

#[async_trait]
impl AuditLog for DynamoStore {
    async fn record(&self, entry: &AuditEntry) -> anyhow::Result<()> {
        self.client()
            .put_item()
            .table_name(&self.table)
            .set_item(Some(items::audit_item(entry)))
            .send()
            .await
            .context("DynamoDB PutItem (audit entry)")?;
        Ok(())
    }

    async fn entries_for(&self, user_id: &UserId) -> anyhow::Result<Vec<AuditEntry>> {
        let mut entries = Vec::new();
        let mut pages = self
            .client()
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", items::s(&items::audit_pk(user_id)))
            .scan_index_forward(false)
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        while let Some(item) = pages.next().await {
            entries.push(items::audit_from_item(&item.context("DynamoDB Query (audit)")?)?);
        }
        Ok(entries)
    }

    async fn latest(&self, now: Timestamp, days: u32, limit: usize) -> anyhow::Result<Vec<AuditEntry>> {
        let mut entries = Vec::new();
        for day in 0..i64::from(days) {
            let partition = items::feed_pk(Timestamp::from_unix(now.unix() - day * 86_400));
            let mut pages = self
                .client()
                .query()
                .table_name(&self.table)
                .index_name(items::FEED_INDEX)
                .key_condition_expression("feed_pk = :day")
                .expression_attribute_values(":day", items::s(&partition))
                .scan_index_forward(false)
                .limit(limit.min(1000) as i32)
                .into_paginator()
                .items()
                .send();
            while let Some(item) = pages.next().await {
                entries.push(items::audit_from_item(&item.context("DynamoDB Query (audit feed)")?)?);
                if entries.len() >= limit {
                    return Ok(entries);
                }
            }
        }
        Ok(entries)
    }
}
