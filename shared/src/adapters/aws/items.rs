//! Item <-> record mapping for the single DynamoDB table. Keys:
//!
//! | item | pk | sk |
//! |---|---|---|
//! | user | `USER#<id>` | `USER` |
//! | email claim | `EMAIL#<lowercased email>` | `CLAIM` |
//! | username claim | `USERNAME#<lowercased username>` | `CLAIM` |
//! | emailed token (an email change's with its `address`) | `TOKEN#<sha256 hex>` | `TOKEN` |
//! | rate-limit slot | `SLOT#<key>` | `SLOT` |
//! | session | `SESSION#<sha256 hex>` | `SESSION` |
//! | known browser (device cookie) | `DEVICE#<sha256 hex>` | `DEVICE` |
//! | sign-in failure counter | `LOCKOUT#<key>` | `LOCKOUT` |
//! | operator action | `AUDIT#<user id>` | `<epoch seconds, 12 digits>#<uuidv7>` |
//! | row job (bulk registration, deletion) | `JOB#<job id>` | `JOB` |
//! | a job's idempotency key | `IDEMPOTENCY#<sha256 of operator and key>` | `IDEMPOTENCY` |
//! | a block's tally (its rows' counts) | `JOB#<job id>` | `TALLY#<block, 10 digits>` |
//! | job row outcome | `JOB#<job id>#<shard>` | `ROW#<row, 10 digits>` |
//! | copy of a skipped/failed row | `JOB#<job id>#<shard>` | `ERR#<row, 10 digits>` |
//! | a bulk row's sealed password until the row is settled | `JOB#<job id>#<shard>` | `PASSWORD#<row, 10 digits>` |
//! | reference from a user to an item of theirs | `USER#<id>` | `REF#<item pk>|<item sk>` |
//! | retirement record | `RETIRED#<hmac of the email>` | `RETIRED` |
//! | an account with the operator role | `OPERATORS` | `USER#<id>` |
//! | the site settings in force (issue 25) | `SETTINGS` | `CURRENT` |
//! | a saved version of the site settings | `SETTINGS` | `VERSION#<version, 12 digits>` |
//! | OpenID Connect: applications, codes, tokens | `OIDC...#...` | see `dynamodb/oidc.rs` |
//!
//! A row's shard is its block's number modulo 16 (`domain::shard_of`): a job's rows spread
//! over 16 partition keys, and concurrent workers (one block each) write to different ones.
//!
//! Index `feed` (`feed_pk`, `feed_sk`): audit entries by day and shard,
//! `AUDITFEED#<yyyy-mm-dd>#<shard of 8, from the entry's id>`, sorted like their own sort key:
//! the audit page and `GET /admin/v1/audit` query a day's eight partitions (and the day's
//! unsharded one, of entries written before the shards) and merge them.
//!
//! Indexes for finding learners (sparse: only the items that carry their keys are in them; the
//! user item carries them from its creation, see `user_index_attributes`):
//!
//! | index | partition | sort | query |
//! |---|---|---|---|
//! | `users_list` | `list_pk` = `USERS#<shard>` | `list_sk` = `<created, 12 digits>#<id>` | the list, newest first, created between two dates |
//! | `users_email` | `list_pk` | `email_lc` (the address, lower-cased) | addresses that start with ... (`begins_with`) |
//! | `users_username` | `list_pk` | `username_lc` (lower-cased) | usernames that start with ... |
//! | `locked` | `locked_pk` = `LOCKED` (on a sign-in counter) | `locked_sk` = `<locked until, 12 digits>#<counter>` | "Locked now" (`locked_sk` > now) |
//! | `jobs` | `jobs_pk` = `JOBS` (on a job) | `jobs_sk` = `<created, 12 digits>#<job id>` | "Past jobs", newest first |
//!
//! A user's shard (`domain::user_shard`, of 8) spreads a bulk import's index writes over eight
//! partitions; a page queries the eight and merges them in order. The filters of the list
//! (status, source, a second factor, the operator role, disabled) are filter expressions on
//! the user item's own attributes (`status`, `source`, `second_factor`, `operator`,
//! `disabled_at`); `second_factor` is written on the user item by whoever saves its factors.
//! The references let a deletion find every token, session and job row of a user without a
//! scan or an index: whoever writes such an item writes its reference in the same transaction.
//!
//! Items that expire carry `ttl` (epoch seconds); DynamoDB deletes them late, so readers check
//! the expiry themselves. A missing or mistyped field is an error, never a default.
//!
//! The attribute `operator` is the operator role of a user item, present only while granted
//! (absent reads as false), and no other item has an attribute of that name (jobs say
//! `requested_by`, audit entries `actor`, sessions `operator_session`; items written before are
//! read under their old names): so IAM can deny writing it to every function but the admin
//! function's (`dynamodb:Attributes` in `template.yaml`).

use crate::domain::{
    AuditEntry, Counts, DeviceRecord, Email, FullName, Idempotency, JobKind, JobStatus, MailRefusal, MailRefusalKind,
    PasswordHash, Retirement, RowJob, RowOutcome, RowResult, SessionRecord, Timestamp, TokenHash, TokenPurpose,
    TokenRecord, User, UserId, UserSource, UserStatus, Username, LEARNER_IDLE_SECONDS, OPERATOR_IDLE_SECONDS,
};
use anyhow::{anyhow, Context};
use aws_sdk_dynamodb::types::AttributeValue;
use sha2::Digest;
use std::collections::HashMap;

