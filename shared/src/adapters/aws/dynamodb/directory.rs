//! Finding learners and jobs on DynamoDB: the user indexes (`users_list`, `users_email`,
//! `users_username`, eight partitions each), the `locked` index of sign-in counters and the
//! `jobs` index (key schema in `items.rs`). Every read here is a Query on an index: never a Scan.

use super::index::{Filter, IndexRange};
use super::DynamoStore;
use crate::adapters::aws::items::{self};
use crate::domain::{Cursor, RowJob, StatusFilter, Timestamp, User, UserId, UserPage, UserQuery, UserStatus};
use anyhow::Context;
use aws_sdk_dynamodb::types::AttributeValue;

/// Above every character an address or a username holds: the end of a prefix's range.
const PREFIX_END: char = '\u{10FFFF}';

/// The filter expression of a query's status and source (and its dates, where the index is not
/// sorted by them).
fn user_filter(query: &UserQuery, dates: bool) -> anyhow::Result<Filter> {
    let mut filter = Filter::default();
    match query.status {
        None => {}
        Some(StatusFilter::Pending) | Some(StatusFilter::Active) => {
            let status = match query.status {
                Some(StatusFilter::Pending) => UserStatus::PendingActivation,
                _ => UserStatus::Active,
            };
            filter
                .and("#status = :status AND attribute_not_exists(disabled_at)")
                .name("#status", "status")
                .value(":status", items::s(status.as_str()));
        }
        Some(StatusFilter::Disabled) => {
            filter.and("attribute_exists(disabled_at)");
        }
        Some(StatusFilter::SecondFactor) => {
            filter.and("second_factor = :yes").value(":yes", AttributeValue::Bool(true));
        }
        Some(StatusFilter::Operator) => {
            filter.and("#role = :yes").name("#role", "operator").value(":yes", AttributeValue::Bool(true));
        }
        Some(StatusFilter::Locked) => anyhow::bail!("locked accounts are listed by LoginAttempts::locked_now"),
    }
    if let Some(source) = query.source {
        filter.and("#source = :source").name("#source", "source").value(":source", items::s(source.as_str()));
    }
    if dates {
        if let Some(from) = query.created_from {
            filter.and("created_at >= :from").value(":from", items::ts(from));
        }
        if let Some(to) = query.created_to {
            filter.and("created_at <= :to").value(":to", items::ts(to));
        }
    }
    Ok(filter)
}

fn users_of(items: &[items::Item]) -> anyhow::Result<Vec<User>> {
    items.iter().map(items::user_from_item).collect()
}

impl DynamoStore {
    pub(super) async fn query_users(&self, query: &UserQuery) -> anyhow::Result<UserPage> {
        let Some(prefix) = &query.prefix else {
            return self.list_users(query).await;
        };
        let mut page = UserPage::default();
        let username_after = match &query.after {
            Some(Cursor::Username(after)) => Some(after.clone()),
            after => {
                let after = match after {
                    Some(Cursor::Email(after)) => Some(after.clone()),
                    _ => None,
                };
                let merged = self
                    .merged_range(IndexRange {
                        index: Some(items::USERS_EMAIL_INDEX),
                        pk_attr: "list_pk",
                        sk_attr: "email_lc",
                        partitions: items::list_partitions(),
                        low: Some(after.clone().map_or(prefix.clone(), |after| after.max(prefix.clone()))),
                        high: Some(format!("{prefix}{PREFIX_END}")),
                        exclude: after,
                        forward: true,
                        filter: user_filter(query, true)?,
                        want: query.limit,
                    })
                    .await?;
                page.users = users_of(&merged.items)?;
                if let Some(next) = merged.next {
                    page.next = Some(Cursor::Email(next));
                    return Ok(page);
                }
                None
            }
        };
        // An address holds one '@'; a username none: a prefix with one matches no username.
        let want = query.limit.saturating_sub(page.users.len());
        if prefix.contains('@') {
            return Ok(page);
        }
        if want == 0 {
            // The addresses filled the page: the usernames come next, from their start.
            page.next = Some(Cursor::Username(String::new()));
            return Ok(page);
        }
        let mut filter = user_filter(query, true)?;
        filter.and("NOT begins_with(email_lc, :prefix)").value(":prefix", items::s(prefix));
        let merged = self
            .merged_range(IndexRange {
                index: Some(items::USERS_USERNAME_INDEX),
                pk_attr: "list_pk",
                sk_attr: "username_lc",
                partitions: items::list_partitions(),
                low: Some(username_after.clone().map_or(prefix.clone(), |after| after.max(prefix.clone()))),
                high: Some(format!("{prefix}{PREFIX_END}")),
                exclude: username_after,
                forward: true,
                filter,
                want,
            })
            .await?;
        page.users.extend(users_of(&merged.items)?);
        page.next = merged.next.map(Cursor::Username);
        Ok(page)
    }

