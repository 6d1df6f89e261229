//! The console's audit page, `GET /operator/audit` (`flows::audit`): the filters (operator,
//! action, learner, dates), a page of entries newest first, "Next page", and "Export" (the
//! same URL with `format=csv`: the entries the filters name as a CSV file, the export itself
//! audited). Behind the console's own gate (the operator role, the second factor) like every
//! console route: an export is no way around it.

use super::Console;
use crate::flows::audit::{self, AuditRequest};
use crate::flows::directory::{day_of, FindError};
use crate::http::console_pages::{self as console, AuditForm, AuditLine};
use crate::http::response::{self, Reply};
use crate::http::{query_param, ApiError};
use crate::App;
use lambda_http::Request;

pub(super) async fn page(app: &App, req: &Request, console: &Console) -> Result<Reply, ApiError> {
    let typed = |name: &str| query_param(req, name).unwrap_or_default().trim().to_owned();
    // The learner filter was `email` before: a link of then still works.
    let learner = Some(typed("learner")).filter(|l| !l.is_empty()).unwrap_or_else(|| typed("email"));
    let (operator, action) = (typed("operator"), typed("action"));
    let parsed = AuditRequest::parse(|name| match name {
        "learner" => Some(learner.clone()),
        other => query_param(req, other),
    });
    let form = |request: &AuditRequest| AuditForm {
        operator: &operator,
        action: &action,
        learner: &learner,
        from: request.from.map(day_of).unwrap_or_else(|| typed("from")),
        to: request.to.map(day_of).unwrap_or_else(|| typed("to")),
    };
    let request = match parsed {
        Ok(request) => request,
        Err(FindError::Invalid(_, why)) => {
            let empty = AuditRequest::default();
            let form = AuditForm { from: typed("from"), to: typed("to"), ..form(&empty) };
            return Ok(response::page(400, console::audit(&form, &[], None, export_link(&empty), Some(&why))));
        }
        Err(FindError::Unexpected(e)) => return Err(ApiError::unexpected(&e)),
    };
    if query_param(req, "format").as_deref() == Some("csv") {
        return match audit::export_csv(app, &console.actor, &request).await {
            Ok((csv, next)) => Ok(response::csv_download(csv, "audit.csv", next.map(|c| c.encode()))),
            Err(FindError::Invalid(_, why)) => {
                Ok(response::page(400, console::audit(&form(&request), &[], None, export_link(&request), Some(&why))))
            }
            Err(FindError::Unexpected(e)) => Err(ApiError::unexpected(&e)),
        };
    }
    let found = match audit::find(app, &request).await {
        Ok(found) => found,
        Err(FindError::Invalid(_, why)) => {
            return Ok(response::page(
                400,
                console::audit(&form(&request), &[], None, export_link(&request), Some(&why)),
            ))
        }
        Err(FindError::Unexpected(e)) => return Err(ApiError::unexpected(&e)),
    };
    let lines: Vec<AuditLine> = found
        .entries
        .into_iter()
        .map(|d| AuditLine {
            at: d.entry.at,
            who: d.who,
            action: d.entry.action,
            learner: d.learner,
            outcome: d.entry.outcome,
        })
        .collect();
    let next = found.next.map(|cursor| {
        let query = request.query_string();
        let separator = if query.is_empty() { "" } else { "&" };
        format!("/operator/audit?{query}{separator}cursor={}", cursor.encode())
    });
    Ok(response::page(200, console::audit(&form(&request), &lines, next, export_link(&request), None)))
}

/// "Export": the filters as they are, as CSV.
fn export_link(request: &AuditRequest) -> String {
    let query = request.query_string();
    let separator = if query.is_empty() { "" } else { "&" };
    format!("/operator/audit?{query}{separator}format=csv")
}