pub type Item = HashMap<String, AttributeValue>;

pub fn user_key(id: &UserId) -> Item {
    key(format!("USER#{id}"), "USER")
}

pub fn email_key(email_key: &str) -> Item {
    key(format!("EMAIL#{email_key}"), "CLAIM")
}

pub fn username_key(username_key: &str) -> Item {
    key(format!("USERNAME#{username_key}"), "CLAIM")
}

pub fn token_key(hash: &TokenHash) -> Item {
    key(format!("TOKEN#{}", hash.as_str()), "TOKEN")
}

pub fn slot_key(slot: &str) -> Item {
    key(format!("SLOT#{slot}"), "SLOT")
}

pub fn session_key(hash: &TokenHash) -> Item {
    key(format!("SESSION#{}", hash.as_str()), "SESSION")
}

pub fn device_key(hash: &TokenHash) -> Item {
    key(format!("DEVICE#{}", hash.as_str()), "DEVICE")
}

pub fn device_item(device: &DeviceRecord) -> Item {
    let mut item = device_key(&device.hash);
    item.insert("user_id".into(), s(device.user_id.as_str()));
    item.insert("auth_epoch".into(), AttributeValue::N(device.auth_epoch.to_string()));
    item.insert("created_at".into(), ts(device.created_at));
    item.insert("expires_at".into(), ts(device.expires_at));
    item.insert("ttl".into(), ts(device.expires_at));
    item
}

/// `None` for a device stored before devices carried an epoch: it is an unknown browser now
/// (its account may have had its password reset since).
pub fn device_from_item(item: &Item) -> anyhow::Result<Option<DeviceRecord>> {
    let pk = get_s(item, "pk")?;
    let hash = pk.strip_prefix("DEVICE#").context("device item pk has no DEVICE# prefix")?;
    if !item.contains_key("auth_epoch") {
        return Ok(None);
    }
    Ok(Some(DeviceRecord {
        hash: TokenHash::from_stored(hash.to_owned()),
        user_id: UserId::parse(get_s(item, "user_id")?).context("device user_id is not a UUID")?,
        auth_epoch: get_u64(item, "auth_epoch")?,
        created_at: get_ts(item, "created_at")?,
        expires_at: get_ts(item, "expires_at")?,
    }))
}

pub fn lockout_key(counter: &str) -> Item {
    key(format!("LOCKOUT#{counter}"), "LOCKOUT")
}

pub fn job_key(id: &str) -> Item {
    key(format!("JOB#{id}"), "JOB")
}

/// The partition key of a job's rows in the row's shard.
pub fn rows_pk(id: &str, row: u64) -> String {
    format!("JOB#{id}#{}", crate::domain::shard_of(row))
}

/// A bulk row's password until the row is settled (never in a queue message).
pub fn kept_password_key(id: &str, row: u64) -> Item {
    key(rows_pk(id, row), &format!("PASSWORD#{row:010}"))
}

/// `sealed`: the password as the `Sealer` sealed it, never the password itself.
pub fn kept_password_item(id: &str, row: u64, sealed: &str, expires_at: Timestamp) -> Item {
    let mut item = kept_password_key(id, row);
    item.insert("sealed_password".into(), s(sealed));
    item.insert("expires_at".into(), ts(expires_at));
    item.insert("ttl".into(), ts(expires_at));
    item
}

pub fn job_row_key(id: &str, row: u64) -> Item {
    key(rows_pk(id, row), &format!("ROW#{row:010}"))
}

pub fn idempotency_key(key_hash: &str) -> Item {
    key(format!("IDEMPOTENCY#{key_hash}"), "IDEMPOTENCY")
}

pub fn idempotency_item(job: &RowJob, idempotency: &Idempotency) -> Item {
    let mut item = idempotency_key(&idempotency.key);
    item.insert("job_id".into(), s(&job.id));
    item.insert("ttl".into(), ts(job.rows_expire_at()));
    item
}

pub fn tally_key(id: &str, block: u64) -> Item {
    key(format!("JOB#{id}"), &format!("TALLY#{block:010}"))
}

pub fn tally_item(job: &RowJob, block: u64, counts: &Counts) -> Item {
    let mut item = tally_key(&job.id, block);
    for (name, value) in [
        ("created", counts.done),
        ("skipped", counts.skipped),
        ("failed", counts.failed),
        ("settled", counts.settled()),
    ] {
        item.insert(name.into(), n(value as i64));
    }
    item.insert("ttl".into(), ts(job.rows_expire_at()));
    item
}

pub fn tally_from_item(item: &Item) -> anyhow::Result<Counts> {
    Ok(Counts { done: get_u64(item, "created")?, skipped: get_u64(item, "skipped")?, failed: get_u64(item, "failed")? })
}

pub fn job_item(job: &RowJob) -> Item {
    let mut item = job_key(&job.id);
    item.insert("job_id".into(), s(&job.id));
    item.insert("kind".into(), s(job.kind.as_str()));
    item.insert("requested_by".into(), s(&job.operator));
    item.insert("created_at".into(), ts(job.created_at));
    item.insert("jobs_pk".into(), s("JOBS"));
    item.insert("jobs_sk".into(), s(&jobs_sk(job)));
    item.insert("status".into(), s(job.status.as_str()));
    item.insert("total".into(), n(job.total as i64));
    // The final counts, once the job is seen completed (names of their own: jobs written
    // before the pipeline kept a running count in `created`, `skipped`, `failed`).
    if let Some(counts) = &job.final_counts {
        for (name, value) in
            [("final_done", counts.done), ("final_skipped", counts.skipped), ("final_failed", counts.failed)]
        {
            item.insert(name.into(), n(value as i64));
        }
    }
    if let Some(idempotency) = &job.idempotency {
        item.insert("idempotency_key".into(), s(&idempotency.key));
        item.insert("body_sha256".into(), s(&idempotency.body_sha256));
    }
    if job.invite {
        item.insert("invite".into(), AttributeValue::Bool(true));
    }
    item.insert("ttl".into(), ts(job.rows_expire_at()));
    item
}

