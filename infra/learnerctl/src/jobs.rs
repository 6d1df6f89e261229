//! Bulk registration and deletion jobs from the operator's side: a job's status with every page
//! of its problem rows, waiting for it, and the per-row report of every page. Several jobs (the
//! parts of a file an older learnerctl sent in parts) read as one.
//!
//! Paging: a status answers at most 100 problem rows in `errors` and a `next_cursor` (absent
//! or null on the last page); the report answers the header `x-next-cursor` while more rows
//! follow, each page a whole CSV with its header. An API that does not page yet answers one
//! page, which is all there is.

use crate::api::{Answer, Api};
use crate::split::offsets;
use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    BulkRegistration,
    Deletion,
}

impl Kind {
    pub fn collection(self) -> &'static str {
        match self {
            Self::BulkRegistration => "/admin/v1/bulk-registrations",
            Self::Deletion => "/admin/v1/deletions",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::BulkRegistration => "bulk registration",
            Self::Deletion => "deletion",
        }
    }

    /// What the job's rows are.
    pub fn rows(self) -> &'static str {
        match self {
            Self::BulkRegistration => "rows",
            Self::Deletion => "addresses",
        }
    }

    /// The job's three counts: the API's field, and the words people read.
    pub fn counts(self) -> [(&'static str, &'static str); 3] {
        match self {
            Self::BulkRegistration => [("created", "created"), ("skipped", "skipped"), ("failed", "failed")],
            Self::Deletion => [("deleted", "deleted"), ("not_found", "not found"), ("failed", "failed")],
        }
    }
}

/// One job as the API shows it, with the problem rows of every page in `errors`.
pub struct Job {
    pub kind: Kind,
    pub doc: Value,
    /// The answer as the API sent it, when it was one page: `--json` prints it unchanged.
    pub raw: Option<Vec<u8>>,
}

impl Job {
    pub fn id(&self) -> &str {
        self.doc["job_id"].as_str().unwrap_or_default()
    }

    pub fn total(&self) -> u64 {
        self.doc["total"].as_u64().unwrap_or(0)
    }

    pub fn completed(&self) -> bool {
        self.doc["status"] == "completed"
    }

    /// Its JSON, for `--json`, with its rows moved by `offset` (its place in a split file).
    pub fn json(&self, offset: u64) -> String {
        match (&self.raw, offset) {
            (Some(raw), 0) => String::from_utf8_lossy(raw).trim_end().to_owned(),
            _ => with_rows_moved(&self.doc, offset).to_string(),
        }
    }
}

