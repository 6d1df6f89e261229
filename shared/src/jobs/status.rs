//! What a job's readers see: its progress, its problem rows and its report, in pages.

use crate::domain::{JobProgress, JobStatus, RowJob, RowOutcome};
use crate::App;

/// Problem rows a status page holds at most.
pub const PROBLEMS_PER_PAGE: usize = 100;
/// Rows a report page holds: at most about 500 bytes each (an address of 254, a message),
/// so a page stays far inside Lambda's 6 MB response.
pub const REPORT_ROWS_PER_PAGE: usize = 5_000;

/// Items, and where the next page starts (none after the last).
pub struct Paged<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("The cursor is not one this service gave out.")]
pub struct CursorError;

/// A cursor is the number of the last row of the page before (rows are stored with 10
/// digits, so no cursor reaches 9,999,999,999).
pub fn parse_cursor(cursor: Option<&str>) -> Result<u64, CursorError> {
    match cursor {
        None | Some("") => Ok(0),
        Some(text) => text.parse().ok().filter(|row| *row < 9_999_999_999).ok_or(CursorError),
    }
}

/// The job with its counts (the sum of its blocks' tallies until it is seen completed, then
/// the counts recorded with that).
pub async fn progress(app: &App, job_id: &str) -> anyhow::Result<Option<JobProgress>> {
    // Job ids are UUIDs: anything else names no job (and never reaches the store's key).
    if uuid::Uuid::parse_str(job_id).is_err() {
        return Ok(None);
    }
    let Some(job) = app.jobs.job(job_id).await? else {
        return Ok(None);
    };
    let tallied = match job.final_counts {
        Some(counts) => counts,
        None => app.jobs.tallied(job_id).await?,
    };
    let progress = JobProgress::new(job, tallied, app.clock.now());
    if progress.status == JobStatus::Completed && progress.job.final_counts.is_none() {
        app.jobs.mark_completed(job_id, &progress.counts).await?;
    }
    Ok(Some(progress))
}

/// A page of a job's skipped and failed rows that `keep` keeps, after `cursor`.
pub async fn problems_page(
    app: &App,
    job: &RowJob,
    cursor: u64,
    keep: impl Fn(&RowOutcome) -> bool,
) -> anyhow::Result<Paged<RowOutcome>> {
    let (rows, next_cursor) =
        page_of(app.jobs.problems(&job.id, cursor, PROBLEMS_PER_PAGE + 1).await?, PROBLEMS_PER_PAGE);
    Ok(Paged { items: rows.into_iter().filter(|r| keep(r)).collect(), next_cursor })
}

/// A page of the per-row report, as CSV with its header row.
pub async fn report_page(app: &App, job: &RowJob, cursor: u64) -> anyhow::Result<Paged<String>> {
    let (rows, next_cursor) =
        page_of(app.jobs.rows(&job.id, cursor, REPORT_ROWS_PER_PAGE + 1).await?, REPORT_ROWS_PER_PAGE);
    Ok(Paged { items: vec![report_csv(job.kind, &rows)?], next_cursor })
}

/// A page of `size` from `size + 1` rows read: a next cursor only when a row is left over
/// (so a last page is never followed by an empty one).
fn page_of(mut rows: Vec<RowOutcome>, size: usize) -> (Vec<RowOutcome>, Option<String>) {
    if rows.len() <= size {
        return (rows, None);
    }
    rows.truncate(size);
    let next = rows.last().map(|r| r.row.to_string());
    (rows, next)
}

/// The per-row report: every field quoted, and a cell that a spreadsheet would take for a
/// formula (`=`, `+`, `-`, `@`, tab, CR) prefixed with `'` (OWASP CSV injection). Results are
/// named as the job's kind names them.
pub fn report_csv(kind: crate::domain::JobKind, outcomes: &[RowOutcome]) -> anyhow::Result<String> {
    let rows = outcomes.iter().map(|outcome| {
        let result = kind.outcome_name(outcome.result);
        vec![
            outcome.row.to_string(),
            outcome.email.clone(),
            result.to_owned(),
            outcome.code.clone(),
            outcome.message.clone(),
        ]
    });
    safe_csv(&["row", "email", "result", "code", "message"], rows)
}

/// A table as CSV the way the report is written (every field quoted, formula cells defused):
/// every export of the service (the report, the audit, the learners list) goes through here.
pub fn safe_csv(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> anyhow::Result<String> {
    let mut writer = csv::WriterBuilder::new().quote_style(csv::QuoteStyle::Always).from_writer(Vec::new());
    writer.write_record(header.iter().map(|cell| defuse(cell)))?;
    for row in rows {
        writer.write_record(row.iter().map(|cell| defuse(cell)))?;
    }
    Ok(String::from_utf8(writer.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)?)
}

fn defuse(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{JobKind, RowResult};
    use proptest::prelude::*;

    #[test]
    fn formula_cells_are_defused_and_every_field_quoted() {
        let outcome = RowOutcome::new(7, "=cmd|' /C calc'!A0", RowResult::Failed, "invalid_email", "+1");
        let report = report_csv(JobKind::BulkRegistration, &[outcome]).unwrap();
        assert_eq!(report, "\"row\",\"email\",\"result\",\"code\",\"message\"\n\"7\",\"'=cmd|' /C calc'!A0\",\"failed\",\"invalid_email\",\"'+1\"\n");
        for dangerous in ["=1", "+1", "-1", "@x", "\tx", "\rx"] {
            assert!(defuse(dangerous).starts_with('\''));
        }
        assert_eq!(defuse("Ada"), "Ada");
    }

    #[test]
    fn a_deletion_report_names_its_results_its_own_way() {
        let rows = [
            RowOutcome::new(1, "", RowResult::Done, "deleted", ""),
            RowOutcome::new(2, "", RowResult::Skipped, "not_found", ""),
        ];
        let report = report_csv(JobKind::Deletion, &rows).unwrap();
        assert!(report.contains("\"1\",\"\",\"deleted\"") && report.contains("\"2\",\"\",\"not_found\""), "{report}");
    }

    #[test]
    fn a_cursor_is_a_row_number() {
        assert_eq!(parse_cursor(None).unwrap(), 0);
        assert_eq!(parse_cursor(Some("120")).unwrap(), 120);
        assert!(parse_cursor(Some("x")).is_err());
        assert!(parse_cursor(Some("-1")).is_err());
        assert!(parse_cursor(Some("9999999999")).is_err());
        assert!(parse_cursor(Some("18446744073709551615")).is_err());
    }

    proptest! {
        #[test]
        fn report_cells_never_start_a_formula(cells in proptest::collection::vec("\\PC{0,12}", 1..5)) {
            let outcomes: Vec<RowOutcome> = cells.iter().enumerate().map(|(i, c)| RowOutcome::new(i as u64, c, RowResult::Failed, "x", c.clone())).collect();
            let report = report_csv(JobKind::BulkRegistration, &outcomes).unwrap();
            let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(report.as_bytes());
            for record in reader.records() {
                for cell in record.unwrap().iter() {
                    prop_assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']));
                }
            }
        }
    }
}