pub fn job_from_item(item: &Item) -> anyhow::Result<RowJob> {
    let idempotency = match (opt_s(item, "idempotency_key")?, opt_s(item, "body_sha256")?) {
        (Some(key), Some(body)) => Some(Idempotency { key: key.to_owned(), body_sha256: body.to_owned() }),
        _ => None,
    };
    Ok(RowJob {
        id: get_s(item, "job_id")?.to_owned(),
        kind: JobKind::parse(get_s(item, "kind")?).context("unknown job kind")?,
        operator: renamed_s(item, "requested_by", "operator")?.to_owned(),
        created_at: get_ts(item, "created_at")?,
        status: JobStatus::parse(get_s(item, "status")?).context("unknown job status")?,
        total: get_u64(item, "total")?,
        final_counts: match item.contains_key("final_done") {
            true => Some(Counts {
                done: get_u64(item, "final_done")?,
                skipped: get_u64(item, "final_skipped")?,
                failed: get_u64(item, "final_failed")?,
            }),
            false => None,
        },
        idempotency,
        invite: opt_bool(item, "invite")?,
    })
}

/// The index of job rows by the address they hold (`email_sha`, the SHA-256 of the address as
/// written, trimmed and lower-cased): a deletion finds and scrubs every row naming the account,
/// refused ones included, whenever they were written.
pub const ROWS_BY_EMAIL_INDEX: &str = "rows_by_email";

pub fn row_email_sha(raw_email: &str) -> Option<String> {
    let email = raw_email.trim().to_ascii_lowercase();
    (!email.is_empty() && email != crate::domain::DELETED_EMAIL)
        .then(|| sha2::Sha256::digest(email.as_bytes()).iter().map(|b| format!("{b:02x}")).collect())
}

/// A settled row: its result under its kind's own name (`created`, `deleted`, ...).
pub fn row_item(kind: JobKind, job_id: &str, outcome: &RowOutcome, expires: Timestamp) -> Item {
    let mut item = job_row_key(job_id, outcome.row);
    item.insert("row".into(), AttributeValue::N(outcome.row.to_string()));
    item.insert("email".into(), s(&outcome.email));
    if let Some(sha) = row_email_sha(&outcome.email) {
        item.insert("email_sha".into(), s(&sha));
    }
    item.insert("result".into(), s(kind.outcome_name(outcome.result)));
    item.insert("code".into(), s(&outcome.code));
    item.insert("message".into(), s(&outcome.message));
    if let Some(id) = &outcome.user_id {
        item.insert("user_id".into(), s(id.as_str()));
    }
    item.insert("ttl".into(), ts(expires));
    item
}

/// The copy of a skipped or failed row, listed without reading the created ones.
pub fn problem_item(kind: JobKind, job_id: &str, outcome: &RowOutcome, expires: Timestamp) -> Item {
    let mut item = row_item(kind, job_id, outcome, expires);
    item.insert("sk".into(), s(&format!("ERR#{:010}", outcome.row)));
    item
}

pub fn row_from_item(item: &Item) -> anyhow::Result<RowOutcome> {
    Ok(RowOutcome {
        row: get_u64(item, "row")?,
        email: get_s(item, "email")?.to_owned(),
        result: RowResult::parse(get_s(item, "result")?).context("unknown row result")?,
        code: get_s(item, "code")?.to_owned(),
        message: get_s(item, "message")?.to_owned(),
        user_id: opt_s(item, "user_id")?.and_then(UserId::parse),
    })
}

/// What a deletion does to a referenced item.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RefAction {
    Delete,
    /// Job rows stay (their counts are the job's history), without the address.
    Scrub,
}

