//! Finding learners and past jobs, for the console, the admin API and `learnerctl`: one
//! request type parsed from the same fields everywhere (`q`, `status`, `source`,
//! `created_from`, `created_to`, `cursor`), answered from the store's indexes.
//!
//! `q` is an exact user id (a UUID), or the start of an address or a username (case does not
//! matter). Searching and listing are not audited one by one (a page names 50 learners, and
//! a list is not a look at anyone's account); opening a learner's card is (`flows::admin`), and
//! so is an export of the list (`export_csv`).

use crate::domain::{
    BadCursor, Cursor, RowJob, StatusFilter, Timestamp, User, UserId, UserPage, UserQuery, UserSource, PAGE_SIZE,
};
use crate::App;

/// How many locked accounts "Locked now" shows (locks are few; they last minutes).
pub const LOCKED_SHOWN: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum FindError {
    /// A field that is not one of its allowed values: (field, what is wrong).
    #[error("{0}: {1}")]
    Invalid(&'static str, String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<BadCursor> for FindError {
    fn from(_: BadCursor) -> Self {
        Self::Invalid(
            "cursor",
            "This page link is not one the service gave out: start again from the first page.".into(),
        )
    }
}

/// What to find, as asked (every field optional, empty counts as absent).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FindRequest {
    pub q: String,
    pub status: Option<StatusFilter>,
    pub source: Option<UserSource>,
    pub created_from: Option<Timestamp>,
    pub created_to: Option<Timestamp>,
    pub cursor: Option<Cursor>,
}

/// A date (`yyyy-mm-dd`, UTC) as the first or (`end_of_day`) the last second of that day.
pub(crate) fn parse_day(field: &'static str, text: &str, end_of_day: bool) -> Result<Timestamp, FindError> {
    let format = ::time::macros::format_description!("[year]-[month]-[day]");
    let day =
        ::time::Date::parse(text, &format).map_err(|_| FindError::Invalid(field, "A date as yyyy-mm-dd.".into()))?;
    let start = day.midnight().assume_utc().unix_timestamp();
    Ok(Timestamp::from_unix(if end_of_day { start + 86_399 } else { start }))
}

impl FindRequest {
    /// From the fields as given (a form or a query string): `get` answers a field's value.
    pub fn parse(get: impl Fn(&str) -> Option<String>) -> Result<Self, FindError> {
        let field = |name: &str| get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let status = match field("status") {
            None => None,
            Some(value) => Some(StatusFilter::parse(&value).ok_or_else(|| {
                let allowed: Vec<&str> = StatusFilter::ALL.iter().map(|s| s.as_str()).collect();
                FindError::Invalid("status", format!("One of: {}.", allowed.join(", ")))
            })?),
        };
        let source = match field("source") {
            None => None,
            Some(value) => Some(
                UserSource::parse(&value)
                    .ok_or_else(|| FindError::Invalid("source", "One of: self, bulk, operator.".into()))?,
            ),
        };
        let created_from = field("created_from").map(|d| parse_day("created_from", &d, false)).transpose()?;
        let created_to = field("created_to").map(|d| parse_day("created_to", &d, true)).transpose()?;
        let cursor = field("cursor").map(|c| Cursor::decode(&c)).transpose()?;
        let q = field("q").unwrap_or_default();
        if q.chars().count() > 254 || q.chars().any(char::is_control) {
            return Err(FindError::Invalid("q", "At most 254 characters, without control characters.".into()));
        }
        Ok(Self { q, status, source, created_from, created_to, cursor })
    }

    /// The request's fields as a query string (`cursor` left out), for the next page's link.
    pub fn query_string(&self) -> String {
        let mut pairs = Vec::new();
        let mut push = |name: &str, value: String| {
            if !value.is_empty() {
                pairs.push(format!("{name}={}", urlencoding(&value)));
            }
        };
        push("q", self.q.clone());
        push("status", self.status.map(|s| s.as_str().to_owned()).unwrap_or_default());
        push("source", self.source.map(|s| s.as_str().to_owned()).unwrap_or_default());
        push("created_from", self.created_from.map(day_of).unwrap_or_default());
        push("created_to", self.created_to.map(day_of).unwrap_or_default());
        pairs.join("&")
    }

    fn admits(&self, user: &User) -> bool {
        let q = self.q.to_ascii_lowercase();
        (q.is_empty() || user.email.key().starts_with(&q) || user.username.key().starts_with(&q))
            && self.source.is_none_or(|s| s == user.source)
            && self.created_from.is_none_or(|from| user.created_at >= from)
            && self.created_to.is_none_or(|to| user.created_at <= to)
    }
}

/// `yyyy-mm-dd` of a time (UTC).
pub fn day_of(at: Timestamp) -> String {
    let text = at.to_rfc3339();
    text.split('T').next().unwrap_or_default().to_owned()
}

pub(crate) fn urlencoding(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A learner as a list shows one.
#[derive(Clone, Debug, PartialEq)]
pub struct Listed {
    pub user: User,
    /// Locked by failed sign-ins until then ("Locked now" only).
    pub locked_until: Option<Timestamp>,
}

/// A page of learners, and the cursor of the next (none: the last page).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Found {
    pub learners: Vec<Listed>,
    pub next: Option<Cursor>,
}

/// Finds learners (see the module doc). An exact user id answers that account alone.
pub async fn find(app: &App, request: &FindRequest) -> Result<Found, FindError> {
    find_up_to(app, request, PAGE_SIZE).await
}