pub fn query(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn page(api: &Api, kind: Kind, id: &str, cursor: Option<&str>) -> anyhow::Result<Answer> {
    let mut path = format!("{}/{}", kind.collection(), query(id));
    if let Some(cursor) = cursor {
        path.push_str(&format!("?cursor={}", query(cursor)));
    }
    api.send("GET", &path, None, Vec::new()).await
}

/// The cursor of the next page, if the answer has one.
fn next_cursor(doc: &Value) -> Option<String> {
    doc["next_cursor"].as_str().filter(|c| !c.is_empty()).map(str::to_owned)
}

/// A job's first page as the API answered it (what `--json` prints of a job just sent).
pub async fn first_page(api: &Api, kind: Kind, id: &str) -> anyhow::Result<Answer> {
    page(api, kind, id, None).await?.ok()
}

/// The first page only: the status and counts (what a wait polls).
async fn counts(api: &Api, kind: Kind, id: &str) -> anyhow::Result<Value> {
    page(api, kind, id, None).await?.ok()?.json()
}

/// A job, following `next_cursor` from `first` (its first page) to the last page.
async fn follow(api: &Api, kind: Kind, id: &str, first: Answer) -> anyhow::Result<Job> {
    let first = first.ok()?;
    let mut doc = first.json()?;
    let Some(mut cursor) = next_cursor(&doc) else {
        return Ok(Job { kind, doc, raw: Some(first.body) });
    };
    let mut errors = doc["errors"].as_array().cloned().unwrap_or_default();
    let mut seen = std::collections::HashSet::new();
    loop {
        if !seen.insert(cursor.clone()) {
            bail!("the API gave the cursor {cursor:?} twice for job {id}");
        }
        let next = page(api, kind, id, Some(&cursor)).await?.ok()?.json()?;
        errors.extend(next["errors"].as_array().cloned().unwrap_or_default());
        match next_cursor(&next) {
            Some(more) => cursor = more,
            None => break,
        }
    }
    doc["errors"] = Value::Array(errors);
    if let Some(fields) = doc.as_object_mut() {
        fields.remove("next_cursor");
    }
    Ok(Job { kind, doc, raw: None })
}

/// A job of a known kind, every page.
pub async fn fetch(api: &Api, kind: Kind, id: &str) -> anyhow::Result<Job> {
    follow(api, kind, id, page(api, kind, id, None).await?).await
}

/// A job of either kind: a bulk registration, else a deletion.
pub async fn find(api: &Api, id: &str) -> anyhow::Result<Job> {
    let bulk = page(api, Kind::BulkRegistration, id, None).await?;
    if bulk.status != 404 {
        return follow(api, Kind::BulkRegistration, id, bulk).await;
    }
    fetch(api, Kind::Deletion, id).await
}

/// Polls the jobs (a progress bar over all their rows, on a terminal) until every one has
/// completed; then reads each whole. A job whose file is still being read (`receiving`) has no
/// total yet: the bar's length grows as the totals come. A job `cut_off` ends the wait.
pub async fn wait(api: &Api, kind: Kind, ids: &[String]) -> anyhow::Result<Vec<Job>> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(&format!("{{bar:40}} {{pos}}/{{len}} {} {{msg}} ({{elapsed}})", kind.rows()))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut done: Vec<Option<Value>> = vec![None; ids.len()];
    loop {
        let mut latest = Vec::with_capacity(ids.len());
        for (id, done) in ids.iter().zip(done.iter_mut()) {
            let job = match done {
                Some(job) => job.clone(),
                None => counts(api, kind, id).await?,
            };
            if job["status"] == "completed" {
                *done = Some(job.clone());
            }
            if job["status"] == "cut_off" {
                // Its file stopped coming (or its intake stopped) long ago: waiting would
                // never end. The same command again sends the file to the same job.
                bar.abandon();
                bail!(
                    "job {id} was cut off before every row was read (status cut_off): run the same command \
                     again on the same file to finish it"
                );
            }
            latest.push(job);
        }
        bar.set_length(latest.iter().map(|j| j["total"].as_u64().unwrap_or(0)).sum());
        let sums = kind.counts().map(|(field, _)| latest.iter().map(|j| j[field].as_u64().unwrap_or(0)).sum::<u64>());
        bar.set_position(sums.iter().sum());
        let mut words = kind.counts().iter().zip(sums).map(|((_, word), n)| format!("{n} {word}")).collect::<Vec<_>>();
        if latest.iter().any(|j| j["status"] == "receiving") {
            words.push("reading the file".to_owned());
        }
        bar.set_message(words.join(", "));
        if done.iter().all(Option::is_some) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    bar.finish();
    let mut jobs = Vec::with_capacity(ids.len());
    for id in ids {
        jobs.push(fetch(api, kind, id).await?);
    }
    Ok(jobs)
}

/// Several jobs of one kind, read as the one file they came from.
pub struct Summary {
    pub kind: Kind,
    pub ids: Vec<String>,
    pub status: String,
    pub total: u64,
    pub counts: [u64; 3],
    /// Every problem row, numbered as in the whole file, in its order.
    pub problems: Vec<Value>,
}

impl Summary {
    pub fn of(kind: Kind, jobs: &[Job]) -> Self {
        let moved = offsets(jobs.iter().map(Job::total));
        let mut problems: Vec<Value> = jobs
            .iter()
            .zip(&moved)
            .flat_map(|(job, &offset)| {
                job.doc["errors"].as_array().into_iter().flatten().map(move |p| moved_row(p, offset))
            })
            .collect();
        problems.sort_by_key(|p| p["row"].as_u64().unwrap_or(0));
        let status = if jobs.iter().all(Job::completed) {
            "completed"
        } else if jobs.iter().all(|j| j.doc["status"] == "queued") {
            "queued"
        } else {
            "running"
        };
        Self {
            kind,
            ids: jobs.iter().map(|j| j.id().to_owned()).collect(),
            status: status.to_owned(),
            total: jobs.iter().map(Job::total).sum(),
            counts: kind.counts().map(|(field, _)| jobs.iter().map(|j| j.doc[field].as_u64().unwrap_or(0)).sum()),
            problems,
        }
    }
}

/// A job's (or a dry run's) answer with the rows of its `errors` moved by `offset`.
pub fn with_rows_moved(doc: &Value, offset: u64) -> Value {
    let mut doc = doc.clone();
    if offset > 0 {
        if let Some(errors) = doc["errors"].as_array_mut() {
            for problem in errors.iter_mut() {
                *problem = moved_row(problem, offset);
            }
        }
    }
    doc
}

/// A problem row of a part, numbered as in the whole file. A duplicate names the row it
/// repeats, in the same part: that number moves with it.
pub fn moved_row(problem: &Value, offset: u64) -> Value {
    let mut problem = problem.clone();
    if offset == 0 {
        return problem;
    }
    if let Some(row) = problem["row"].as_u64() {
        problem["row"] = Value::from(row + offset);
    }
    if problem["code"] == "duplicate_in_file" {
        let message = problem["message"].as_str().unwrap_or_default();
        let earlier = message.strip_prefix("Row ").and_then(|rest| rest.split_once(' '));
        if let Some((row, rest)) = earlier.and_then(|(n, rest)| Some((n.parse::<u64>().ok()?, rest))) {
            problem["message"] = Value::from(format!("Row {} {rest}", row + offset));
        }
    }
    problem
}

/// The per-row report of bulk registration jobs: every page of each, one CSV with the header
/// once. Several jobs (the parts of a split file, in order) are numbered as the whole file.
pub async fn report(api: &Api, ids: &[String]) -> anyhow::Result<Vec<u8>> {
    let mut moved = vec![0];
    if ids.len() > 1 {
        let mut totals = Vec::with_capacity(ids.len());
        for id in ids {
            totals.push(counts(api, Kind::BulkRegistration, id).await?["total"].as_u64().unwrap_or(0));
        }
        moved = offsets(totals);
    }
    let mut out = Vec::new();
    for (id, &offset) in ids.iter().zip(&moved) {
        let path = format!("{}/{}/report.csv", Kind::BulkRegistration.collection(), query(id));
        let mut cursor: Option<String> = None;
        let mut seen = std::collections::HashSet::new();
        loop {
            let url = match &cursor {
                Some(cursor) => format!("{path}?cursor={}", query(cursor)),
                None => path.clone(),
            };
            let page = api.send("GET", &url, None, Vec::new()).await?.ok()?;
            append_report_page(&mut out, &page.body, offset)
                .with_context(|| format!("the report of job {id} is not CSV"))?;
            match page.header("x-next-cursor").filter(|c| !c.is_empty()) {
                Some(next) if !seen.insert(next.to_owned()) => bail!("the API gave the cursor {next:?} twice"),
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
    }
    Ok(out)
}

/// Adds a page to the report: its header only when the report has none yet; its rows as they
/// are, or with their `row` moved by `offset`.
fn append_report_page(out: &mut Vec<u8>, page: &[u8], offset: u64) -> anyhow::Result<()> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(page);
    let header = reader.byte_headers()?.clone();
    let body_start = reader.position().byte() as usize;
    if out.is_empty() {
        out.extend_from_slice(&page[..body_start]);
    }
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    let row_column = header.iter().position(|h| h == b"row");
    match row_column.filter(|_| offset > 0) {
        None => out.extend_from_slice(&page[body_start..]),
        Some(column) => {
            // Written as the API writes it: every field quoted.
            let mut writer = csv::WriterBuilder::new().quote_style(csv::QuoteStyle::Always).from_writer(Vec::new());
            for record in reader.byte_records() {
                let record = record?;
                let row = std::str::from_utf8(record.get(column).unwrap_or_default())
                    .ok()
                    .and_then(|r| r.parse::<u64>().ok())
                    .map(|r| (r + offset).to_string());
                let fields = record.iter().enumerate().map(|(i, field)| match (&row, i == column) {
                    (Some(row), true) => row.as_bytes(),
                    _ => field,
                });
                writer.write_record(fields)?;
            }
            out.extend(writer.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_later_part_numbers_its_rows_and_the_rows_it_names_as_the_file() {
        let duplicate = json!({"row": 3, "email": "a@x.org", "result": "skipped", "code": "duplicate_in_file",
            "message": "Row 2 has the same email or username; the first one wins."});
        let moved = moved_row(&duplicate, 40);
        assert_eq!(moved["row"], 43);
        assert_eq!(moved["message"], "Row 42 has the same email or username; the first one wins.");
        assert_eq!(moved_row(&duplicate, 0), duplicate);
    }

    #[test]
    fn report_pages_keep_one_header_and_move_rows() {
        let mut out = Vec::new();
        append_report_page(&mut out, b"\"row\",\"email\"\n\"2\",\"a\"\n", 0).unwrap();
        append_report_page(&mut out, b"\"row\",\"email\"\n\"3\",\"b, \"\"c\"\"\"\n", 0).unwrap();
        append_report_page(&mut out, b"\"row\",\"email\"\n\"2\",\"d\ne\"", 2).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"row\",\"email\"\n\"2\",\"a\"\n\"3\",\"b, \"\"c\"\"\"\n\"4\",\"d\ne\"\n"
        );
    }
}