pub fn ref_item(user_id: &UserId, target: &Item, action: RefAction, expires: Timestamp) -> Item {
    let target_pk = target.get("pk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
    let target_sk = target.get("sk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
    let mut item = key(format!("USER#{user_id}"), &format!("REF#{target_pk}|{target_sk}"));
    item.insert("target_pk".into(), s(&target_pk));
    item.insert("target_sk".into(), s(&target_sk));
    item.insert("action".into(), s(if action == RefAction::Delete { "delete" } else { "scrub" }));
    item.insert("ttl".into(), ts(expires));
    item
}

pub fn retirement_item(retirement: &Retirement) -> Item {
    let mut item = key(format!("RETIRED#{}", retirement.email_hmac), "RETIRED");
    item.insert("user_id".into(), s(retirement.user_id.as_str()));
    item.insert("retired_at".into(), ts(retirement.retired_at));
    item.insert("requested_by".into(), s(&retirement.requested_by));
    item
}

pub fn retirement_from_item(item: &Item) -> anyhow::Result<Retirement> {
    let pk = get_s(item, "pk")?;
    Ok(Retirement {
        email_hmac: pk.strip_prefix("RETIRED#").context("retirement pk has no RETIRED# prefix")?.to_owned(),
        user_id: UserId::parse(get_s(item, "user_id")?).context("retirement user_id is not a UUID")?,
        retired_at: get_ts(item, "retired_at")?,
        requested_by: get_s(item, "requested_by")?.to_owned(),
    })
}

pub fn retirement_key(email_hmac: &str) -> Item {
    key(format!("RETIRED#{email_hmac}"), "RETIRED")
}

pub fn audit_pk(user_id: &UserId) -> String {
    format!("AUDIT#{user_id}")
}

/// The index of operator actions across accounts: `FEED_SHARDS` partitions a day (UTC), newest
/// last by its sort key.
pub const FEED_INDEX: &str = "feed";

/// How many partitions a day's audit entries spread over. One partition takes 1,000 writes a
/// second, and every bulk row, deletion and look-up writes an entry: eight take 8,000 a second,
/// above what the table's warm throughput lets the row jobs reach (`tests/suite/deploy.rs`),
/// as the user indexes' eight do (`USER_SHARDS`); a page reads eight partitions a day, so more
/// would cost reads for writes no deployment makes.
pub const FEED_SHARDS: u64 = 8;

/// `AUDITFEED#<yyyy-mm-dd>`: the day of `at` (UTC).
fn feed_day(at: Timestamp) -> String {
    let day = at.to_rfc3339();
    format!("AUDITFEED#{}", &day[..day.find('T').unwrap_or(day.len())])
}

/// `AUDITFEED#<yyyy-mm-dd>#<shard>`: the entry's day and its shard, from its id (FNV-1a, stable
/// across builds), so one day's writes spread evenly.
pub fn feed_pk(entry: &AuditEntry) -> String {
    let hash =
        entry.id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    format!("{}#{}", feed_day(entry.at), hash % FEED_SHARDS)
}

/// Every partition of the day of `at`: its shards, and the unsharded one entries written before
/// the shards went to (`AUDITFEED#<yyyy-mm-dd>`).
pub fn feed_partitions(at: Timestamp) -> Vec<String> {
    let day = feed_day(at);
    let mut partitions: Vec<String> = (0..FEED_SHARDS).map(|shard| format!("{day}#{shard}")).collect();
    partitions.push(day);
    partitions
}

pub fn audit_item(entry: &AuditEntry) -> Item {
    let sort = entry.sort_key();
    let mut item = key(audit_pk(&entry.user_id), &sort);
    item.insert("feed_pk".into(), s(&feed_pk(entry)));
    item.insert("feed_sk".into(), s(&sort));
    item.insert("id".into(), s(&entry.id));
    item.insert("at".into(), ts(entry.at));
    item.insert("actor".into(), s(&entry.operator));
    item.insert("action".into(), s(&entry.action));
    item.insert("user_id".into(), s(entry.user_id.as_str()));
    item.insert("outcome".into(), s(&entry.outcome));
    item
}

pub fn audit_from_item(item: &Item) -> anyhow::Result<AuditEntry> {
    Ok(AuditEntry {
        id: get_s(item, "id")?.to_owned(),
        at: get_ts(item, "at")?,
        operator: renamed_s(item, "actor", "operator")?.to_owned(),
        action: get_s(item, "action")?.to_owned(),
        user_id: UserId::parse(get_s(item, "user_id")?).context("audit user_id is not a UUID")?,
        outcome: get_s(item, "outcome")?.to_owned(),
    })
}

pub fn operator_key(user_id: &UserId) -> Item {
    key("OPERATORS".to_owned(), &format!("USER#{user_id}"))
}

/// An account's second factors: one item in its partition, the record as JSON beside its
/// version (the condition of the next save).
pub fn second_factors_key(user_id: &UserId) -> Item {
    key(format!("USER#{user_id}"), "FACTORS")
}

pub fn second_factors_item(user_id: &UserId, factors: &crate::domain::SecondFactors) -> anyhow::Result<Item> {
    let mut item = second_factors_key(user_id);
    item.insert("user_id".into(), s(user_id.as_str()));
    item.insert("version".into(), n(i64::try_from(factors.version).context("factors version is out of range")?));
    item.insert("factors".into(), s(&serde_json::to_string(factors).context("encoding second factors")?));
    Ok(item)
}

pub fn second_factors_from_item(item: &Item) -> anyhow::Result<crate::domain::SecondFactors> {
    let factors: crate::domain::SecondFactors =
        serde_json::from_str(get_s(item, "factors")?).context("decoding second factors")?;
    anyhow::ensure!(factors.version == get_u64(item, "version")?, "second factors item: two versions");
    Ok(factors)
}

/// The settings in force (`version` 0 is never stored: it is the stack's parameters).
pub fn settings_key() -> Item {
    key("SETTINGS".to_owned(), "CURRENT")
}

/// A saved version of the settings, kept for "Restore".
pub fn settings_version_key(version: u64) -> Item {
    key("SETTINGS".to_owned(), &format!("VERSION#{version:012}"))
}

/// The settings as an item under `key`: the version, who saved it and when, the values as JSON.
pub fn settings_item(key: Item, stored: &crate::domain::StoredSettings) -> anyhow::Result<Item> {
    let mut item = key;
    item.insert("version".into(), n(i64::try_from(stored.version).context("settings version is out of range")?));
    item.insert("saved_by".into(), s(&stored.saved_by));
    item.insert("saved_at".into(), ts(stored.saved_at));
    item.insert("settings".into(), s(&serde_json::to_string(&stored.settings).context("encoding settings")?));
    Ok(item)
}

pub fn settings_from_item(item: &Item) -> anyhow::Result<crate::domain::StoredSettings> {
    Ok(crate::domain::StoredSettings {
        version: get_u64(item, "version")?,
        saved_by: get_s(item, "saved_by")?.to_owned(),
        saved_at: get_ts(item, "saved_at")?,
        settings: serde_json::from_str(get_s(item, "settings")?).context("decoding settings")?,
    })
}

pub fn challenge_key(hash: &TokenHash) -> Item {
    key(format!("CHALLENGE#{}", hash.as_str()), "CHALLENGE")
}

pub fn challenge_item(challenge: &crate::domain::Challenge) -> Item {
    let mut item = challenge_key(&challenge.hash);
    item.insert("purpose".into(), s(challenge.purpose.as_str()));
    if let Some(user_id) = &challenge.user_id {
        item.insert("user_id".into(), s(user_id.as_str()));
    }
    item.insert("state".into(), s(&challenge.state));
    item.insert("expires_at".into(), ts(challenge.expires_at));
    item.insert("ttl".into(), ts(challenge.expires_at));
    item
}

pub fn challenge_from_item(item: &Item) -> anyhow::Result<crate::domain::Challenge> {
    let pk = get_s(item, "pk")?;
    let hash = pk.strip_prefix("CHALLENGE#").context("challenge item pk has no CHALLENGE# prefix")?;
    let purpose = get_s(item, "purpose")?;
    Ok(crate::domain::Challenge {
        hash: TokenHash::from_stored(hash.to_owned()),
        purpose: crate::domain::ChallengePurpose::parse(purpose)
            .with_context(|| format!("unknown challenge purpose {purpose:?}"))?,
        user_id: opt_s(item, "user_id")?
            .map(|id| UserId::parse(id).context("challenge user_id is not a UUID"))
            .transpose()?,
        state: get_s(item, "state")?.to_owned(),
        expires_at: get_ts(item, "expires_at")?,
    })
}

pub fn session_item(session: &SessionRecord) -> Item {
    let mut item = session_key(&session.hash);
    item.insert("user_id".into(), s(session.user_id.as_str()));
    item.insert("auth_epoch".into(), AttributeValue::N(session.auth_epoch.to_string()));
    item.insert("created_at".into(), ts(session.created_at));
    item.insert("expires_at".into(), ts(session.expires_at));
    item.insert("ttl".into(), ts(session.expires_at));
    item.insert("operator_session".into(), AttributeValue::Bool(session.operator));
    item.insert("last_seen_at".into(), ts(session.last_seen_at));
    item.insert("password_at".into(), ts(session.password_at));
    item.insert("idle_seconds".into(), n(session.idle_seconds));
    let methods = session.methods.iter().map(|m| s(m.as_str())).collect();
    item.insert("methods".into(), AttributeValue::L(methods));
    if !session.browser.is_empty() {
        item.insert("browser".into(), s(&session.browser));
    }
    item
}

/// A session's sign-in methods; a session stored before they were has `[Password]`.
fn session_methods(item: &Item) -> anyhow::Result<Vec<crate::domain::AuthMethod>> {
    let Some(value) = item.get("methods") else {
        return Ok(vec![crate::domain::AuthMethod::Password]);
    };
    let list = value.as_l().map_err(|_| anyhow::anyhow!("session methods is not a list"))?;
    list.iter()
        .map(|v| {
            let name = v.as_s().map_err(|_| anyhow::anyhow!("a session method is not a string"))?;
            crate::domain::AuthMethod::parse(name).with_context(|| format!("unknown session method {name:?}"))
        })
        .collect()
}

pub fn session_from_item(item: &Item) -> anyhow::Result<SessionRecord> {
    let pk = get_s(item, "pk")?;
    let hash = pk.strip_prefix("SESSION#").context("session item pk has no SESSION# prefix")?;
    let created_at = get_ts(item, "created_at")?;
    let operator = opt_bool(item, "operator_session")? || opt_bool(item, "operator")?;
    let idle_default = if operator { OPERATOR_IDLE_SECONDS } else { LEARNER_IDLE_SECONDS };
    Ok(SessionRecord {
        hash: TokenHash::from_stored(hash.to_owned()),
        user_id: UserId::parse(get_s(item, "user_id")?).context("session user_id is not a UUID")?,
        auth_epoch: get_u64(item, "auth_epoch")?,
        created_at,
        expires_at: get_ts(item, "expires_at")?,
        // Sessions begun before these fields existed: a learner's, last seen when it began.
        operator,
        last_seen_at: opt_ts(item, "last_seen_at")?.unwrap_or(created_at),
        password_at: opt_ts(item, "password_at")?.unwrap_or(created_at),
        // Sessions begun before idle limits were stored: the default of their kind.
        idle_seconds: match item.contains_key("idle_seconds") {
            true => i64::try_from(get_u64(item, "idle_seconds")?).context("idle_seconds is out of range")?,
            false => idle_default,
        },
        methods: session_methods(item)?,
        // Sessions begun before the browser was recorded: an unknown browser.
        browser: opt_s(item, "browser")?.unwrap_or_default().to_owned(),
    })
}

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("pk".to_owned(), AttributeValue::S(pk)), ("sk".to_owned(), AttributeValue::S(sk.to_owned()))])
}