    async fn list_users(&self, query: &UserQuery) -> anyhow::Result<UserPage> {
        let after = match &query.after {
            Some(Cursor::Created(after)) => Some(after.clone()),
            _ => None,
        };
        // Newest first: the highest key is the cursor (or the end of the last day asked for).
        let to = query.created_to.map(|to| format!("{:012}#~", to.unix().max(0)));
        let high = match (&after, to) {
            (Some(after), Some(to)) => Some(after.clone().min(to)),
            (after, to) => after.clone().or(to),
        };
        let merged = self
            .merged_range(IndexRange {
                index: Some(items::USERS_LIST_INDEX),
                pk_attr: "list_pk",
                sk_attr: "list_sk",
                partitions: items::list_partitions(),
                low: query.created_from.map(|from| format!("{:012}#", from.unix().max(0))),
                high,
                exclude: after,
                forward: false,
                filter: user_filter(query, false)?,
                want: query.limit,
            })
            .await?;
        Ok(UserPage { users: users_of(&merged.items)?, next: merged.next.map(Cursor::Created) })
    }

    pub(super) async fn query_locked(&self, now: Timestamp, limit: usize) -> anyhow::Result<Vec<(UserId, Timestamp)>> {
        // Locked after `now`: every key of a later second sorts above this one.
        let after = format!("{:012}#~", now.unix().max(0));
        let output = self
            .client()
            .query()
            .table_name(&self.table)
            .index_name(items::LOCKED_INDEX)
            .key_condition_expression("locked_pk = :locked AND locked_sk > :now")
            .expression_attribute_values(":locked", items::s("LOCKED"))
            .expression_attribute_values(":now", items::s(&after))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .context("DynamoDB Query (locked now)")?;
        let mut locked = Vec::new();
        for item in output.items.unwrap_or_default() {
            let until = items::get_ts(&item, "locked_until")?;
            let user = UserId::parse(items::get_s(&item, "locked_user")?).context("locked_user is not a UUID")?;
            // The index is eventually consistent: a lock cleared a moment ago may still be there.
            if until > now {
                locked.push((user, until));
            }
        }
        Ok(locked)
    }

    pub(super) async fn query_jobs(
        &self,
        after: Option<&Cursor>,
        limit: usize,
    ) -> anyhow::Result<(Vec<RowJob>, Option<Cursor>)> {
        let after = match after {
            Some(Cursor::Key(after)) => Some(after.clone()),
            _ => None,
        };
        let merged = self
            .merged_range(IndexRange {
                index: Some(items::JOBS_INDEX),
                pk_attr: "jobs_pk",
                sk_attr: "jobs_sk",
                partitions: vec!["JOBS".to_owned()],
                low: None,
                high: after.clone(),
                exclude: after,
                forward: false,
                filter: Filter::default(),
                want: limit,
            })
            .await?;
        let jobs = merged.items.iter().map(items::job_from_item).collect::<anyhow::Result<Vec<_>>>()?;
        Ok((jobs, merged.next.map(Cursor::Key)))
    }
}
