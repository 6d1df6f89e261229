//! `UserStore` on one DynamoDB table. Uniqueness is enforced by conditional writes in one
//! TransactWriteItems (`attribute_not_exists(pk)` on each claim item), never by reading first.

use super::items::{self, Item, RefAction};
use super::LazyClient;
use crate::domain::{
    AuditEntry, BulkJob, DeviceRecord, JobStatus, LockedNow, LockoutPolicy, LockoutState, MailRefusal, PasswordHash,
    Reservation, Retirement, RowOutcome, SessionRecord, Timestamp, TokenHash, TokenPurpose, TokenRecord, User, UserId,
    UserStatus,
};
use crate::ports::{
    AuditLog, BulkCreate, BulkJobs, CreateUserError, DeleteRequest, Deleted, LoginAttempts, SessionStore, TokenUse,
    UserStore,
};
use anyhow::{anyhow, Context};
use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;

/// Transactions that touch the same items at the same moment may be cancelled with
/// `TransactionConflict`; they are tried again this many times in all.
const CONFLICT_ATTEMPTS: u32 = 5;

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

    /// Runs a transaction, trying again on `TransactionConflict`. `Ok(None)` means it was
    /// applied; `Ok(Some(failed))` that it was cancelled, with the actions whose condition failed.
    async fn transact(&self, actions: Vec<TransactWriteItem>) -> anyhow::Result<Option<Vec<bool>>> {
        for attempt in 1..=CONFLICT_ATTEMPTS {
            let result = self.client().transact_write_items().set_transact_items(Some(actions.clone())).send().await;
            match result.map_err(classify_cancellation) {
                Ok(_) => return Ok(None),
                Err(Ok(Cancelled::Conditions(failed))) => return Ok(Some(failed)),
                Err(Ok(Cancelled::Conflict)) if attempt < CONFLICT_ATTEMPTS => {
                    let jitter = rand::random::<u64>() % 20;
                    tokio::time::sleep(std::time::Duration::from_millis(10 * u64::from(attempt) + jitter)).await;
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

#[async_trait]
impl UserStore for DynamoStore {
    async fn create_user(&self, user: &User, token: Option<&TokenRecord>) -> Result<(), CreateUserError> {
        let email_key = user.email.key();
        let username_key = user.username.key();
        let mut actions = vec![
            self.put_new(items::user_item(user))?,
            self.put_new(items::claim_item(items::email_key(&email_key), &user.id))?,
            self.put_new(items::claim_item(items::username_key(&username_key), &user.id))?,
        ];
        if let Some(token) = token {
            actions.push(self.put_new(items::token_item(token))?);
            actions.push(self.put(items::ref_item(
                &user.id,
                &items::token_key(&token.hash),
                RefAction::Delete,
                token.expires_at,
            ))?);
        }
        let Some(failed) = self.transact(actions).await? else {
            return Ok(());
        };
        let (mut email_taken, mut username_taken) = (failed.get(1) == Some(&true), failed.get(2) == Some(&true));
        if !email_taken && !username_taken {
            // Some emulators omit the per-action reasons: ask the claims themselves.
            email_taken = self.get(items::email_key(&email_key)).await?.is_some();
            username_taken = self.get(items::username_key(&username_key)).await?.is_some();
        }
        if !email_taken && !username_taken {
            return Err(anyhow!("user creation was cancelled, but neither claim exists").into());
        }
        Err(CreateUserError::Taken { email_taken, username_taken })
    }

    async fn user_by_email_key(&self, email_key: &str) -> anyhow::Result<Option<User>> {
        let Some(claim) = self.get(items::email_key(email_key)).await? else {
            return Ok(None);
        };
        let id = UserId::parse(items::get_s(&claim, "user_id")?).context("email claim user_id is not a UUID")?;
        self.user_by_id(&id).await
    }

    async fn username_taken(&self, username_key: &str) -> anyhow::Result<bool> {
        Ok(self.get(items::username_key(username_key)).await?.is_some())
    }

    async fn user_by_id(&self, id: &UserId) -> anyhow::Result<Option<User>> {
        self.get(items::user_key(id)).await?.as_ref().map(items::user_from_item).transpose()
    }

    async fn put_token(&self, token: &TokenRecord) -> anyhow::Result<()> {
        let key = items::token_key(&token.hash);
        self.put_owned(items::token_item(token), &token.user_id, &key, token.expires_at, "token").await
    }

    async fn replace_activation_token(&self, token: &TokenRecord) -> anyhow::Result<bool> {
        let raise = Update::builder()
            .table_name(&self.table)
            .set_key(Some(items::user_key(&token.user_id)))
            .update_expression("SET auth_epoch = :epoch")
            .condition_expression("attribute_exists(pk) AND #status = :pending AND auth_epoch = :previous")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pending", items::s(UserStatus::PendingActivation.as_str()))
            .expression_attribute_values(":epoch", AttributeValue::N(token.auth_epoch.to_string()))
            .expression_attribute_values(":previous", AttributeValue::N(token.auth_epoch.saturating_sub(1).to_string()))
            .build()
            .context("building the epoch update")?;
        let actions = vec![
            TransactWriteItem::builder().update(raise).build(),
            self.put_new(items::token_item(token))?,
            self.put(items::ref_item(
                &token.user_id,
                &items::token_key(&token.hash),
                RefAction::Delete,
                token.expires_at,
            ))?,
        ];
        Ok(self.transact(actions).await?.is_none())
    }

    async fn consume_activation_token(&self, hash: &TokenHash, now: Timestamp) -> anyhow::Result<TokenUse> {
        let Some(item) = self.get(items::token_key(hash)).await? else {
            return Ok(TokenUse::Unknown);
        };
        let record = items::token_from_item(&item)?;
        if record.purpose != TokenPurpose::Activation {
            return Ok(TokenUse::Unknown);
        }
        if record.used_at.is_some() {
            return Ok(TokenUse::AlreadyUsed(record));
        }
        if record.is_expired(now) {
            return Ok(TokenUse::Expired(record));
        }
        let use_token = Update::builder()
            .table_name(&self.table)
            .set_key(Some(items::token_key(hash)))
            .update_expression("SET used_at = :now")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(used_at) AND expires_at >= :now")
            .expression_attribute_values(":now", items::ts(now))
            .build()
            .context("building the token update")?;
        let activate = Update::builder()
            .table_name(&self.table)
            .set_key(Some(items::user_key(&record.user_id)))
            .update_expression("SET #status = :active, activated_at = if_not_exists(activated_at, :now)")
            .condition_expression("attribute_exists(pk) AND #status <> :removal AND auth_epoch = :epoch")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":active", items::s(UserStatus::Active.as_str()))
            .expression_attribute_values(":removal", items::s(UserStatus::RemovalRequested.as_str()))
            .expression_attribute_values(":now", items::ts(now))
            .expression_attribute_values(":epoch", AttributeValue::N(record.auth_epoch.to_string()))
            .build()
            .context("building the activation update")?;
        let actions = vec![
            TransactWriteItem::builder().update(use_token).build(),
            TransactWriteItem::builder().update(activate).build(),
        ];
        match self.transact(actions).await? {
            None => Ok(TokenUse::Consumed(TokenRecord { used_at: Some(now), ..record })),
            Some(_) => {
                // Someone else used it in between, or the user is gone: say what is true now.
                let Some(item) = self.get(items::token_key(hash)).await? else {
                    return Ok(TokenUse::Unknown);
                };
                let record = items::token_from_item(&item)?;
                Ok(match record.used_at {
                    Some(_) => TokenUse::AlreadyUsed(record),
                    None if record.is_expired(now) => TokenUse::Expired(record),
                    None => TokenUse::Unknown,
                })
            }
        }
    }

    async fn token(&self, hash: &TokenHash) -> anyhow::Result<Option<TokenRecord>> {
        self.get(items::token_key(hash)).await?.as_ref().map(items::token_from_item).transpose()
    }

    async fn complete_password_reset(
        &self,
        token: &TokenRecord,
        hash: &PasswordHash,
        now: Timestamp,
    ) -> anyhow::Result<bool> {
        let use_token = Update::builder()
            .table_name(&self.table)
            .set_key(Some(items::token_key(&token.hash)))
            .update_expression("SET used_at = :now")
            .condition_expression(
                "attribute_exists(pk) AND purpose = :reset AND attribute_not_exists(used_at) AND expires_at >= :now",
            )
            .expression_attribute_values(":now", items::ts(now))
            .expression_attribute_values(":reset", items::s(TokenPurpose::PasswordReset.as_str()))
            .build()
            .context("building the reset token update")?;
        let set_password = Update::builder()
            .table_name(&self.table)
            .set_key(Some(items::user_key(&token.user_id)))
            .update_expression("SET password_hash = :hash, #status = :active, activated_at = if_not_exists(activated_at, :now) ADD auth_epoch :one")
            .condition_expression("attribute_exists(pk) AND auth_epoch = :epoch AND #status <> :removal")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":hash", items::s(hash.as_str()))
            .expression_attribute_values(":active", items::s(UserStatus::Active.as_str()))
            .expression_attribute_values(":removal", items::s(UserStatus::RemovalRequested.as_str()))
            .expression_attribute_values(":now", items::ts(now))
            .expression_attribute_values(":one", items::n(1))
            .expression_attribute_values(":epoch", items::n(token.auth_epoch as i64))
            .build()
            .context("building the password update")?;
        let actions = vec![
            TransactWriteItem::builder().update(use_token).build(),
            TransactWriteItem::builder().update(set_password).build(),
        ];
        Ok(self.transact(actions).await?.is_none())
    }

    async fn set_password(&self, id: &UserId, hash: &PasswordHash) -> anyhow::Result<bool> {
        let result = self
            .client()
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::user_key(id)))
            .update_expression("SET password_hash = :hash ADD auth_epoch :one")
            .condition_expression("attribute_exists(pk) AND #status <> :removal")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":hash", items::s(hash.as_str()))
            .expression_attribute_values(":removal", items::s(UserStatus::RemovalRequested.as_str()))
            .expression_attribute_values(":one", items::n(1))
            .send()
            .await;
        applied(result, "DynamoDB UpdateItem (password)")
    }

    async fn activate_user(&self, id: &UserId, now: Timestamp) -> anyhow::Result<bool> {
        let result = self
            .client()
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::user_key(id)))
            .update_expression("SET #status = :active, activated_at = if_not_exists(activated_at, :now)")
            .condition_expression("attribute_exists(pk) AND #status <> :removal")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":active", items::s(UserStatus::Active.as_str()))
            .expression_attribute_values(":removal", items::s(UserStatus::RemovalRequested.as_str()))
            .expression_attribute_values(":now", items::ts(now))
            .send()
            .await;
        applied(result, "DynamoDB UpdateItem (activation)")
    }

    async fn delete_user(&self, request: &DeleteRequest<'_>) -> anyhow::Result<Deleted> {
        let user = request.user;
        if let Some((job_id, outcome)) = request.job_row {
            if self.row_settled(job_id, outcome.row).await? {
                return Ok(Deleted::AlreadySettled);
            }
        }
        if self.user_by_id(&user.id).await?.is_none() {
            return Ok(Deleted::NotFound);
        }
        // First what the account owns, through its references; the account itself last.
        let found = self.partition(&format!("USER#{}", user.id), "REF#", "references").await?;
        for reference in found {
            let target = HashMap::from([
                ("pk".to_owned(), items::s(items::get_s(&reference, "target_pk")?)),
                ("sk".to_owned(), items::s(items::get_s(&reference, "target_sk")?)),
            ]);
            if items::get_s(&reference, "action")? == "scrub" {
                self.scrub_row(target).await?;
            } else {
                self.delete_item(target, "a token or session").await?;
            }
            let key = HashMap::from([
                ("pk".to_owned(), reference.get("pk").cloned().context("reference without pk")?),
                ("sk".to_owned(), reference.get("sk").cloned().context("reference without sk")?),
            ]);
            self.delete_item(key, "a reference").await?;
        }
        self.delete_item(items::lockout_key(request.counter_key), "the sign-in counter").await?;
        self.scrub_rows_naming(&user.email).await?;

        let delete = |key: Item, condition: &str| -> anyhow::Result<TransactWriteItem> {
            let delete = aws_sdk_dynamodb::types::Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key))
                .condition_expression(condition)
                .expression_attribute_values(":id", items::s(user.id.as_str()))
                .build()
                .context("building a delete")?;
            Ok(TransactWriteItem::builder().delete(delete).build())
        };
        let mut actions = vec![
            delete(items::user_key(&user.id), "attribute_exists(pk) AND user_id = :id")?,
            delete(items::email_key(&user.email.key()), "attribute_not_exists(pk) OR user_id = :id")?,
            delete(items::username_key(&user.username.key()), "attribute_not_exists(pk) OR user_id = :id")?,
            self.put(items::retirement_item(request.retirement))?,
        ];
        if let Some((job_id, outcome)) = request.job_row {
            let expires = self.row_expiry(job_id).await?;
            actions.push(self.put_new(items::row_item(job_id, outcome, expires))?);
            actions.push(self.count_row(job_id, outcome.result.counter())?);
        }
        if let Some(entry) = request.audit {
            actions.push(self.put_new(items::audit_item(entry))?);
        }
        // An operator leaves the list of operators with the account.
        actions.push(delete(items::operator_key(&user.id), "attribute_not_exists(pk) OR user_id = :id")?);
        match self.transact(actions).await? {
            None => Ok(Deleted::Deleted),
            Some(failed) if failed.get(4) == Some(&true) => Ok(Deleted::AlreadySettled),
            Some(_) => Ok(Deleted::NotFound),
        }
    }

    async fn retirement(&self, email_hmac: &str) -> anyhow::Result<Option<Retirement>> {
        self.get(items::retirement_key(email_hmac)).await?.as_ref().map(items::retirement_from_item).transpose()
    }

    async fn mark_mail_refused(&self, id: &UserId, refusal: &MailRefusal) -> anyhow::Result<bool> {
        let result = self
            .client()
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::user_key(id)))
            .condition_expression("attribute_exists(pk)")
            .update_expression("SET mail_refused = :refusal")
            .expression_attribute_values(":refusal", items::mail_refusal(refusal))
            .send()
            .await;
        applied(result, "DynamoDB UpdateItem (mail refused)")
    }

    async fn set_operator(&self, id: &UserId, operator: bool) -> anyhow::Result<bool> {
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(items::user_key(id)))
            .condition_expression("attribute_exists(pk) AND #status <> :removal")
            .expression_attribute_names("#status", "status")
            // `operator` is one of DynamoDB's reserved words.
            .expression_attribute_names("#role", "operator")
            .expression_attribute_values(":removal", items::s(UserStatus::RemovalRequested.as_str()));
        update = if operator {
            update.update_expression("SET #role = :yes").expression_attribute_values(":yes", AttributeValue::Bool(true))
        } else {
            update.update_expression("REMOVE #role")
        };
        let update = update.build().context("building the role update")?;
        let listing = if operator {
            let mut item = items::operator_key(id);
            item.insert("user_id".into(), items::s(id.as_str()));
            self.put(item)?
        } else {
            let delete = aws_sdk_dynamodb::types::Delete::builder()
                .table_name(&self.table)
                .set_key(Some(items::operator_key(id)))
                .build()
                .context("building the listing delete")?;
            TransactWriteItem::builder().delete(delete).build()
        };
        Ok(self.transact(vec![TransactWriteItem::builder().update(update).build(), listing]).await?.is_none())
    }

    async fn operators(&self) -> anyhow::Result<Vec<User>> {
        let mut operators = Vec::new();
        for item in self.partition("OPERATORS", "", "operators").await? {
            let id = UserId::parse(items::get_s(&item, "user_id")?).context("operator user_id is not a UUID")?;
            // A role and its listing change in one transaction; a listing without its account
            // cannot be, but an account read a moment after its deletion can be gone.
            if let Some(user) = self.user_by_id(&id).await?.filter(|u| u.operator) {
                operators.push(user);
            }
        }
        Ok(operators)
    }

    async fn quota_used(&self, key: &str, now: Timestamp) -> anyhow::Result<u32> {
        let Some(item) = self.get(items::slot_key(key)).await? else {
            return Ok(0);
        };
        if items::get_ts(&item, "until")? <= now {
            return Ok(0);
        }
        Ok(u32::try_from(items::get_u64(&item, "uses")?).unwrap_or(u32::MAX))
    }

    async fn request_removal(&self, id: &UserId) -> anyhow::Result<bool> {
        let result = self
            .client()
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::user_key(id)))
            .update_expression("SET #status = :removal ADD auth_epoch :one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":removal", items::s(UserStatus::RemovalRequested.as_str()))
            .expression_attribute_values(":one", items::n(1))
            .send()
            .await;
        applied(result, "DynamoDB UpdateItem (removal requested)")
    }

    async fn take_quota(&self, key: &str, now: Timestamp, window_seconds: i64, limit: u32) -> anyhow::Result<bool> {
        let until = items::ts(now.plus_seconds(window_seconds));
        // One more use in the current window, if under the limit.
        let counted = self
            .client()
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::slot_key(key)))
            .update_expression("SET uses = if_not_exists(uses, :zero) + :one, #until = if_not_exists(#until, :until), #ttl = if_not_exists(#ttl, :until)")
            .condition_expression("attribute_not_exists(pk) OR (#until > :now AND uses < :limit)")
            .expression_attribute_names("#until", "until")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":zero", items::n(0))
            .expression_attribute_values(":one", items::n(1))
            .expression_attribute_values(":until", until.clone())
            .expression_attribute_values(":now", items::ts(now))
            .expression_attribute_values(":limit", items::n(i64::from(limit)))
            .send()
            .await;
        if applied(counted, "DynamoDB UpdateItem (quota)")? {
            return Ok(true);
        }
        // Else, once the window is over, a new one starts with this use.
        let restarted = self
            .client()
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::slot_key(key)))
            .update_expression("SET uses = :one, #until = :until, #ttl = :until")
            .condition_expression("#until <= :now")
            .expression_attribute_names("#until", "until")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":one", items::n(1))
            .expression_attribute_values(":until", until)
            .expression_attribute_values(":now", items::ts(now))
            .send()
            .await;
        applied(restarted, "DynamoDB UpdateItem (quota window)")
    }
}