pub fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

pub fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub fn ts(value: Timestamp) -> AttributeValue {
    n(value.unix())
}

pub const USERS_LIST_INDEX: &str = "users_list";
pub const USERS_EMAIL_INDEX: &str = "users_email";
pub const USERS_USERNAME_INDEX: &str = "users_username";
pub const LOCKED_INDEX: &str = "locked";
pub const JOBS_INDEX: &str = "jobs";

/// The indexes that find learners, locks and jobs: (name, partition key, sort key), each
/// projecting every attribute.
pub const FINDING_INDEXES: [(&str, &str, &str); 5] = [
    (USERS_LIST_INDEX, "list_pk", "list_sk"),
    (USERS_EMAIL_INDEX, "list_pk", "email_lc"),
    (USERS_USERNAME_INDEX, "list_pk", "username_lc"),
    (LOCKED_INDEX, "locked_pk", "locked_sk"),
    (JOBS_INDEX, "jobs_pk", "jobs_sk"),
];

/// The partition of a user in the user indexes.
pub fn list_pk(id: &UserId) -> String {
    format!("USERS#{}", crate::domain::user_shard(id))
}

/// Every partition of the user indexes, for a query that reads them all.
pub fn list_partitions() -> Vec<String> {
    (0..crate::domain::USER_SHARDS).map(|shard| format!("USERS#{shard}")).collect()
}

