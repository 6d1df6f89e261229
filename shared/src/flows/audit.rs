//! The audit log as operators read it: the console's audit page, `GET /admin/v1/audit`, and
//! their CSV exports. One request type parsed from the same fields everywhere (`operator`,
//! `action`, `learner`, `from`, `to`, `cursor`), answered a page at a time from the store's
//! indexes (`AuditLog::find_entries`), newest first.
//!
//! - `operator`: an operator's email (their console entries: `console:<user id>:`), or text an
//!   IAM caller's ARN contains.
//! - `learner`: an email or a user id (a user id stays listable after the account is gone).
//! - `from`, `to`: days (`yyyy-mm-dd`, UTC), both included; without `from`, the last
//!   `DEFAULT_DAYS` days up to `to` (or now); for one learner, their whole history.
//!
//! An export is audited (`export_audit`, the filter as its outcome), and it is capped at
//! `EXPORT_ROWS` entries a file, with the cursor of the rest.

use crate::domain::{
    audit_cursor, exports_subject, Actor, AuditEntry, AuditQuery, Cursor, Email, Timestamp, UserId, PAGE_SIZE,
};
use crate::flows::directory::{day_of, parse_day, urlencoding, FindError};
use crate::App;

/// Days the log is read back when no `from` is given.
pub const DEFAULT_DAYS: i64 = 30;

/// Entries in one export file (the rest by its next cursor).
pub const EXPORT_ROWS: usize = 5_000;

/// What to list, as asked (every field optional, empty counts as absent).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditRequest {
    pub operator: String,
    pub action: String,
    pub learner: String,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub cursor: Option<Cursor>,
}

fn text_field(field: &'static str, value: String, max: usize) -> Result<String, FindError> {
    if value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(FindError::Invalid(field, format!("At most {max} characters, without control characters.")));
    }
    Ok(value)
}

impl AuditRequest {
    /// From the fields as given (a form or a query string): `get` answers a field's value.
    pub fn parse(get: impl Fn(&str) -> Option<String>) -> Result<Self, FindError> {
        let field = |name: &str| get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let operator = text_field("operator", field("operator").unwrap_or_default(), 300)?;
        let action = field("action").unwrap_or_default();
        if !action.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') || action.len() > 60 {
            return Err(FindError::Invalid("action", "An action's name: lower-case letters and `_`.".into()));
        }
        let learner = text_field("learner", field("learner").unwrap_or_default(), 254)?;
        let from = field("from").map(|d| parse_day("from", &d, false)).transpose()?;
        let to = field("to").map(|d| parse_day("to", &d, true)).transpose()?;
        if let (Some(from), Some(to)) = (from, to) {
            if from > to {
                return Err(FindError::Invalid("to", "The last day comes on or after the first.".into()));
            }
        }
        let cursor = field("cursor").map(|c| Cursor::decode(&c).and_then(audit_cursor)).transpose()?;
        Ok(Self { operator, action, learner, from, to, cursor })
    }

    /// The request's fields as a query string (`cursor` left out), for the next page's link and
    /// the export's.
    pub fn query_string(&self) -> String {
        let pairs = [
            ("operator", self.operator.clone()),
            ("action", self.action.clone()),
            ("learner", self.learner.clone()),
            ("from", self.from.map(day_of).unwrap_or_default()),
            ("to", self.to.map(day_of).unwrap_or_default()),
        ];
        let pairs: Vec<String> = pairs
            .iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(name, value)| format!("{name}={}", urlencoding(value)))
            .collect();
        pairs.join("&")
    }

    /// The store's query: the learner and the operator resolved (an email to its account).
    async fn query(&self, app: &App, limit: usize) -> Result<AuditQuery, FindError> {
        let learner = if self.learner.is_empty() {
            None
        } else if let Some(id) = UserId::parse(&self.learner) {
            Some(id)
        } else {
            let email = Email::parse(&self.learner)
                .map_err(|_| FindError::Invalid("learner", "An email address or a user id.".into()))?;
            let user = app.store.user_by_email_key(&email.key()).await?;
            // Operators may know which addresses have accounts: they can look them up.
            Some(user.ok_or_else(|| FindError::Invalid("learner", "No account has this email address.".into()))?.id)
        };
        let operator = match Email::parse(&self.operator) {
            _ if self.operator.is_empty() => None,
            Ok(email) => match app.store.user_by_email_key(&email.key()).await? {
                Some(user) => Some(format!("console:{}:", user.id)),
                None => Some(self.operator.clone()),
            },
            Err(_) => Some(self.operator.clone()),
        };
        let to = self.to.unwrap_or_else(|| app.clock.now());
        // One learner's whole history is one partition's read: all of it unless asked.
        let from = self.from.unwrap_or_else(|| match learner {
            Some(_) => Timestamp::from_unix(0),
            None => Timestamp::from_unix((to.unix().div_euclid(86_400) - (DEFAULT_DAYS - 1)) * 86_400),
        });
        Ok(AuditQuery {
            operator,
            action: Some(self.action.clone()).filter(|a| !a.is_empty()),
            learner,
            from,
            to,
            after: self.cursor.clone(),
            limit,
        })
    }
}

