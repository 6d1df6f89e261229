//! Finding learners and jobs in memory, in the orders and with the cursors of the DynamoDB
//! indexes (`adapters/aws/dynamodb/directory.rs`): the list newest first by `<created>#<id>`, a
//! search through the matching addresses and then the matching usernames of accounts whose
//! address does not match, "Locked now" soonest unlocked first, jobs newest first. There is
//! nothing here to scan a table with: each answer is what its index would hold. The only
//! difference: a page here is always full when more follow (DynamoDB's may be shorter, its
//! reads per call being bounded).

use super::{State, Tables};
use crate::domain::{Cursor, RowJob, StatusFilter, Timestamp, User, UserId, UserPage, UserQuery, UserStatus};

/// The filters that DynamoDB's filter expressions apply.
fn passes(state: &State, user: &User, query: &UserQuery, dates: bool) -> anyhow::Result<bool> {
    let status = match query.status {
        None => true,
        Some(StatusFilter::Pending) => user.status == UserStatus::PendingActivation && user.disabled_at.is_none(),
        Some(StatusFilter::Active) => user.status == UserStatus::Active && user.disabled_at.is_none(),
        Some(StatusFilter::Disabled) => user.disabled_at.is_some(),
        Some(StatusFilter::SecondFactor) => state.second_factors.get(&user.id).is_some_and(|f| f.is_enrolled()),
        Some(StatusFilter::Operator) => user.operator,
        Some(StatusFilter::Locked) => anyhow::bail!("locked accounts are listed by LoginAttempts::locked_now"),
    };
    let source = query.source.is_none_or(|source| user.source == source);
    let in_dates = !dates
        || (query.created_from.is_none_or(|from| user.created_at >= from)
            && query.created_to.is_none_or(|to| user.created_at <= to));
    Ok(status && source && in_dates)
}

/// Up to `limit` of `keyed` (sort key, user) after `after`, in ascending (or descending) order,
/// and the key the next page starts after when more follow.
fn page_of(
    mut keyed: Vec<(String, User)>,
    after: Option<&str>,
    forward: bool,
    limit: usize,
) -> (Vec<User>, Option<String>) {
    keyed.retain(|(key, _)| match after {
        None => true,
        Some(after) if forward => key.as_str() > after,
        Some(after) => key.as_str() < after,
    });
    keyed.sort_by(|a, b| if forward { a.0.cmp(&b.0) } else { b.0.cmp(&a.0) });
    let more = keyed.len() > limit;
    keyed.truncate(limit);
    let next = if more { keyed.last().map(|(key, _)| key.clone()) } else { None };
    (keyed.into_iter().map(|(_, user)| user).collect(), next)
}

impl Tables {
    pub(super) fn query_users(&self, query: &UserQuery) -> anyhow::Result<UserPage> {
        let state = self.lock();
        let mut chosen = Vec::new();
        for user in state.users.values() {
            if passes(&state, user, query, query.prefix.is_some())? {
                chosen.push(user);
            }
        }
        let Some(prefix) = &query.prefix else {
            let after = match &query.after {
                Some(Cursor::Created(after)) => Some(after.as_str()),
                _ => None,
            };
            let keyed = chosen
                .into_iter()
                .filter(|u| query.created_from.is_none_or(|from| u.created_at >= from))
                .filter(|u| query.created_to.is_none_or(|to| u.created_at <= to))
                .map(|u| (Cursor::created_key(u.created_at, &u.id), u.clone()))
                .collect();
            let (users, next) = page_of(keyed, after, false, query.limit);
            return Ok(UserPage { users, next: next.map(Cursor::Created) });
        };
        let mut page = UserPage::default();
        let username_after = match &query.after {
            Some(Cursor::Username(after)) => Some(after.clone()),
            after => {
                let after = match after {
                    Some(Cursor::Email(after)) => Some(after.as_str()),
                    _ => None,
                };
                let keyed = chosen
                    .iter()
                    .filter(|u| u.email.key().starts_with(prefix.as_str()))
                    .map(|u| (u.email.key(), (*u).clone()))
                    .collect();
                let (users, next) = page_of(keyed, after, true, query.limit);
                page.users = users;
                if let Some(next) = next {
                    page.next = Some(Cursor::Email(next));
                    return Ok(page);
                }
                None
            }
        };
        let want = query.limit.saturating_sub(page.users.len());
        if prefix.contains('@') {
            return Ok(page);
        }
        if want == 0 {
            // The addresses filled the page: the usernames come next, from their start.
            page.next = Some(Cursor::Username(String::new()));
            return Ok(page);
        }
        let keyed = chosen
            .iter()
            .filter(|u| u.username.key().starts_with(prefix.as_str()) && !u.email.key().starts_with(prefix.as_str()))
            .map(|u| (u.username.key(), (*u).clone()))
            .collect();
        let (users, next) = page_of(keyed, username_after.as_deref(), true, want);
        page.users.extend(users);
        page.next = next.map(Cursor::Username);
        Ok(page)
    }

    pub(super) fn query_locked(&self, now: Timestamp, limit: usize) -> Vec<(UserId, Timestamp)> {
        let state = self.lock();
        let mut locked: Vec<(Timestamp, String, UserId)> = state
            .counters
            .iter()
            .filter_map(|(key, counter)| counter.locked_user(now).map(|(user, until)| (until, key.clone(), user)))
            .collect();
        locked.sort();
        locked.truncate(limit);
        locked.into_iter().map(|(until, _, user)| (user, until)).collect()
    }

    pub(super) fn query_jobs(&self, after: Option<&Cursor>, limit: usize) -> (Vec<RowJob>, Option<Cursor>) {
        let after = match after {
            Some(Cursor::Key(after)) => Some(after.as_str()),
            _ => None,
        };
        let state = self.lock();
        let mut keyed: Vec<(String, &RowJob)> = state
            .jobs
            .values()
            .map(|job| (format!("{:012}#{}", job.created_at.unix().max(0), job.id), job))
            .filter(|(key, _)| after.is_none_or(|after| key.as_str() < after))
            .collect();
        keyed.sort_by(|a, b| b.0.cmp(&a.0));
        let more = keyed.len() > limit;
        keyed.truncate(limit);
        let next = if more { keyed.last().map(|(key, _)| Cursor::Key(key.clone())) } else { None };
        (keyed.into_iter().map(|(_, job)| job.clone()).collect(), next)
    }
}