/// The attributes that put a user in the user indexes (written with the item; an update that
/// changes the address or the username writes `email_lc` or `username_lc` with it).
pub fn user_index_attributes(user: &User) -> [(&'static str, AttributeValue); 4] {
    [
        ("list_pk", s(&list_pk(&user.id))),
        ("list_sk", s(&crate::domain::Cursor::created_key(user.created_at, &user.id))),
        ("email_lc", s(&user.email.key())),
        ("username_lc", s(&user.username.key())),
    ]
}

/// The sort key of a lock in the `locked` index.
pub fn locked_sk(until: Timestamp, counter: &str) -> String {
    format!("{:012}#{counter}", until.unix().max(0))
}

pub fn jobs_sk(job: &RowJob) -> String {
    format!("{:012}#{}", job.created_at.unix().max(0), job.id)
}

pub fn user_item(user: &User) -> Item {
    let mut item = user_key(&user.id);
    for (name, value) in user_index_attributes(user) {
        item.insert(name.into(), value);
    }
    item.insert("user_id".into(), s(user.id.as_str()));
    item.insert("email".into(), s(user.email.as_ref()));
    item.insert("username".into(), s(user.username.as_ref()));
    item.insert("name".into(), s(user.name.as_ref()));
    item.insert("status".into(), s(user.status.as_str()));
    item.insert("created_at".into(), ts(user.created_at));
    item.insert("source".into(), s(user.source.as_str()));
    item.insert("auth_epoch".into(), AttributeValue::N(user.auth_epoch.to_string()));
    if let Some(hash) = &user.password_hash {
        item.insert("password_hash".into(), s(hash.as_str()));
    }
    if let Some(at) = user.activated_at {
        item.insert("activated_at".into(), ts(at));
    }
    if let Some(at) = user.terms_accepted_at {
        item.insert("terms_accepted_at".into(), ts(at));
    }
    if let Some(version) = &user.terms_version {
        item.insert("terms_version".into(), s(version));
    }
    if user.operator {
        item.insert("operator".into(), AttributeValue::Bool(true));
    }
    if user.support {
        item.insert("support".into(), AttributeValue::Bool(true));
    }
    if let Some(refusal) = &user.mail_refused {
        item.insert("mail_refused".into(), mail_refusal(refusal));
    }
    if let Some(at) = user.disabled_at {
        item.insert("disabled_at".into(), ts(at));
    }
    item
}

/// A `MailRefusal` as one map attribute (`kind`, `address`, `at`).
pub fn mail_refusal(refusal: &MailRefusal) -> AttributeValue {
    AttributeValue::M(Item::from([
        ("kind".into(), s(refusal.kind.as_str())),
        ("address".into(), s(&refusal.address)),
        ("at".into(), ts(refusal.at)),
    ]))
}

fn mail_refusal_from(item: &Item) -> anyhow::Result<Option<MailRefusal>> {
    let Some(value) = item.get("mail_refused") else {
        return Ok(None);
    };
    let map = value.as_m().map_err(|_| anyhow!("mail_refused is not a map"))?;
    Ok(Some(MailRefusal {
        kind: MailRefusalKind::parse(get_s(map, "kind")?).context("unknown mail refusal kind")?,
        address: get_s(map, "address")?.to_owned(),
        at: get_ts(map, "at")?,
    }))
}

pub fn claim_item(key: Item, user_id: &UserId) -> Item {
    let mut item = key;
    item.insert("user_id".into(), s(user_id.as_str()));
    item
}

pub fn token_item(token: &TokenRecord) -> Item {
    let mut item = token_key(&token.hash);
    item.insert("purpose".into(), s(token.purpose.as_str()));
    item.insert("user_id".into(), s(token.user_id.as_str()));
    item.insert("created_at".into(), ts(token.created_at));
    item.insert("expires_at".into(), ts(token.expires_at));
    item.insert("ttl".into(), ts(token.expires_at));
    item.insert("auth_epoch".into(), AttributeValue::N(token.auth_epoch.to_string()));
    if let Some(at) = token.used_at {
        item.insert("used_at".into(), ts(at));
    }
    if let Some(address) = &token.address {
        item.insert("address".into(), s(address.as_ref()));
    }
    item
}

pub fn user_from_item(item: &Item) -> anyhow::Result<User> {
    let email = get_s(item, "email")?;
    let username = get_s(item, "username")?;
    let name = get_s(item, "name")?;
    Ok(User {
        id: UserId::parse(get_s(item, "user_id")?).context("user_id is not a UUID")?,
        email: Email::parse(email).map_err(|e| anyhow!("stored email is invalid: {e}"))?,
        username: Username::parse(username).map_err(|e| anyhow!("stored username is invalid: {e}"))?,
        name: FullName::parse(name).map_err(|e| anyhow!("stored name is invalid: {e}"))?,
        password_hash: opt_s(item, "password_hash")?.map(|h| PasswordHash::from_phc(h.to_owned())),
        status: UserStatus::parse(get_s(item, "status")?).context("unknown user status")?,
        created_at: get_ts(item, "created_at")?,
        activated_at: opt_ts(item, "activated_at")?,
        terms_accepted_at: opt_ts(item, "terms_accepted_at")?,
        // Absent on items written before versions were recorded.
        terms_version: opt_s(item, "terms_version")?.map(str::to_owned),
        source: UserSource::parse(get_s(item, "source")?).context("unknown user source")?,
        auth_epoch: get_u64(item, "auth_epoch")?,
        operator: opt_bool(item, "operator")?,
        mail_refused: mail_refusal_from(item)?,
        support: opt_bool(item, "support")?,
        disabled_at: opt_ts(item, "disabled_at")?,
    })
}

pub fn token_from_item(item: &Item) -> anyhow::Result<TokenRecord> {
    let pk = get_s(item, "pk")?;
    let hash = pk.strip_prefix("TOKEN#").context("token item pk has no TOKEN# prefix")?;
    Ok(TokenRecord {
        hash: TokenHash::from_stored(hash.to_owned()),
        purpose: TokenPurpose::parse(get_s(item, "purpose")?).context("unknown token purpose")?,
        user_id: UserId::parse(get_s(item, "user_id")?).context("token user_id is not a UUID")?,
        created_at: get_ts(item, "created_at")?,
        expires_at: get_ts(item, "expires_at")?,
        used_at: opt_ts(item, "used_at")?,
        auth_epoch: get_u64(item, "auth_epoch")?,
        address: opt_s(item, "address")?
            .map(|address| Email::parse(address).map_err(|e| anyhow!("stored token address is invalid: {e}")))
            .transpose()?,
    })
}

pub fn get_s<'a>(item: &'a Item, name: &str) -> anyhow::Result<&'a str> {
    opt_s(item, name)?.with_context(|| format!("item has no attribute {name}"))
}