/// An entry as operators read it: who (an email, an ARN, "the learner") and about whom.
#[derive(Clone, Debug, PartialEq)]
pub struct Described {
    pub entry: AuditEntry,
    pub who: String,
    pub learner: String,
}

/// A page of the log, and the cursor of the next (none: the last).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditFound {
    pub entries: Vec<Described>,
    pub next: Option<Cursor>,
}

/// A page of the log (`PAGE_SIZE` entries at most).
pub async fn find(app: &App, request: &AuditRequest) -> Result<AuditFound, FindError> {
    let page = app.audit.find_entries(&request.query(app, PAGE_SIZE).await?).await?;
    Ok(AuditFound { entries: describe(app, page.entries).await?, next: page.next })
}

/// Names each entry's learner (their email now; the account's id once it is deleted).
async fn describe(app: &App, entries: Vec<AuditEntry>) -> anyhow::Result<Vec<Described>> {
    let mut known: std::collections::HashMap<UserId, String> = std::collections::HashMap::new();
    let mut described = Vec::with_capacity(entries.len());
    for entry in entries {
        let learner = match known.get(&entry.user_id) {
            Some(name) => name.clone(),
            None => {
                let name = if entry.user_id == crate::domain::settings::audit_subject() {
                    "(site settings)".to_owned()
                } else if entry.user_id == exports_subject() {
                    "(exports)".to_owned()
                } else {
                    match app.store.user_by_id(&entry.user_id).await? {
                        Some(user) => user.email.to_string(),
                        None => format!("(deleted account {})", entry.user_id),
                    }
                };
                known.insert(entry.user_id.clone(), name.clone());
                name
            }
        };
        let who = Actor::from_record(&entry.operator).label().to_owned();
        described.push(Described { entry, who, learner });
    }
    Ok(described)
}

/// The entries the request names as CSV (formula-safe: `jobs::safe_csv`), at most
/// `EXPORT_ROWS`, and the cursor of the rest; the export is itself audited, by `actor`.
pub async fn export_csv(app: &App, actor: &str, request: &AuditRequest) -> Result<(String, Option<Cursor>), FindError> {
    let mut query = request.query(app, EXPORT_ROWS.min(500)).await?;
    let mut rows = Vec::new();
    let mut next = None;
    while rows.len() < EXPORT_ROWS {
        query.limit = (EXPORT_ROWS - rows.len()).min(500);
        let page = app.audit.find_entries(&query).await?;
        for d in describe(app, page.entries).await? {
            let e = d.entry;
            rows.push(vec![e.at.to_rfc3339(), d.who, e.action, e.user_id.to_string(), d.learner, e.outcome]);
        }
        next = page.next;
        match &next {
            Some(cursor) => query.after = Some(cursor.clone()),
            None => break,
        }
    }
    let filter = request.query_string();
    let outcome = format!("{} entries; {}", rows.len(), if filter.is_empty() { "no filter" } else { &filter });
    let entry = AuditEntry::new(app.clock.now(), actor, "export_audit", &exports_subject(), outcome);
    app.audit.record(&entry).await?;
    let csv = crate::jobs::safe_csv(&["at", "operator", "action", "user_id", "learner", "outcome"], rows)?;
    Ok((csv, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<AuditRequest, FindError> {
        AuditRequest::parse(|name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned()))
    }

    #[test]
    fn fields_parse_or_name_what_is_wrong() {
        let request = parse(&[
            ("operator", " op@example.org "),
            ("action", "view"),
            ("from", "2026-01-02"),
            ("to", "2026-01-03"),
        ])
        .unwrap();
        assert_eq!(request.operator, "op@example.org");
        assert_eq!(request.query_string(), "operator=op%40example.org&action=view&from=2026-01-02&to=2026-01-03");
        for (field, value) in [("action", "View!"), ("from", "2026-13-01"), ("cursor", "abc!"), ("learner", "a\u{7}")] {
            match parse(&[(field, value)]) {
                Err(FindError::Invalid(named, _)) => assert_eq!(named, field),
                other => panic!("{field}={value}: {other:?}"),
            }
        }
        // A cursor of another list (a learner's creation key) is not one of the log's.
        let created = Cursor::Created(format!("000000000001#{}", UserId::generate())).encode();
        assert!(parse(&[("cursor", &created)]).is_err());
        let key = Cursor::Key("000000000001#x".into()).encode();
        assert!(parse(&[("cursor", &key)]).is_ok());
        assert!(matches!(parse(&[("from", "2026-01-03"), ("to", "2026-01-02")]), Err(FindError::Invalid("to", _))));
        assert_eq!(parse(&[("action", "")]).unwrap(), AuditRequest::default());
    }
}
