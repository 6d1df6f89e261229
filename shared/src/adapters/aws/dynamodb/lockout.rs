//! `LoginAttempts` on DynamoDB: one counter item per canonical email, changed by conditional updates only.

use super::{applied, DynamoStore};
use crate::adapters::aws::items::{self};
use crate::domain::{LockedNow, LockoutPolicy, LockoutState, Reservation, Timestamp, UserId};
use crate::ports::LoginAttempts;
use anyhow::Context;
use async_trait::async_trait;

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
            .update_expression("SET failures = :one, expires_at = :end, #ttl = :end REMOVE locked_until, locked_pk, locked_sk, locked_user")
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

    async fn release(&self, key: &str) -> anyhow::Result<()> {
        let result = self
            .client()
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::lockout_key(key)))
            .update_expression("SET failures = failures - :one")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(locked_until) AND failures > :zero")
            .expression_attribute_values(":zero", items::n(0))
            .expression_attribute_values(":one", items::n(1))
            .send()
            .await;
        // Locked or empty meanwhile: there is nothing to give back.
        applied(result, "DynamoDB UpdateItem (releasing a sign-in attempt)")?;
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

    async fn mark_locked(&self, key: &str, user_id: Option<&UserId>, until: Timestamp) -> anyhow::Result<()> {
        let update = self
            .client()
            .update_item()
            .table_name(&self.table)
            .set_key(Some(items::lockout_key(key)))
            .condition_expression("locked_until = :until")
            .expression_attribute_values(":until", items::ts(until));
        let update = match user_id {
            Some(user_id) => update
                .update_expression("SET locked_pk = :locked, locked_sk = :sk, locked_user = :user")
                .expression_attribute_values(":locked", items::s("LOCKED"))
                .expression_attribute_values(":sk", items::s(&items::locked_sk(until, key)))
                .expression_attribute_values(":user", items::s(user_id.as_str())),
            // Not in the index (no `locked_pk`): the same write, for the same time.
            None => update.update_expression("SET locked_noted = :until"),
        };
        let result = update.send().await;
        // Cleared or counting again meanwhile: it is not locked, so not listed.
        applied(result, "DynamoDB UpdateItem (noting a locked account)")?;
        Ok(())
    }

    async fn locked_now(&self, now: Timestamp, limit: usize) -> anyhow::Result<Vec<(UserId, Timestamp)>> {
        self.query_locked(now, limit).await
    }
}