#[async_trait]
impl SessionStore for DynamoStore {
    async fn create_session(&self, session: &SessionRecord) -> anyhow::Result<()> {
        let key = items::session_key(&session.hash);
        self.put_owned(items::session_item(session), &session.user_id, &key, session.expires_at, "session").await
    }

    async fn session(&self, hash: &TokenHash, now: Timestamp) -> anyhow::Result<Option<SessionRecord>> {
        let Some(item) = self.get(items::session_key(hash)).await? else {
            return Ok(None);
        };
        let session = items::session_from_item(&item)?;
        // TTL deletion is late: an expired session may still be there.
        Ok((!session.is_expired(now)).then_some(session))
    }

    async fn delete_session(&self, hash: &TokenHash) -> anyhow::Result<()> {
        self.client()
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(items::session_key(hash)))
            .send()
            .await
            .context("DynamoDB DeleteItem (session)")?;
        Ok(())
    }

    async fn create_device(&self, device: &DeviceRecord) -> anyhow::Result<()> {
        let key = items::device_key(&device.hash);
        self.put_owned(items::device_item(device), &device.user_id, &key, device.expires_at, "device").await
    }

    async fn known_devices(&self, user_id: &UserId, now: Timestamp) -> anyhow::Result<Vec<TokenHash>> {
        // Through the account's references to its devices (written with each device).
        let mut hashes = Vec::new();
        for item in self.partition(&format!("USER#{user_id}"), "REF#DEVICE#", "device references").await? {
            if items::get_ts(&item, "ttl")? <= now {
                continue;
            }
            let target = items::get_s(&item, "target_pk")?;
            if let Some(hash) = target.strip_prefix("DEVICE#") {
                hashes.push(TokenHash::from_stored(hash.to_owned()));
            }
        }
        hashes.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        Ok(hashes)
    }

    async fn device(&self, hash: &TokenHash, now: Timestamp) -> anyhow::Result<Option<DeviceRecord>> {
        let Some(item) = self.get(items::device_key(hash)).await? else {
            return Ok(None);
        };
        let device = items::device_from_item(&item)?;
        Ok((now < device.expires_at).then_some(device))
    }

    async fn touch_session(
        &self,
        hash: &TokenHash,
        last_seen_at: Timestamp,
        password_at: Timestamp,
    ) -> anyhow::Result<()> {
        let result = self
            .client()
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::session_key(hash)))
            .update_expression("SET last_seen_at = :seen, password_at = :password")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":seen", items::ts(last_seen_at))
            .expression_attribute_values(":password", items::ts(password_at))
            .send()
            .await;
        applied(result, "DynamoDB UpdateItem (session activity)")?;
        Ok(())
    }
}

