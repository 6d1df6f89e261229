//! The `DynamoDB` adapter: every port on one table (key schema in `items.rs`), one file per port.
//! Uniqueness is enforced by conditional writes in one TransactWriteItems (`attribute_not_exists(pk)`
//! on each claim item), never by reading first.

mod audit;
mod directory;
mod index;
mod jobs;
mod lockout;
mod oidc;
mod second_factors;
mod sessions;
mod settings;
mod users;

use super::items::{self, Item, RefAction};
use super::LazyClient;
use crate::adapters::{conflict_backoff, CONFLICT_ATTEMPTS};
use crate::domain::{Timestamp, UserId};
use anyhow::{anyhow, Context};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{KeysAndAttributes, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;

pub struct DynamoStore {
    client: LazyClient<Client>,
    table: String,
}

/// How a cancelled transaction went, per action.
enum Cancelled {
    /// The listed actions' conditions failed.
    Conditions(Vec<bool>),
    Conflict,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client: LazyClient::ready(client), table: table.into() }
    }

    /// Its client is made on first use (see `LazyClient`).
    pub fn lazy(sdk: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self { client: LazyClient::new(sdk, Client::new), table: table.into() }
    }

    fn client(&self) -> &Client {
        self.client.get()
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn put(&self, item: Item) -> anyhow::Result<TransactWriteItem> {
        let put = Put::builder().table_name(&self.table).set_item(Some(item)).build().context("building a put")?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn put_new(&self, item: Item) -> anyhow::Result<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .context("building a conditional put")?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    async fn delete_item(&self, key: Item, what: &str) -> anyhow::Result<()> {
        self.client()
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .send()
            .await
            .with_context(|| format!("DynamoDB DeleteItem ({what})"))?;
        Ok(())
    }

    async fn get(&self, key: Item) -> anyhow::Result<Option<Item>> {
        let output = self
            .client()
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .context("DynamoDB GetItem")?;
        Ok(output.item)
    }

    /// Reads items by key with BatchGetItem (consistent, `adapters::batch_get_all`'s batching
    /// and retries of unprocessed keys); absent items are left out.
    async fn batch_get(&self, keys: Vec<Item>) -> anyhow::Result<Vec<Item>> {
        crate::adapters::batch_get_all(keys, |chunk| async move {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(chunk))
                .consistent_read(true)
                .build()
                .context("building a BatchGetItem request")?;
            let output = self
                .client()
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .context("DynamoDB BatchGetItem")?;
            let found = output.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default();
            let unprocessed =
                output.unprocessed_keys.and_then(|mut u| u.remove(&self.table)).map(|k| k.keys).unwrap_or_default();
            Ok((found, unprocessed))
        })
        .await
    }

    /// Runs a transaction, trying again on `TransactionConflict`. `Ok(None)` means it was
    /// applied; `Ok(Some(failed))` that it was cancelled, with the actions whose condition failed.
    async fn transact(&self, actions: Vec<TransactWriteItem>) -> anyhow::Result<Option<Vec<bool>>> {
        for attempt in 1..=CONFLICT_ATTEMPTS {
            let result = self.client().transact_write_items().set_transact_items(Some(actions.clone())).send().await;
            match result.map_err(classify_cancellation) {
                Ok(_) => return Ok(None),
                Err(Ok(Cancelled::Conditions(failed))) => return Ok(Some(failed)),
                Err(Ok(Cancelled::Conflict)) if attempt < CONFLICT_ATTEMPTS => {
                    tokio::time::sleep(conflict_backoff(attempt)).await;
                }
                Err(Ok(Cancelled::Conflict)) => {
                    return Err(anyhow!("transaction kept conflicting after {CONFLICT_ATTEMPTS} attempts"))
                }
                Err(Err(error)) => return Err(error).context("DynamoDB TransactWriteItems"),
            }
        }
        unreachable!("the loop returns on its last attempt")
    }
}

/// Turns a cancelled transaction into per-action condition failures; any other error stays one.
fn classify_cancellation(error: SdkError<TransactWriteItemsError>) -> Result<Cancelled, anyhow::Error> {
    match error.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
            let reasons = cancelled.cancellation_reasons();
            if reasons.iter().any(|r| r.code() == Some("TransactionConflict")) {
                return Ok(Cancelled::Conflict);
            }
            Ok(Cancelled::Conditions(reasons.iter().map(|r| r.code() == Some("ConditionalCheckFailed")).collect()))
        }
        Some(TransactWriteItemsError::TransactionInProgressException(_)) => Ok(Cancelled::Conflict),
        _ => Err(anyhow::Error::new(error)),
    }
}

