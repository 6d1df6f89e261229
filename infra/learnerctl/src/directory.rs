//! `learnerctl users list|search` and `learnerctl jobs`: pages of the admin API's lists
//! (`GET /admin/v1/users/search`, `GET /admin/v1/jobs`), one line per learner or job.
//!
//! Output goes through one writer, and a reader that stops reading (`| head -1`) ends the
//! command quietly with exit code 0: a closed pipe means "enough", not an error.

use crate::api::Api;
use crate::commands::Options;
use crate::jobs::query;
use anyhow::Context;
use clap::{Args, Subcommand};
use std::io::Write;

#[derive(Subcommand)]
pub enum UsersAction {
    /// Every learner, newest first (with filters), a page of 50 at a time.
    List {
        #[command(flatten)]
        filters: Filters,
    },
    /// Learners whose email or username starts with TEXT (case aside), or the one with this
    /// user id.
    Search {
        text: String,
        #[command(flatten)]
        filters: Filters,
    },
}

#[derive(Args)]
pub struct Filters {
    /// pending, active, locked, disabled, second_factor or operator.
    #[arg(long)]
    status: Option<String>,
    /// self, bulk or operator.
    #[arg(long)]
    source: Option<String>,
    /// Created on or after this day (yyyy-mm-dd, UTC).
    #[arg(long)]
    created_from: Option<String>,
    /// Created on or before this day (yyyy-mm-dd, UTC).
    #[arg(long)]
    created_to: Option<String>,
    /// Start at this page (the cursor a previous page ended with).
    #[arg(long)]
    cursor: Option<String>,
    /// Every page, not only the first.
    #[arg(long)]
    all: bool,
}

/// What writing a line found.
enum Written {
    More,
    /// The reader has gone (a closed pipe): stop, successfully.
    ReaderGone,
}

fn line(out: &mut impl Write, text: &str) -> anyhow::Result<Written> {
    match writeln!(out, "{text}") {
        Ok(()) => Ok(Written::More),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Written::ReaderGone),
        Err(e) => Err(anyhow::Error::new(e).context("writing to standard output")),
    }
}