/// Learners in one export file (the rest by its next cursor).
pub const EXPORT_ROWS: usize = 5_000;

/// The learners the request names as CSV (formula-safe: `jobs::safe_csv`), at most
/// `EXPORT_ROWS`, and the cursor of the rest. The export is itself audited (`export_learners`,
/// by `actor`, the filter and the count as its outcome): a list of addresses leaving the
/// service is on record.
pub async fn export_csv(app: &App, actor: &str, request: &FindRequest) -> Result<(String, Option<Cursor>), FindError> {
    let mut request = request.clone();
    let mut rows = Vec::new();
    let mut next = None;
    while rows.len() < EXPORT_ROWS {
        let found = find_up_to(app, &request, (EXPORT_ROWS - rows.len()).min(500)).await?;
        for listed in found.learners {
            let user = listed.user;
            let status = match user.disabled_at {
                Some(_) => "disabled".to_owned(),
                None => user.status.as_str().to_owned(),
            };
            rows.push(vec![
                user.id.to_string(),
                user.email.to_string(),
                user.username.to_string(),
                user.name.to_string(),
                status,
                user.source.as_str().to_owned(),
                user.created_at.to_rfc3339(),
                user.operator.to_string(),
                listed.locked_until.map(|t| t.to_rfc3339()).unwrap_or_default(),
            ]);
        }
        next = found.next;
        match &next {
            Some(cursor) => request.cursor = Some(cursor.clone()),
            None => break,
        }
    }
    let filter = request.query_string();
    let outcome = format!("{} learners; {}", rows.len(), if filter.is_empty() { "no filter" } else { &filter });
    let entry = crate::domain::AuditEntry::new(
        app.clock.now(),
        actor,
        "export_learners",
        &crate::domain::exports_subject(),
        outcome,
    );
    app.audit.record(&entry).await?;
    let header = ["user_id", "email", "username", "name", "status", "source", "created_at", "operator", "locked_until"];
    Ok((crate::jobs::safe_csv(&header, rows)?, next))
}

async fn find_up_to(app: &App, request: &FindRequest, limit: usize) -> Result<Found, FindError> {
    if let Some(id) = UserId::parse(&request.q) {
        let user = app.store.user_by_id(&id).await?;
        let learners = user.into_iter().map(|user| Listed { user, locked_until: None }).collect();
        return Ok(Found { learners, next: None });
    }
    if request.status == Some(StatusFilter::Locked) {
        return locked_now(app, request).await;
    }
    let query = UserQuery {
        prefix: Some(request.q.to_ascii_lowercase()).filter(|q| !q.is_empty()),
        status: request.status,
        source: request.source,
        created_from: request.created_from,
        created_to: request.created_to,
        after: request.cursor.clone(),
        limit,
    };
    let UserPage { users, next } = app.store.find_users(&query).await?;
    Ok(Found { learners: users.into_iter().map(|user| Listed { user, locked_until: None }).collect(), next })
}

/// The accounts locked now, soonest unlocked first (one page: locks are few and short).
async fn locked_now(app: &App, request: &FindRequest) -> Result<Found, FindError> {
    let mut learners: Vec<Listed> = Vec::new();
    for (id, until) in app.attempts.locked_now(app.clock.now(), LOCKED_SHOWN).await? {
        if let Some(known) = learners.iter_mut().find(|l| l.user.id == id) {
            known.locked_until = known.locked_until.max(Some(until));
            continue;
        }
        if let Some(user) = app.store.user_by_id(&id).await?.filter(|user| request.admits(user)) {
            learners.push(Listed { user, locked_until: Some(until) });
        }
    }
    Ok(Found { learners, next: None })
}

/// A page of past jobs (bulk registrations and deletions), newest first.
pub async fn recent_jobs(app: &App, cursor: Option<&str>) -> Result<(Vec<RowJob>, Option<Cursor>), FindError> {
    let cursor = cursor.map(str::trim).filter(|c| !c.is_empty()).map(Cursor::decode).transpose()?;
    if cursor.as_ref().is_some_and(|c| !matches!(c, Cursor::Key(_))) {
        return Err(BadCursor.into());
    }
    Ok(app.jobs.recent_jobs(cursor.as_ref(), PAGE_SIZE).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<FindRequest, FindError> {
        FindRequest::parse(|name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned()))
    }

    #[test]
    fn fields_parse_or_name_what_is_wrong() {
        let request =
            parse(&[("q", " Ada "), ("status", "locked"), ("source", "bulk"), ("created_from", "2026-01-02")]).unwrap();
        assert_eq!(request.q, "Ada");
        assert_eq!(request.status, Some(StatusFilter::Locked));
        assert_eq!(request.source, Some(UserSource::Bulk));
        assert_eq!(day_of(request.created_from.unwrap()), "2026-01-02");
        assert_eq!(request.query_string(), "q=Ada&status=locked&source=bulk&created_from=2026-01-02");
        for (field, value) in [("status", "sleepy"), ("source", "x"), ("created_to", "2026-13-01"), ("cursor", "abc!")]
        {
            match parse(&[(field, value)]) {
                Err(FindError::Invalid(named, _)) => assert_eq!(named, field),
                other => panic!("{field}={value}: {other:?}"),
            }
        }
        assert_eq!(parse(&[("status", ""), ("q", "")]).unwrap(), FindRequest::default());
    }
}