/// Whether a conditional UpdateItem was applied (false when its condition failed).
fn applied<T>(
    result: Result<T, SdkError<aws_sdk_dynamodb::operation::update_item::UpdateItemError>>,
    what: &'static str,
) -> anyhow::Result<bool> {
    match result {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
        Err(e) => Err(e).context(what),
    }
}

impl DynamoStore {
    /// Scrubs the address from every job row that holds it as written (refused rows of an
    /// upload included, which no reference links to the account), found through the
    /// `rows_by_email` index.
    async fn scrub_rows_naming(&self, email: &crate::domain::Email) -> anyhow::Result<()> {
        let Some(sha) = items::row_email_sha(email.as_ref()) else {
            return Ok(());
        };
        let mut rows = self
            .client()
            .query()
            .table_name(&self.table)
            .index_name(items::ROWS_BY_EMAIL_INDEX)
            .key_condition_expression("email_sha = :sha")
            .expression_attribute_values(":sha", items::s(&sha))
            .into_paginator()
            .items()
            .send();
        let mut keys = Vec::new();
        while let Some(item) = rows.next().await {
            let item = item.context("DynamoDB Query (rows by email)")?;
            keys.push(HashMap::from([
                ("pk".to_owned(), item.get("pk").cloned().context("row without pk")?),
                ("sk".to_owned(), item.get("sk").cloned().context("row without sk")?),
            ]));
        }
        for key in keys {
            self.scrub_row(key).await?;
        }
        Ok(())
    }

    /// Every item of partition `pk` whose sort key starts with `sk_prefix` (all of them for
    /// ""), read consistently, page after page.
    async fn partition(&self, pk: &str, sk_prefix: &str, what: &'static str) -> anyhow::Result<Vec<Item>> {
        let mut query = self.client().query().table_name(&self.table).expression_attribute_values(":pk", items::s(pk));
        // DynamoDB takes no empty string in a key condition: no prefix, no `begins_with`.
        query = if sk_prefix.is_empty() {
            query.key_condition_expression("pk = :pk")
        } else {
            query
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":prefix", items::s(sk_prefix))
        };
        let mut pages = query.consistent_read(true).into_paginator().items().send();
        let mut found = Vec::new();
        while let Some(item) = pages.next().await {
            found.push(item.with_context(|| format!("DynamoDB Query ({what})"))?);
        }
        Ok(found)
    }

    /// Replaces a job row's address with `(deleted)` (and drops it from the address index).
    async fn scrub_row(&self, key: Item) -> anyhow::Result<()> {
        let scrubbed = self
            .client()
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression("SET email = :gone REMOVE email_sha")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":gone", items::s(crate::domain::DELETED_EMAIL))
            .send()
            .await;
        applied(scrubbed, "DynamoDB UpdateItem (scrubbing a job row)")?;
        Ok(())
    }

    /// Writes an item that belongs to an account together with the reference that lets the
    /// account's deletion find it, in one transaction.
    async fn put_owned(
        &self,
        item: Item,
        owner: &UserId,
        key: &Item,
        expires: Timestamp,
        what: &str,
    ) -> anyhow::Result<()> {
        let actions = vec![self.put_new(item)?, self.put(items::ref_item(owner, key, RefAction::Delete, expires))?];
        anyhow::ensure!(self.transact(actions).await?.is_none(), "{what} hash collision");
        Ok(())
    }

    /// BatchWriteItem, sending again what DynamoDB hands back under load.
    async fn batch_write(
        &self,
        mut requests: Vec<aws_sdk_dynamodb::types::WriteRequest>,
        what: &'static str,
    ) -> anyhow::Result<()> {
        for attempt in 0..8u64 {
            let output = self
                .client()
                .batch_write_item()
                .request_items(&self.table, requests)
                .send()
                .await
                .with_context(|| format!("DynamoDB BatchWriteItem ({what})"))?;
            requests = output.unprocessed_items.and_then(|mut u| u.remove(&self.table)).unwrap_or_default();
            if requests.is_empty() {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
        }
        anyhow::bail!("DynamoDB kept {} writes unprocessed ({what})", requests.len())
    }
}
