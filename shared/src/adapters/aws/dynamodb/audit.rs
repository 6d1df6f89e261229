//! `AuditLog` on DynamoDB: entries per account, and the `feed` index across accounts (a day's
//! entries over `FEED_SHARDS` partitions, see `items.rs`).
//!
//! A page across accounts walks back a day at a time from the cursor: each day's partitions are
//! read in one merged range (`index.rs`), so the page is in one order whatever shard an entry
//! went to, and the cursor (the last entry's sort key, unique across shards) is where every
//! partition of the next page starts below. At most `DAYS_PER_PAGE` days are read in one call;
//! a quiet stretch then answers a short page whose cursor is the end of the next day to read.
//! One learner's entries come from their account's own partition. Queries only: never a Scan.

use super::index::{Filter, IndexRange};
use super::DynamoStore;
use crate::adapters::aws::items::{self};
use crate::domain::{AuditEntry, AuditPage, AuditQuery, Cursor, Timestamp, UserId};
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

    async fn find_entries(&self, query: &AuditQuery) -> anyhow::Result<AuditPage> {
        let mut below = query.start_key();
        let low = format!("{:012}#", query.from.unix().max(0));
        if let Some(learner) = &query.learner {
            let merged = self
                .merged_range(IndexRange {
                    index: None,
                    pk_attr: "pk",
                    sk_attr: "sk",
                    partitions: vec![items::audit_pk(learner)],
                    low: Some(low),
                    high: Some(below.clone()),
                    exclude: Some(below),
                    forward: false,
                    filter: entry_filter(query),
                    want: query.limit,
                })
                .await?;
            return page_of(&merged.items, merged.next);
        }
        let mut page = AuditPage::default();
        let mut day = second_of(&below)?.div_euclid(DAY) * DAY;
        for _ in 0..DAYS_PER_PAGE {
            if day + DAY <= query.from.unix() || page.entries.len() >= query.limit {
                break;
            }
            let merged = self
                .merged_range(IndexRange {
                    index: Some(items::FEED_INDEX),
                    pk_attr: "feed_pk",
                    sk_attr: "feed_sk",
                    partitions: items::feed_partitions(Timestamp::from_unix(day)),
                    low: Some(low.clone().max(format!("{day:012}#"))),
                    high: Some(below.clone()),
                    exclude: Some(below),
                    forward: false,
                    filter: entry_filter(query),
                    want: query.limit - page.entries.len(),
                })
                .await?;
            let found = page_of(&merged.items, merged.next)?;
            page.entries.extend(found.entries);
            if found.next.is_some() {
                page.next = found.next;
                return Ok(page);
            }
            // The day is read to its start: the next page starts at the end of the day before.
            day -= DAY;
            below = format!("{:012}#~", day + DAY - 1);
        }
        if day + DAY > query.from.unix() {
            // Days are left to read: after a full page, below its last entry; after a quiet
            // stretch, from the end of the next day.
            page.next = Some(Cursor::Key(match page.entries.last() {
                Some(last) if page.entries.len() >= query.limit => last.sort_key(),
                _ => below,
            }));
        }
        Ok(page)
    }
}

const DAY: i64 = 86_400;

/// How many days one page reads at most (8 shards and the unsharded partition a day).
const DAYS_PER_PAGE: usize = 31;

/// The epoch second a sort key (or cursor) starts with.
fn second_of(key: &str) -> anyhow::Result<i64> {
    key.get(..12).and_then(|digits| digits.parse().ok()).context("an audit cursor without its second")
}

/// The query's operator and action as a filter expression on the entry's own attributes
/// (entries written before `actor` kept the operator under `operator`).
fn entry_filter(query: &AuditQuery) -> Filter {
    let mut filter = Filter::default();
    if let Some(text) = &query.operator {
        filter
            .and("(contains(actor, :operator) OR contains(#before, :operator))")
            .name("#before", "operator")
            .value(":operator", items::s(text));
    }
    if let Some(action) = &query.action {
        filter.and("#action = :action").name("#action", "action").value(":action", items::s(action));
    }
    filter
}

fn page_of(found: &[items::Item], next: Option<String>) -> anyhow::Result<AuditPage> {
    let entries = found.iter().map(items::audit_from_item).collect::<anyhow::Result<Vec<_>>>()?;
    Ok(AuditPage { entries, next: next.map(Cursor::Key) })
}
