//! `OidcStore` on DynamoDB. Keys (see also `items.rs`):
//!
//! | item | pk | sk |
//! |---|---|---|
//! | registered application | `OIDCCLIENT#<client id>` | `CLIENT` |
//! | its copy in the list of applications | `OIDCCLIENTS` | `CLIENT#<client id>` |
//! | authorization code | `OIDCCODE#<sha256 hex>` | `CODE` |
//! | access token | `OIDCACCESS#<sha256 hex>` | `ACCESS` |
//! | refresh token | `OIDCREFRESH#<sha256 hex>` | `REFRESH` |
//! | revoked token family | `OIDCFAMILY#<family id>` | `REVOKED` |
//!
//! An application and its copy change in one transaction. A used code stays a day (`ttl`), so
//! that a replay is recognised as one (and revokes what the code gave) rather than unknown.

use super::{applied, DynamoStore};
use crate::adapters::aws::items::{self, get_s, get_ts, get_u64, opt_s, opt_ts, s, ts, Item};
use crate::domain::oidc::{ClientId, CodeChallenge, CodeRecord, CodeUse, GrantToken, OidcClient, RedirectUri};
use crate::domain::{AuthMethod, Timestamp, TokenHash, UserId};
use crate::ports::{GrantTokenKind, OidcStore};
use anyhow::{anyhow, Context};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem, Update};
use std::collections::HashMap;

const LIST_PK: &str = "OIDCCLIENTS";
/// How long a used code is kept to recognise a replay.
const USED_CODE_KEPT_SECONDS: i64 = 86_400;

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("pk".to_owned(), s(&pk)), ("sk".to_owned(), s(sk))])
}

fn client_key(id: &ClientId) -> Item {
    key(format!("OIDCCLIENT#{id}"), "CLIENT")
}

fn listed_client_key(id: &ClientId) -> Item {
    key(LIST_PK.to_owned(), &format!("CLIENT#{id}"))
}

fn code_key(hash: &TokenHash) -> Item {
    key(format!("OIDCCODE#{}", hash.as_str()), "CODE")
}

fn token_key(kind: GrantTokenKind, hash: &TokenHash) -> Item {
    match kind {
        GrantTokenKind::Access => key(format!("OIDCACCESS#{}", hash.as_str()), "ACCESS"),
        GrantTokenKind::Refresh => key(format!("OIDCREFRESH#{}", hash.as_str()), "REFRESH"),
    }
}

fn family_key(family: &str) -> Item {
    key(format!("OIDCFAMILY#{family}"), "REVOKED")
}

fn uris(values: &[RedirectUri]) -> AttributeValue {
    AttributeValue::L(values.iter().map(|uri| s(uri.as_str())).collect())
}

fn uris_from(item: &Item, name: &str) -> anyhow::Result<Vec<RedirectUri>> {
    let Some(AttributeValue::L(values)) = item.get(name) else {
        return Err(anyhow!("item has no list {name}"));
    };
    values
        .iter()
        .map(|value| match value {
            AttributeValue::S(raw) => RedirectUri::parse(raw).with_context(|| format!("{name} holds {raw:?}")),
            _ => Err(anyhow!("{name} holds a value that is not a string")),
        })
        .collect()
}

fn client_item(mut item: Item, client: &OidcClient) -> Item {
    item.insert("client_id".into(), s(client.id.as_str()));
    item.insert("name".into(), s(&client.name));
    if let Some(hash) = &client.secret_hash {
        item.insert("secret_hash".into(), s(hash.as_str()));
    }
    item.insert("redirect_uris".into(), uris(&client.redirect_uris));
    item.insert("post_logout_redirect_uris".into(), uris(&client.post_logout_redirect_uris));
    item.insert("created_at".into(), ts(client.created_at));
    item
}

fn client_from_item(item: &Item) -> anyhow::Result<OidcClient> {
    let id = get_s(item, "client_id")?;
    Ok(OidcClient {
        id: ClientId::parse(id).with_context(|| format!("client_id {id:?} is not one"))?,
        name: get_s(item, "name")?.to_owned(),
        secret_hash: opt_s(item, "secret_hash")?.map(|h| TokenHash::from_stored(h.to_owned())),
        redirect_uris: uris_from(item, "redirect_uris")?,
        post_logout_redirect_uris: uris_from(item, "post_logout_redirect_uris")?,
        created_at: get_ts(item, "created_at")?,
    })
}

fn user_id(item: &Item) -> anyhow::Result<UserId> {
    let raw = get_s(item, "user_id")?;
    UserId::parse(raw).with_context(|| format!("user_id {raw:?} is not one"))
}