pub fn opt_s<'a>(item: &'a Item, name: &str) -> anyhow::Result<Option<&'a str>> {
    match item.get(name) {
        None => Ok(None),
        Some(AttributeValue::S(value)) => Ok(Some(value)),
        Some(_) => Err(anyhow!("attribute {name} is not a string")),
    }
}

/// A flag that is false when absent (written only when true).
/// A string attribute under its name, or under the name it had before (items written earlier).
fn renamed_s<'a>(item: &'a Item, name: &str, before: &str) -> anyhow::Result<&'a str> {
    match opt_s(item, name)? {
        Some(value) => Ok(value),
        None => get_s(item, before).with_context(|| format!("attribute {name} is missing")),
    }
}

pub fn opt_bool(item: &Item, name: &str) -> anyhow::Result<bool> {
    match item.get(name) {
        None => Ok(false),
        Some(AttributeValue::Bool(value)) => Ok(*value),
        Some(_) => Err(anyhow!("attribute {name} is not a boolean")),
    }
}

pub fn get_u64(item: &Item, name: &str) -> anyhow::Result<u64> {
    match item.get(name) {
        Some(AttributeValue::N(value)) => {
            value.parse().with_context(|| format!("attribute {name} is not a whole number"))
        }
        Some(_) => Err(anyhow!("attribute {name} is not a number")),
        None => Err(anyhow!("item has no attribute {name}")),
    }
}

pub fn get_ts(item: &Item, name: &str) -> anyhow::Result<Timestamp> {
    opt_ts(item, name)?.with_context(|| format!("item has no attribute {name}"))
}