fn text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "-".to_owned(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Pages of `path` (its query string without the cursor), each item printed by `show`.
async fn pages(
    api: &Api,
    options: &Options,
    path: &str,
    list: &str,
    mut cursor: Option<String>,
    all: bool,
    show: impl Fn(&serde_json::Value) -> String,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    loop {
        let separator = if path.contains('?') { '&' } else { '?' };
        let url = match &cursor {
            Some(cursor) => format!("{path}{separator}cursor={}", query(cursor)),
            None => path.to_owned(),
        };
        let answer = api.send("GET", &url, None, Vec::new()).await?.ok()?;
        let page = answer.json()?;
        if options.json {
            if let Written::ReaderGone = line(&mut out, String::from_utf8_lossy(&answer.body).trim_end())? {
                return Ok(());
            }
        } else {
            for item in page[list].as_array().into_iter().flatten() {
                if let Written::ReaderGone = line(&mut out, &show(item))? {
                    return Ok(());
                }
            }
        }
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        match (&cursor, all) {
            (None, _) => return Ok(()),
            (Some(_), true) => continue,
            (Some(next), false) => {
                if !options.json {
                    eprintln!("More follow: add --all, or --cursor {next}");
                }
                return Ok(());
            }
        }
    }
}

/// `name=value` (the value encoded) for each filter given.
fn query_pairs(filters: &[(&str, &Option<String>)]) -> Vec<String> {
    filters.iter().filter_map(|(name, value)| value.as_ref().map(|value| format!("{name}={}", query(value)))).collect()
}

pub async fn users(api: &Api, options: &Options, action: UsersAction) -> anyhow::Result<()> {
    let (q, filters) = match action {
        UsersAction::List { filters } => (None, filters),
        UsersAction::Search { text, filters } => (Some(text), filters),
    };
    let pairs = query_pairs(&[
        ("q", &q),
        ("status", &filters.status),
        ("source", &filters.source),
        ("created_from", &filters.created_from),
        ("created_to", &filters.created_to),
    ]);
    let path = match pairs.is_empty() {
        true => "/admin/v1/users/search".to_owned(),
        false => format!("/admin/v1/users/search?{}", pairs.join("&")),
    };
    pages(api, options, &path, "users", filters.cursor, filters.all, |user| {
        let mut status = text(&user["status"]);
        if user["disabled"].as_bool() == Some(true) {
            status.push_str(",disabled");
        }
        if let Some(until) = user["locked_until"].as_str() {
            status.push_str(&format!(",locked until {until}"));
        }
        format!(
            "{}\t{}\t{}\t{}\t{}\t{}",
            text(&user["email"]),
            text(&user["username"]),
            status,
            text(&user["source"]),
            text(&user["created_at"]),
            text(&user["user_id"])
        )
    })
    .await
}

pub async fn jobs(api: &Api, options: &Options, cursor: Option<String>, all: bool) -> anyhow::Result<()> {
    pages(api, options, "/admin/v1/jobs", "jobs", cursor, all, |job| {
        format!(
            "{}\t{}\t{}\t{}\t{} rows\tdone {}, skipped {}, failed {}\tby {}",
            text(&job["job_id"]),
            text(&job["kind"]),
            text(&job["created_at"]),
            text(&job["status"]),
            text(&job["total"]),
            text(&job["done"]),
            text(&job["skipped"]),
            text(&job["failed"]),
            text(&job["requested_by"])
        )
    })
    .await
}

/// Filters of the audit log (`GET /admin/v1/audit`): with any of them, `learnerctl audit` pages
/// through the log (across accounts without an email or `--user-id`), one entry a line.
#[derive(Args)]
pub struct AuditFilters {
    /// An operator's email (their console actions), or text of an IAM caller's ARN.
    #[arg(long)]
    operator: Option<String>,
    /// The action (view, unlock, export_learners, ...).
    #[arg(long)]
    action: Option<String>,
    /// On or after this day (yyyy-mm-dd, UTC).
    #[arg(long)]
    from: Option<String>,
    /// On or before this day (yyyy-mm-dd, UTC).
    #[arg(long)]
    to: Option<String>,
    /// Start at this page (the cursor a previous page ended with).
    #[arg(long)]
    cursor: Option<String>,
    /// Every page, not only the first.
    #[arg(long)]
    all: bool,
    /// The entries as CSV (the export, audited; at most 5,000 a call).
    #[arg(long)]
    csv: bool,
}

impl AuditFilters {
    /// Was any given (else `learnerctl audit` shows one account's entries as before)?
    pub fn any(&self) -> bool {
        self.operator.is_some()
            || self.action.is_some()
            || self.from.is_some()
            || self.to.is_some()
            || self.cursor.is_some()
            || self.all
            || self.csv
    }
}

/// `learnerctl audit [EMAIL | --user-id ID] --operator ... --action ... --from ... --to ...`:
/// at, action, outcome, operator, user id, a line each, newest first.
pub async fn audit(api: &Api, options: &Options, learner: Option<String>, filters: AuditFilters) -> anyhow::Result<()> {
    let mut pairs = query_pairs(&[
        ("learner", &learner),
        ("operator", &filters.operator),
        ("action", &filters.action),
        ("from", &filters.from),
        ("to", &filters.to),
    ]);
    if filters.csv {
        pairs.push("format=csv".to_owned());
        if let Some(cursor) = &filters.cursor {
            pairs.push(format!("cursor={}", query(cursor)));
        }
        let answer = api.send("GET", &format!("/admin/v1/audit?{}", pairs.join("&")), None, Vec::new()).await?.ok()?;
        let mut out = std::io::stdout().lock();
        match out.write_all(&answer.body) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other.context("writing to standard output")?,
        }
        return Ok(());
    }
    let path = match pairs.is_empty() {
        true => "/admin/v1/audit".to_owned(),
        false => format!("/admin/v1/audit?{}", pairs.join("&")),
    };
    pages(api, options, &path, "entries", filters.cursor, filters.all, |entry| {
        format!(
            "{}\t{}\t{}\t{}\t{}",
            text(&entry["at"]),
            text(&entry["action"]),
            text(&entry["outcome"]),
            text(&entry["operator"]),
            text(&entry["user_id"])
        )
    })
    .await
}