#[async_trait]
impl LoginAttempts for DynamoStore {
    async fn reserve(&self, key: &str, now: Timestamp, policy: LockoutPolicy) -> anyhow::Result<Reservation> {
        let window_end = items::ts(now.plus_seconds(policy.lockout_seconds));
        // One more attempt in the current count, if not locked and under the limit.
        let counted = self
            .client()
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::lockout_key(key)))
            .update_expression("SET failures = if_not_exists(failures, :zero) + :one, expires_at = :end, #ttl = :end")
            .condition_expression(
                "attribute_not_exists(pk) OR (attribute_not_exists(locked_until) AND failures < :max AND expires_at > :now)",
            )
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":zero", items::n(0))
            .expression_attribute_values(":one", items::n(1))
            .expression_attribute_values(":end", window_end.clone())
            .expression_attribute_values(":max", items::n(i64::from(policy.max_failures)))
            .expression_attribute_values(":now", items::ts(now))
            .send()
            .await;
        if applied(counted, "reserving a sign-in attempt")? {
            return Ok(Reservation::Granted);
        }
        // Else, if the lock or the counting window has run out, a new count starts.
        let restarted = self
            .client()
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::lockout_key(key)))
            .update_expression("SET failures = :one, expires_at = :end, #ttl = :end REMOVE locked_until")
            .condition_expression("locked_until <= :now OR expires_at <= :now")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":one", items::n(1))
            .expression_attribute_values(":end", window_end)
            .expression_attribute_values(":now", items::ts(now))
            .send()
            .await;
        if applied(restarted, "restarting a sign-in count")? {
            return Ok(Reservation::Granted);
        }
        let locked_until = self.state(key, now).await?.locked_until;
        Ok(Reservation::Refused { locked_until })
    }

    async fn record_failure(
        &self,
        key: &str,
        now: Timestamp,
        policy: LockoutPolicy,
    ) -> anyhow::Result<Option<LockedNow>> {
        let until = now.plus_seconds(policy.lockout_seconds);
        let result = self
            .client()
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::lockout_key(key)))
            .update_expression("SET locked_until = :until, expires_at = :until, #ttl = :until")
            .condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(locked_until) AND failures >= :max AND expires_at > :now",
            )
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":until", items::ts(until))
            .expression_attribute_values(":max", items::n(i64::from(policy.max_failures)))
            .expression_attribute_values(":now", items::ts(now))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => {
                let item = output.attributes.context("UpdateItem returned no attributes")?;
                let failures = items::get_u64(&item, "failures")? as u32;
                Ok(Some(LockedNow { failures, until }))
            }
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(None),
            Err(e) => Err(e).context("DynamoDB UpdateItem (locking an account)"),
        }
    }

    async fn clear(&self, key: &str) -> anyhow::Result<()> {
        self.client()
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(items::lockout_key(key)))
            .send()
            .await
            .context("DynamoDB DeleteItem (sign-in counter)")?;
        Ok(())
    }

    async fn state(&self, key: &str, now: Timestamp) -> anyhow::Result<LockoutState> {
        let Some(item) = self.get(items::lockout_key(key)).await? else {
            return Ok(LockoutState::default());
        };
        if items::get_ts(&item, "expires_at")? <= now {
            return Ok(LockoutState::default());
        }
        Ok(LockoutState {
            failures: items::get_u64(&item, "failures")? as u32,
            locked_until: items::opt_ts(&item, "locked_until")?.filter(|until| *until > now),
        })
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

impl DynamoStore {
    /// The update that counts a settled row on its job.
    fn count_row(&self, job_id: &str, counter: &str) -> anyhow::Result<TransactWriteItem> {
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

    /// The delete of a row's kept password, in the write that settles the row.
    fn forget_password(&self, job_id: &str, row: u64) -> anyhow::Result<TransactWriteItem> {
        let delete = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(&self.table)
            .set_key(Some(items::kept_password_key(job_id, row)))
            .build()
            .context("building a password delete")?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    async fn row_expiry(&self, job_id: &str) -> anyhow::Result<Timestamp> {
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