pub fn opt_ts(item: &Item, name: &str) -> anyhow::Result<Option<Timestamp>> {
    match item.get(name) {
        None => Ok(None),
        Some(AttributeValue::N(value)) => {
            let seconds: i64 = value.parse().with_context(|| format!("attribute {name} is not a whole number"))?;
            Ok(Some(Timestamp::from_unix(seconds)))
        }
        Some(_) => Err(anyhow!("attribute {name} is not a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows are stored under their kind's own names: a deletion row `deleted` or `not_found`, a
    /// bulk row `created` or `skipped` (and a deletion row stored as `created` before still
    /// reads as done).
    #[test]
    fn rows_are_stored_under_their_kinds_names() {
        use crate::domain::{JobKind, RowOutcome, RowResult, Timestamp};
        let expires = Timestamp::from_unix(1_900_000_000);
        for (kind, result, stored) in [
            (JobKind::BulkRegistration, RowResult::Done, "created"),
            (JobKind::BulkRegistration, RowResult::Skipped, "skipped"),
            (JobKind::Deletion, RowResult::Done, "deleted"),
            (JobKind::Deletion, RowResult::Skipped, "not_found"),
            (JobKind::Deletion, RowResult::Failed, "failed"),
        ] {
            let outcome = RowOutcome::new(2, "", result, "code", "");
            let item = row_item(kind, "job", &outcome, expires);
            assert_eq!(item["result"].as_s().unwrap(), stored, "{kind:?} {result:?}");
            assert_eq!(row_from_item(&item).unwrap().result, result);
        }
        let done = RowOutcome::new(3, "", RowResult::Done, "deleted", "");
        let mut legacy = row_item(JobKind::Deletion, "job", &done, expires);
        legacy.insert("result".into(), AttributeValue::S("created".into()));
        assert_eq!(row_from_item(&legacy).unwrap().result, RowResult::Done);
    }

    fn user() -> User {
        User {
            id: UserId::generate(),
            email: Email::parse("Ada@example.com").unwrap(),
            username: Username::parse("ada").unwrap(),
            name: FullName::parse("Ada Lovelace").unwrap(),
            password_hash: Some(PasswordHash::from_phc("$argon2id$v=19$m=19456,t=2,p=1$x$y".into())),
            status: UserStatus::PendingActivation,
            created_at: Timestamp::from_unix(100),
            activated_at: None,
            terms_accepted_at: Some(Timestamp::from_unix(100)),
            terms_version: Some("2026-01".into()),
            source: UserSource::SelfService,
            auth_epoch: 3,
            operator: true,
            mail_refused: Some(MailRefusal {
                kind: MailRefusalKind::Complaint,
                address: "Ada@example.com".into(),
                at: Timestamp::from_unix(200),
            }),
            support: true,
            disabled_at: Some(Timestamp::from_unix(300)),
        }
    }

    #[test]
    fn users_round_trip() {
        let user = user();
        assert_eq!(user_from_item(&user_item(&user)).unwrap(), user);
    }

    #[test]
    fn a_user_item_from_before_terms_versions_reads_as_none() {
        let mut item = user_item(&user());
        assert_eq!(item.get("terms_version"), Some(&s("2026-01")));
        item.remove("terms_version");
        assert_eq!(user_from_item(&item).unwrap().terms_version, None);
    }

    #[test]
    fn a_missing_field_fails_loudly() {
        let mut item = user_item(&user());
        item.remove("status");
        assert!(user_from_item(&item).unwrap_err().to_string().contains("status"));
    }

    /// `operator` (the role) is on a user item only while granted, and on no other kind of
    /// item, so the template can deny writing it to every function but the admin function's;
    /// jobs, audit entries and sessions written before the renames still read.
    #[test]
    fn only_a_user_with_the_role_carries_the_operator_attribute() {
        use crate::domain::{AuditEntry, JobKind, JobStatus, RowJob, TokenHash};
        let with_role = user();
        let item = user_item(&with_role);
        assert_eq!(item.get("operator"), Some(&AttributeValue::Bool(true)));
        assert!(user_from_item(&item).unwrap().operator);
        let without = User { operator: false, ..user() };
        let item = user_item(&without);
        assert!(!item.contains_key("operator"), "{item:?}");
        assert!(!user_from_item(&item).unwrap().operator, "absent reads as false");

        let at = Timestamp::from_unix(100);
        let job = RowJob {
            id: "job".into(),
            kind: JobKind::BulkRegistration,
            operator: "arn:aws:iam::1:user/ops".into(),
            created_at: at,
            status: JobStatus::Queued,
            total: 1,
            final_counts: None,
            idempotency: None,
            invite: false,
        };
        let entry = AuditEntry::new(at, "arn:aws:iam::1:user/ops", "unlock", &without.id, "done");
        // A session read from an item (the record's fields grow; its stored form is what counts).
        let mut stored = session_key(&TokenHash::from_stored("ab".repeat(32)));
        stored.insert("user_id".into(), s(with_role.id.as_str()));
        stored.insert("auth_epoch".into(), AttributeValue::N("0".into()));
        stored.insert("created_at".into(), ts(at));
        stored.insert("expires_at".into(), ts(Timestamp::from_unix(200)));
        stored.insert("operator_session".into(), AttributeValue::Bool(true));
        let session = session_from_item(&stored).unwrap();
        assert!(session.operator);
        // Stored before the browser's name was: an unknown browser; a name round-trips.
        assert_eq!((session.browser.as_str(), session.browser_label()), ("", crate::domain::UNKNOWN_BROWSER));
        let named = SessionRecord { browser: "Firefox on Linux".into(), ..session.clone() };
        assert_eq!(session_from_item(&session_item(&named)).unwrap(), named);
        let (mut job_item, mut audit_item, mut session_item) =
            (job_item(&job), audit_item(&entry), session_item(&session));
        for item in [&job_item, &audit_item, &session_item] {
            assert!(!item.contains_key("operator"), "{item:?}");
        }
        assert_eq!(job_from_item(&job_item).unwrap().operator, job.operator);
        assert_eq!(audit_from_item(&audit_item).unwrap().operator, entry.operator);
        assert!(session_from_item(&session_item).unwrap().operator);
        // Written before the renames.
        let old = |item: &mut Item, from: &str| {
            let value = item.remove(from).unwrap();
            item.insert("operator".into(), value);
        };
        old(&mut job_item, "requested_by");
        old(&mut audit_item, "actor");
        old(&mut session_item, "operator_session");
        assert_eq!(job_from_item(&job_item).unwrap().operator, job.operator);
        assert_eq!(audit_from_item(&audit_item).unwrap().operator, entry.operator);
        assert!(session_from_item(&session_item).unwrap().operator);
    }
}
