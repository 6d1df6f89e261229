//! `UserStore` on DynamoDB: accounts, their claims, tokens, quotas, deletion.

use super::{applied, DynamoStore};
use crate::adapters::aws::items::{self, Item, RefAction};
use crate::domain::{
    FullName, MailRefusal, PasswordHash, Retirement, Timestamp, TokenHash, TokenPurpose, TokenRecord, User, UserId,
    UserPage, UserQuery, UserSource, UserStatus,
};
use crate::ports::{
    CreateUserError, DeleteRequest, Deleted, EmailChange, EmailChanged, HeldClaims, Reregistration, TokenUse, UserStore,
};
use anyhow::{anyhow, Context};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem, Update};
use std::collections::HashMap;

/// The nil UUID: no account has it (ids are random v4 UUIDs), so reading it reads nothing.
const NO_USER: &str = "00000000-0000-0000-0000-000000000000";

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
            // The same two reads for an unknown address as for a known one (of a user that
            // never exists): the number of requests, and their time, do not tell which.
            self.get(items::user_key(&UserId::parse(NO_USER).context("the no-user id")?)).await?;
            return Ok(None);
        };
        let id = UserId::parse(items::get_s(&claim, "user_id")?).context("email claim user_id is not a UUID")?;
        self.user_by_id(&id).await
    }

    async fn replace_registration(&self, previous: &User, next: &User) -> anyhow::Result<Reregistration> {
        crate::ports::check_replacement(previous, next)?;
        let hash = next.password_hash.as_ref().context("a replacement registration has a password")?;
        let mut set =
            "SET password_hash = :hash, #name = :name, username = :username, username_lc = :username_lc, auth_epoch = :next"
                .to_owned();
        let mut replace = Update::builder()
            .table_name(&self.table)
            .set_key(Some(items::user_key(&previous.id)))
            .condition_expression(
                "attribute_exists(pk) AND #status = :pending AND #source = :self AND auth_epoch = :previous \
                 AND username = :old",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#source", "source")
            .expression_attribute_names("#name", "name")
            .expression_attribute_values(":pending", items::s(UserStatus::PendingActivation.as_str()))
            .expression_attribute_values(":self", items::s(UserSource::SelfService.as_str()))
            .expression_attribute_values(":previous", AttributeValue::N(previous.auth_epoch.to_string()))
            .expression_attribute_values(":old", items::s(previous.username.as_ref()))
            .expression_attribute_values(":hash", items::s(hash.as_str()))
            .expression_attribute_values(":name", items::s(next.name.as_ref()))
            .expression_attribute_values(":username", items::s(next.username.as_ref()))
            .expression_attribute_values(":username_lc", items::s(&next.username.key()))
            .expression_attribute_values(":next", AttributeValue::N(next.auth_epoch.to_string()));
        if let Some(at) = next.terms_accepted_at {
            set.push_str(", terms_accepted_at = :terms");
            replace = replace.expression_attribute_values(":terms", items::ts(at));
        }
        match &next.terms_version {
            Some(version) => {
                set.push_str(", terms_version = :terms_version");
                replace = replace.expression_attribute_values(":terms_version", items::s(version));
            }
            None => set.push_str(" REMOVE terms_version"),
        }
        let replace = replace.update_expression(set).build().context("building the registration update")?;
        let mut actions = vec![TransactWriteItem::builder().update(replace).build()];
        let (old, new) = (previous.username.key(), next.username.key());
        let moves = old != new;
        if moves {
            let release = aws_sdk_dynamodb::types::Delete::builder()
                .table_name(&self.table)
                .set_key(Some(items::username_key(&old)))
                .condition_expression("user_id = :id")
                .expression_attribute_values(":id", items::s(previous.id.as_str()))
                .build()
                .context("building the username release")?;
            actions.push(TransactWriteItem::builder().delete(release).build());
            actions.push(self.put_new(items::claim_item(items::username_key(&new), &previous.id))?);
        }
        let Some(failed) = self.transact(actions).await? else {
            return Ok(Reregistration::Replaced);
        };
        if failed.first() == Some(&true) || failed.get(1) == Some(&true) {
            return Ok(Reregistration::Changed);
        }
        if moves && failed.get(2) == Some(&true) {
            return Ok(Reregistration::UsernameTaken);
        }
        // Some emulators omit the per-action reasons: ask the items themselves.
        let current = self.user_by_id(&previous.id).await?;
        let unchanged =
            current.is_some_and(|u| u.status == UserStatus::PendingActivation && u.auth_epoch == previous.auth_epoch);
        if unchanged && moves && self.get(items::username_key(&new)).await?.is_some() {
            return Ok(Reregistration::UsernameTaken);
        }
        Ok(Reregistration::Changed)
    }

    async fn username_taken(&self, username_key: &str) -> anyhow::Result<bool> {
        Ok(self.get(items::username_key(username_key)).await?.is_some())
    }

    async fn claims_held(&self, email_keys: &[String], username_keys: &[String]) -> anyhow::Result<HeldClaims> {
        let keys =
            email_keys.iter().map(|k| items::email_key(k)).chain(username_keys.iter().map(|k| items::username_key(k)));
        let claims = self.batch_get(keys.collect()).await?;
        let mut held = HeldClaims::default();
        let mut owners: HashMap<UserId, String> = HashMap::new();
        for claim in &claims {
            let pk = items::get_s(claim, "pk")?;
            if let Some(email_key) = pk.strip_prefix("EMAIL#") {
                let id = UserId::parse(items::get_s(claim, "user_id")?).context("email claim user_id is not a UUID")?;
                owners.insert(id, email_key.to_owned());
            } else if let Some(username_key) = pk.strip_prefix("USERNAME#") {
                held.usernames.insert(username_key.to_owned());
            }
        }
        let users = self.batch_get(owners.keys().map(items::user_key).collect()).await?;
        for item in &users {
            let user = items::user_from_item(item)?;
            if let Some(email_key) = owners.get(&user.id) {
                held.emails.insert(email_key.clone(), user);
            }
        }
        Ok(held)
    }

    async fn user_by_id(&self, id: &UserId) -> anyhow::Result<Option<User>> {
        self.get(items::user_key(id)).await?.as_ref().map(items::user_from_item).transpose()
    }

    async fn put_token(&self, token: &TokenRecord) -> anyhow::Result<()> {
        let key = items::token_key(&token.hash);
        self.put_owned(items::token_item(token), &token.user_id, &key, token.expires_at, "token").await
    }

    async fn replace_activation_token(&self, token: &TokenRecord) -> anyhow::Result<bool> {
        // Epoch 0 has none before it: a token of epoch 0 is no newer link.
        let Some(previous) = token.auth_epoch.checked_sub(1) else {
            return Ok(false);
        };
        let raise = Update::builder()
            .table_name(&self.table)
            .set_key(Some(items::user_key(&token.user_id)))
            .update_expression("SET auth_epoch = :epoch")
            .condition_expression("attribute_exists(pk) AND #status = :pending AND auth_epoch = :previous")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pending", items::s(UserStatus::PendingActivation.as_str()))
            .expression_attribute_values(":epoch", AttributeValue::N(token.auth_epoch.to_string()))
            .expression_attribute_values(":previous", AttributeValue::N(previous.to_string()))
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
                "attribute_exists(pk) AND purpose IN (:reset, :invitation) AND attribute_not_exists(used_at) AND expires_at >= :now",
            )
            .expression_attribute_values(":now", items::ts(now))
            .expression_attribute_values(":reset", items::s(TokenPurpose::PasswordReset.as_str()))
            .expression_attribute_values(":invitation", items::s(TokenPurpose::Invitation.as_str()))
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

    async fn change_email(&self, change: &EmailChange<'_>) -> anyhow::Result<EmailChanged> {
        let user = change.user;
        let (old_key, new_key) = (user.email.key(), change.new_email.key());
        let epoch_update = if change.end_sessions { " ADD auth_epoch :one" } else { "" };
        let mut account = Update::builder()
            .table_name(&self.table)
            .set_key(Some(items::user_key(&user.id)))
            .update_expression(format!("SET email = :new, email_lc = :new_lc{epoch_update}"))
            .condition_expression("attribute_exists(pk) AND email = :old AND auth_epoch = :epoch AND #status = :status")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":new", items::s(change.new_email.as_ref()))
            .expression_attribute_values(":new_lc", items::s(&new_key))
            .expression_attribute_values(":old", items::s(user.email.as_ref()))
            .expression_attribute_values(":epoch", AttributeValue::N(user.auth_epoch.to_string()))
            .expression_attribute_values(":status", items::s(user.status.as_str()));
        if change.end_sessions {
            account = account.expression_attribute_values(":one", items::n(1));
        }
        let mut actions =
            vec![TransactWriteItem::builder().update(account.build().context("building the email update")?).build()];
        // The index of the new claim's put, whose failure means the address is taken.
        let mut new_claim = None;
        if old_key != new_key {
            let old_claim = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(items::email_key(&old_key)))
                .condition_expression("user_id = :user")
                .expression_attribute_values(":user", items::s(user.id.as_str()))
                .build()
                .context("building the old claim's delete")?;
            actions.push(TransactWriteItem::builder().delete(old_claim).build());
            new_claim = Some(actions.len());
            actions.push(self.put_new(items::claim_item(items::email_key(&new_key), &user.id))?);
        }
        if let Some(token) = change.token {
            let spend = Update::builder()
                .table_name(&self.table)
                .set_key(Some(items::token_key(token)))
                .update_expression("SET used_at = :now")
                .condition_expression(
                    "attribute_exists(pk) AND attribute_not_exists(used_at) AND expires_at >= :now AND user_id = :user",
                )
                .expression_attribute_values(":now", items::ts(change.now))
                .expression_attribute_values(":user", items::s(user.id.as_str()))
                .build()
                .context("building the token update")?;
            actions.push(TransactWriteItem::builder().update(spend).build());
        }
        let Some(failed) = self.transact(actions).await? else {
            return Ok(EmailChanged::Changed);
        };
        let mut taken = new_claim.is_some_and(|at| failed.get(at) == Some(&true));
        if new_claim.is_some() && !failed.iter().any(|f| *f) {
            // Some emulators omit the per-action reasons: ask the claim itself.
            let claim = self.get(items::email_key(&new_key)).await?;
            taken = claim.is_some_and(|claim| items::get_s(&claim, "user_id").ok() != Some(user.id.as_str()));
        }
        Ok(if taken { EmailChanged::Taken } else { EmailChanged::Stale })
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

    async fn set_name(&self, id: &UserId, name: &FullName) -> anyhow::Result<bool> {
        let result = self
            .client()
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::user_key(id)))
            .update_expression("SET #name = :name")
            .condition_expression("attribute_exists(pk) AND #status <> :removal")
            .expression_attribute_names("#name", "name")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":name", items::s(name.as_ref()))
            .expression_attribute_values(":removal", items::s(UserStatus::RemovalRequested.as_str()))
            .send()
            .await;
        applied(result, "DynamoDB UpdateItem (name)")
    }

    async fn raise_auth_epoch(&self, id: &UserId, epoch: u64, password: Option<&PasswordHash>) -> anyhow::Result<bool> {
        let update = match password {
            Some(_) => "SET password_hash = :hash ADD auth_epoch :one",
            None => "ADD auth_epoch :one",
        };
        let mut request = self
            .client()
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::user_key(id)))
            .update_expression(update)
            .condition_expression("attribute_exists(pk) AND auth_epoch = :epoch AND #status <> :removal")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":removal", items::s(UserStatus::RemovalRequested.as_str()))
            .expression_attribute_values(":epoch", items::n(i64::try_from(epoch).context("auth_epoch out of range")?))
            .expression_attribute_values(":one", items::n(1));
        if let Some(hash) = password {
            request = request.expression_attribute_values(":hash", items::s(hash.as_str()));
        }
        applied(request.send().await, "DynamoDB UpdateItem (auth epoch)")
    }

    async fn set_disabled(&self, id: &UserId, epoch: u64, at: Option<Timestamp>) -> anyhow::Result<bool> {
        let request = self
            .client()
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::user_key(id)))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":removal", items::s(UserStatus::RemovalRequested.as_str()))
            .expression_attribute_values(":epoch", items::n(i64::try_from(epoch).context("auth_epoch out of range")?));
        let request = match at {
            Some(at) => request
                .update_expression("SET disabled_at = :at ADD auth_epoch :one")
                .condition_expression(
                    "attribute_exists(pk) AND auth_epoch = :epoch AND #status <> :removal AND attribute_not_exists(disabled_at)",
                )
                .expression_attribute_values(":at", items::ts(at))
                .expression_attribute_values(":one", items::n(1)),
            None => request.update_expression("REMOVE disabled_at").condition_expression(
                "attribute_exists(pk) AND auth_epoch = :epoch AND #status <> :removal AND attribute_exists(disabled_at)",
            ),
        };
        applied(request.send().await, "DynamoDB UpdateItem (disabled)")
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
        if let Some((job, outcome)) = request.job_row {
            if self.get(items::job_row_key(&job.id, outcome.row)).await?.is_some() {
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
        if let Some((job, outcome)) = request.job_row {
            let (job_id, expires) = (job.id.as_str(), job.rows_expire_at());
            actions.push(self.put_new(items::row_item(job.kind, job_id, outcome, expires))?);
        }
        if let Some(entry) = request.audit {
            actions.push(self.put_new(items::audit_item(entry))?);
        }
        // An operator leaves the list of operators with the account; its second factors go too.
        actions.push(delete(items::operator_key(&user.id), "attribute_not_exists(pk) OR user_id = :id")?);
        actions.push(delete(items::second_factors_key(&user.id), "attribute_not_exists(pk) OR user_id = :id")?);
        match self.transact(actions).await? {
            None => Ok(Deleted::Deleted),
            // Action 4 is the job row only when there is one (else it is the audit entry).
            Some(failed) if request.job_row.is_some() && failed.get(4) == Some(&true) => Ok(Deleted::AlreadySettled),
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

    async fn clear_mail_refusal(&self, id: &UserId) -> anyhow::Result<bool> {
        let result = self
            .client()
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::user_key(id)))
            .condition_expression("attribute_exists(pk)")
            .update_expression("REMOVE mail_refused")
            .send()
            .await;
        applied(result, "DynamoDB UpdateItem (mail refusal cleared)")
    }

    async fn set_operator(&self, id: &UserId, operator: bool) -> anyhow::Result<bool> {
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(items::user_key(id)))
            .expression_attribute_names("#status", "status")
            // `operator` is one of DynamoDB's reserved words.
            .expression_attribute_names("#role", "operator");
        update = if operator {
            // Granted to an active account only.
            update
                .condition_expression("attribute_exists(pk) AND #status = :active")
                .expression_attribute_values(":active", items::s(UserStatus::Active.as_str()))
                .update_expression("SET #role = :yes")
                .expression_attribute_values(":yes", AttributeValue::Bool(true))
        } else {
            update
                .condition_expression("attribute_exists(pk) AND #status <> :removal")
                .expression_attribute_values(":removal", items::s(UserStatus::RemovalRequested.as_str()))
                // Support is held only with the operator role.
                .update_expression("REMOVE #role, support")
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

    async fn set_support(&self, id: &UserId, support: bool) -> anyhow::Result<bool> {
        let update = self
            .client()
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::user_key(id)))
            .expression_attribute_names("#status", "status");
        let update = if support {
            // Granted to an active operator only.
            update
                .expression_attribute_names("#role", "operator")
                .condition_expression("attribute_exists(pk) AND #status = :active AND #role = :yes")
                .expression_attribute_values(":active", items::s(UserStatus::Active.as_str()))
                .expression_attribute_values(":yes", AttributeValue::Bool(true))
                .update_expression("SET support = :yes")
        } else {
            update
                .condition_expression("attribute_exists(pk) AND #status <> :removal")
                .expression_attribute_values(":removal", items::s(UserStatus::RemovalRequested.as_str()))
                .update_expression("REMOVE support")
        };
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(anyhow::Error::new(e).context("DynamoDB UpdateItem (support role)")),
        }
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

    async fn find_users(&self, query: &UserQuery) -> anyhow::Result<UserPage> {
        self.query_users(query).await
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