fn code_item(code: &CodeRecord) -> Item {
    let mut item = code_key(&code.hash);
    item.insert("family".into(), s(&code.family));
    item.insert("client_id".into(), s(code.client_id.as_str()));
    item.insert("user_id".into(), s(code.user_id.as_str()));
    item.insert("redirect_uri".into(), s(code.redirect_uri.as_str()));
    item.insert("scope".into(), s(&code.scope));
    if let Some(nonce) = &code.nonce {
        item.insert("nonce".into(), s(nonce));
    }
    if let Some(challenge) = &code.code_challenge {
        item.insert("code_challenge".into(), s(challenge.as_str()));
    }
    item.insert("auth_time".into(), ts(code.auth_time));
    item.insert("methods".into(), methods_value(&code.methods));
    item.insert("auth_epoch".into(), items::n(code.auth_epoch as i64));
    item.insert("created_at".into(), ts(code.created_at));
    item.insert("expires_at".into(), ts(code.expires_at));
    if let Some(used) = code.used_at {
        item.insert("used_at".into(), ts(used));
    }
    item.insert("ttl".into(), ts(code.expires_at.plus_seconds(USED_CODE_KEPT_SECONDS)));
    item
}

fn code_from_item(item: &Item) -> anyhow::Result<CodeRecord> {
    let pk = get_s(item, "pk")?;
    let hash = pk.strip_prefix("OIDCCODE#").with_context(|| format!("{pk} is no code key"))?;
    let client = get_s(item, "client_id")?;
    let redirect = get_s(item, "redirect_uri")?;
    Ok(CodeRecord {
        hash: TokenHash::from_stored(hash.to_owned()),
        family: get_s(item, "family")?.to_owned(),
        client_id: ClientId::parse(client).with_context(|| format!("client_id {client:?} is not one"))?,
        user_id: user_id(item)?,
        redirect_uri: RedirectUri::parse(redirect).with_context(|| format!("redirect_uri {redirect:?}"))?,
        scope: get_s(item, "scope")?.to_owned(),
        nonce: opt_s(item, "nonce")?.map(str::to_owned),
        code_challenge: match opt_s(item, "code_challenge")? {
            Some(raw) => Some(CodeChallenge::parse(raw).with_context(|| format!("code_challenge {raw:?}"))?),
            None => None,
        },
        auth_time: get_ts(item, "auth_time")?,
        methods: methods_of(item)?,
        auth_epoch: get_u64(item, "auth_epoch")?,
        created_at: get_ts(item, "created_at")?,
        expires_at: get_ts(item, "expires_at")?,
        used_at: opt_ts(item, "used_at")?,
    })
}

/// The sign-in methods of a code or token, as a list of their names.
fn methods_value(methods: &[AuthMethod]) -> AttributeValue {
    AttributeValue::L(methods.iter().map(|m| s(m.as_str())).collect())
}

/// The sign-in methods of a code or token item; one stored before they were has `[Password]`
/// (every sign-in then was a password's).
fn methods_of(item: &Item) -> anyhow::Result<Vec<AuthMethod>> {
    let Some(value) = item.get("methods") else {
        return Ok(vec![AuthMethod::Password]);
    };
    let list = value.as_l().map_err(|_| anyhow::anyhow!("methods is not a list"))?;
    list.iter()
        .map(|v| {
            let name = v.as_s().map_err(|_| anyhow::anyhow!("a method is not a string"))?;
            AuthMethod::parse(name).with_context(|| format!("unknown sign-in method {name:?}"))
        })
        .collect()
}

fn token_item(kind: GrantTokenKind, token: &GrantToken) -> Item {
    let mut item = token_key(kind, &token.hash);
    item.insert("family".into(), s(&token.family));
    item.insert("client_id".into(), s(token.client_id.as_str()));
    item.insert("user_id".into(), s(token.user_id.as_str()));
    item.insert("scope".into(), s(&token.scope));
    item.insert("auth_time".into(), ts(token.auth_time));
    item.insert("methods".into(), methods_value(&token.methods));
    item.insert("auth_epoch".into(), items::n(token.auth_epoch as i64));
    item.insert("created_at".into(), ts(token.created_at));
    item.insert("expires_at".into(), ts(token.expires_at));
    if let Some(used) = token.used_at {
        item.insert("used_at".into(), ts(used));
    }
    item.insert("ttl".into(), ts(token.expires_at));
    item
}

fn token_from_item(item: &Item) -> anyhow::Result<GrantToken> {
    let pk = get_s(item, "pk")?;
    let (_, hash) = pk.split_once('#').with_context(|| format!("{pk} is no token key"))?;
    let client = get_s(item, "client_id")?;
    Ok(GrantToken {
        hash: TokenHash::from_stored(hash.to_owned()),
        family: get_s(item, "family")?.to_owned(),
        client_id: ClientId::parse(client).with_context(|| format!("client_id {client:?} is not one"))?,
        user_id: user_id(item)?,
        scope: get_s(item, "scope")?.to_owned(),
        auth_time: get_ts(item, "auth_time")?,
        methods: methods_of(item)?,
        auth_epoch: get_u64(item, "auth_epoch")?,
        created_at: get_ts(item, "created_at")?,
        expires_at: get_ts(item, "expires_at")?,
        used_at: opt_ts(item, "used_at")?,
    })
}

