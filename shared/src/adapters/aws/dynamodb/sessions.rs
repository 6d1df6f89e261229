//! `SessionStore` on DynamoDB: sessions and known browsers, each with a reference its account's deletion follows.

use super::{applied, DynamoStore};
use crate::adapters::aws::items::{self, RefAction};
use crate::domain::{DeviceRecord, SessionRecord, Timestamp, TokenHash, UserId};
use crate::ports::SessionStore;
use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Delete, TransactWriteItem};

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

    async fn sessions_of(&self, user_id: &UserId, now: Timestamp) -> anyhow::Result<Vec<SessionRecord>> {
        // Through the account's references to its sessions (written with each session, and
        // expiring with it), then each session itself.
        let mut sessions = Vec::new();
        for reference in self.partition(&format!("USER#{user_id}"), "REF#SESSION#", "session references").await? {
            if items::get_ts(&reference, "ttl")? <= now {
                continue;
            }
            let Some(hash) = items::get_s(&reference, "target_pk")?.strip_prefix("SESSION#") else {
                continue;
            };
            // A session signed out is gone while its reference waits for its expiry.
            if let Some(session) = self.session(&TokenHash::from_stored(hash.to_owned()), now).await? {
                if session.user_id == *user_id {
                    sessions.push(session);
                }
            }
        }
        sessions.sort_by(|a, b| (a.created_at, a.hash.as_str()).cmp(&(b.created_at, b.hash.as_str())));
        Ok(sessions)
    }

    async fn create_device(&self, device: &DeviceRecord) -> anyhow::Result<()> {
        let key = items::device_key(&device.hash);
        self.put_owned(items::device_item(device), &device.user_id, &key, device.expires_at, "device").await
    }

    async fn delete_device(&self, user_id: &UserId, hash: &TokenHash) -> anyhow::Result<()> {
        let key = items::device_key(hash);
        let reference = items::ref_item(user_id, &key, RefAction::Delete, Timestamp::from_unix(0));
        let reference = reference.into_iter().filter(|(name, _)| name == "pk" || name == "sk").collect();
        // Only the account's own device goes (a gone one is no failure).
        let device = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .condition_expression("attribute_not_exists(pk) OR user_id = :user")
            .expression_attribute_values(":user", items::s(user_id.as_str()))
            .build()?;
        let reference = Delete::builder().table_name(&self.table).set_key(Some(reference)).build()?;
        let actions = vec![
            TransactWriteItem::builder().delete(device).build(),
            TransactWriteItem::builder().delete(reference).build(),
        ];
        // Refused: the device is another account's, and nothing was deleted.
        self.transact(actions).await?;
        Ok(())
    }

    async fn known_devices(&self, user_id: &UserId, now: Timestamp) -> anyhow::Result<Vec<TokenHash>> {
        // Through the account's references to its devices (written with each device, and
        // expiring with it: the oldest device's reference expires first).
        let mut devices = Vec::new();
        for item in self.partition(&format!("USER#{user_id}"), "REF#DEVICE#", "device references").await? {
            let expires = items::get_ts(&item, "ttl")?;
            if expires <= now {
                continue;
            }
            let target = items::get_s(&item, "target_pk")?;
            if let Some(hash) = target.strip_prefix("DEVICE#") {
                devices.push((expires, TokenHash::from_stored(hash.to_owned())));
            }
        }
        devices.sort_by(|a, b| (a.0, a.1.as_str()).cmp(&(b.0, b.1.as_str())));
        Ok(devices.into_iter().map(|(_, hash)| hash).collect())
    }

    async fn device(&self, hash: &TokenHash, now: Timestamp) -> anyhow::Result<Option<DeviceRecord>> {
        let Some(item) = self.get(items::device_key(hash)).await? else {
            return Ok(None);
        };
        let device = items::device_from_item(&item)?;
        Ok(device.filter(|device| now < device.expires_at))
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
