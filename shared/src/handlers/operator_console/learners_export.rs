//! "Export" on "Search learners": `GET /operator/learners?...&format=csv`, the learners the
//! filters name as a CSV file (`flows::directory::export_csv`: formula-safe, audited as
//! `export_learners` by the operator). Behind the console's own gate (the operator role, the
//! second factor) like every console route: an export is no way around it.

use super::Console;
use crate::flows::directory::{self, FindError, FindRequest};
use crate::http::console_pages as console;
use crate::http::response::{self, Reply};
use crate::http::ApiError;
use crate::App;

pub(super) async fn csv(app: &App, request: &FindRequest, console: &Console) -> Result<Reply, ApiError> {
    match directory::export_csv(app, &console.actor, request).await {
        Ok((csv, next)) => Ok(response::csv_download(csv, "learners.csv", next.map(|c| c.encode()))),
        Err(FindError::Invalid(_, why)) => {
            let form = console::ListForm {
                q: &request.q,
                status: request.status,
                source: request.source,
                created_from: String::new(),
                created_to: String::new(),
            };
            Ok(response::page(400, console::learner_list(&form, &[], None, None, Some(&why))))
        }
        Err(FindError::Unexpected(e)) => Err(ApiError::unexpected(&e)),
    }
}

/// "Export": the filters as they are (no cursor: the whole list), as CSV.
pub(super) fn link(request: &FindRequest) -> String {
    let query = request.query_string();
    let separator = if query.is_empty() { "" } else { "&" };
    format!("/operator/learners?{query}{separator}format=csv")
}