impl DynamoStore {
    fn delete_existing(&self, key: Item) -> anyhow::Result<TransactWriteItem> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .condition_expression("attribute_exists(pk)")
            .build()
            .context("building a conditional delete")?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    fn set_secret(&self, key: Item, hash: &TokenHash) -> anyhow::Result<TransactWriteItem> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression("SET secret_hash = :hash")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":hash", s(hash.as_str()))
            .build()
            .context("building an update")?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

#[async_trait]
impl OidcStore for DynamoStore {
    async fn create_client(&self, client: &OidcClient) -> anyhow::Result<()> {
        let actions = vec![
            self.put_new(client_item(client_key(&client.id), client))?,
            self.put_new(client_item(listed_client_key(&client.id), client))?,
        ];
        anyhow::ensure!(self.transact(actions).await?.is_none(), "an application has the id {} already", client.id);
        Ok(())
    }

    async fn client(&self, id: &ClientId) -> anyhow::Result<Option<OidcClient>> {
        self.get(client_key(id)).await?.as_ref().map(client_from_item).transpose()
    }

    async fn clients(&self) -> anyhow::Result<Vec<OidcClient>> {
        self.partition(LIST_PK, "CLIENT#", "applications").await?.iter().map(client_from_item).collect()
    }

    async fn delete_client(&self, id: &ClientId) -> anyhow::Result<bool> {
        let actions = vec![self.delete_existing(client_key(id))?, self.delete_existing(listed_client_key(id))?];
        Ok(self.transact(actions).await?.is_none())
    }

    async fn set_client_secret(&self, id: &ClientId, hash: &TokenHash) -> anyhow::Result<bool> {
        let actions = vec![self.set_secret(client_key(id), hash)?, self.set_secret(listed_client_key(id), hash)?];
        Ok(self.transact(actions).await?.is_none())
    }

    async fn put_code(&self, code: &CodeRecord) -> anyhow::Result<()> {
        let result = self
            .client()
            .put_item()
            .table_name(&self.table)
            .set_item(Some(code_item(code)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        result.context("DynamoDB PutItem (authorization code)")?;
        Ok(())
    }

    async fn consume_code(&self, hash: &TokenHash, now: Timestamp) -> anyhow::Result<CodeUse> {
        let result = self
            .client()
            .update_item()
            .table_name(&self.table)
            .set_key(Some(code_key(hash)))
            .update_expression("SET used_at = :now")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(used_at)")
            .expression_attribute_values(":now", ts(now))
            .send()
            .await;
        let used_now = applied(result, "DynamoDB UpdateItem (using a code)")?;
        let Some(item) = self.get(code_key(hash)).await? else {
            return Ok(CodeUse::Unknown);
        };
        let code = code_from_item(&item)?;
        Ok(if used_now { CodeUse::Consumed(code) } else { CodeUse::AlreadyUsed(code) })
    }

    async fn put_token(&self, kind: GrantTokenKind, token: &GrantToken) -> anyhow::Result<()> {
        self.client()
            .put_item()
            .table_name(&self.table)
            .set_item(Some(token_item(kind, token)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .context("DynamoDB PutItem (OIDC token)")?;
        Ok(())
    }

    async fn grant_token(&self, kind: GrantTokenKind, hash: &TokenHash) -> anyhow::Result<Option<GrantToken>> {
        self.get(token_key(kind, hash)).await?.as_ref().map(token_from_item).transpose()
    }

    async fn rotate_refresh_token(&self, used: &TokenHash, next: &GrantToken, now: Timestamp) -> anyhow::Result<bool> {
        let mark = Update::builder()
            .table_name(&self.table)
            .set_key(Some(token_key(GrantTokenKind::Refresh, used)))
            .update_expression("SET used_at = :now")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(used_at)")
            .expression_attribute_values(":now", ts(now))
            .build()
            .context("building an update")?;
        let actions = vec![
            TransactWriteItem::builder().update(mark).build(),
            self.put_new(token_item(GrantTokenKind::Refresh, next))?,
        ];
        Ok(self.transact(actions).await?.is_none())
    }

    async fn revoke_family(&self, family: &str, until: Timestamp) -> anyhow::Result<()> {
        let mut item = family_key(family);
        item.insert("until".into(), ts(until));
        item.insert("ttl".into(), ts(until));
        self.client()
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .context("DynamoDB PutItem (revoked token family)")?;
        Ok(())
    }

    async fn family_revoked(&self, family: &str, now: Timestamp) -> anyhow::Result<bool> {
        match self.get(family_key(family)).await? {
            Some(item) => Ok(now <= get_ts(&item, "until")?),
            None => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_methods_round_trip_and_an_older_item_was_a_password() {
        let methods = vec![AuthMethod::Password, AuthMethod::RecoveryCode];
        let item = HashMap::from([("methods".to_owned(), methods_value(&methods))]);
        assert_eq!(methods_of(&item).unwrap(), methods);
        assert_eq!(methods_of(&HashMap::new()).unwrap(), vec![AuthMethod::Password]);
        let unknown = HashMap::from([("methods".to_owned(), AttributeValue::L(vec![s("telepathy")]))]);
        assert!(methods_of(&unknown).is_err(), "an unknown method fails loudly");
    }
}
