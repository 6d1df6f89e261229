//! `SecondFactorStore` on DynamoDB: an account's factors as one item in its partition (a
//! version number and the record as JSON), replaced by a transaction that checks the account
//! is still there (no factors outlive a deletion that ran meanwhile) and the version read is
//! the one stored; ceremony challenges as items with a TTL, taken by a conditional delete.

use super::DynamoStore;
use crate::adapters::aws::items;
use crate::domain::{Challenge, SecondFactors, Timestamp, TokenHash, UserId};
use crate::ports::SecondFactorStore;
use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem, Update};

#[async_trait]
impl SecondFactorStore for DynamoStore {
    async fn second_factors(&self, user_id: &UserId) -> anyhow::Result<SecondFactors> {
        match self.get(items::second_factors_key(user_id)).await? {
            Some(item) => items::second_factors_from_item(&item),
            None => Ok(SecondFactors::default()),
        }
    }

    async fn save_second_factors(&self, user_id: &UserId, next: &SecondFactors) -> anyhow::Result<bool> {
        anyhow::ensure!(next.version > 0, "a saved record of second factors has a version above 0");
        // The account says whether it has a factor (`second_factor`, the list's filter), in
        // the same write.
        let account = Update::builder()
            .table_name(&self.table)
            .set_key(Some(items::user_key(user_id)))
            .condition_expression("attribute_exists(pk)");
        let account = match next.is_enrolled() {
            true => account
                .update_expression("SET second_factor = :yes")
                .expression_attribute_values(":yes", AttributeValue::Bool(true)),
            false => account.update_expression("REMOVE second_factor"),
        };
        let account = account.build().context("building the account's update")?;
        let put = Put::builder().table_name(&self.table).set_item(Some(items::second_factors_item(user_id, next)?));
        let put = if next.version == 1 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("version = :read")
                .expression_attribute_values(":read", items::n(i64::try_from(next.version - 1)?))
        };
        let actions = vec![
            TransactWriteItem::builder().update(account).build(),
            TransactWriteItem::builder().put(put.build().context("building a put")?).build(),
        ];
        Ok(self.transact(actions).await?.is_none())
    }

    async fn put_challenge(&self, challenge: &Challenge) -> anyhow::Result<()> {
        let put = self
            .client()
            .put_item()
            .table_name(&self.table)
            .set_item(Some(items::challenge_item(challenge)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                anyhow::bail!("challenge hash collision")
            }
            Err(e) => Err(anyhow::Error::new(e).context("DynamoDB PutItem (challenge)")),
        }
    }

    async fn challenge(&self, hash: &TokenHash, now: Timestamp) -> anyhow::Result<Option<Challenge>> {
        let Some(item) = self.get(items::challenge_key(hash)).await? else {
            return Ok(None);
        };
        let challenge = items::challenge_from_item(&item)?;
        // TTL deletion is late: an expired challenge may still be there.
        Ok((now < challenge.expires_at).then_some(challenge))
    }

    async fn take_challenge(&self, hash: &TokenHash, now: Timestamp) -> anyhow::Result<Option<Challenge>> {
        let taken = self
            .client()
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(items::challenge_key(hash)))
            .condition_expression("attribute_exists(pk) AND expires_at > :now")
            .expression_attribute_values(":now", items::ts(now))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match taken {
            Ok(output) => match output.attributes {
                Some(item) => Ok(Some(items::challenge_from_item(&item)?)),
                None => Ok(None),
            },
            Err(error) => {
                let refused = error.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception());
                if refused {
                    Ok(None)
                } else {
                    Err(anyhow::Error::new(error).context("DynamoDB DeleteItem (taking a challenge)"))
                }
            }
        }
    }
}
