//! The console's files of any size (issue 24): the first step ("Continue", with the choice of
//! invitations and the operator's confirmation) reserves a job; the second page is a form that
//! posts the file straight to the uploads' bucket, under a POST policy signed for that job's
//! object alone, and S3 sends the browser on to the job's page. No JavaScript, and the file
//! never passes through a function (a synchronous Lambda invocation carries at most 6 MB).

use super::{confirm_field, console_page, first_problem, AskFor, ConfirmField};
use crate::domain::JobKind;
use crate::http::pages::Page;
use crate::http::FieldErrors;
use askama::Template;

/// What the two steps say and where they post, per kind of job.
struct Wording {
    title: &'static str,
    action: &'static str,
    /// What uploading the file does, said before it is done.
    effect: &'static str,
}

fn wording(kind: JobKind) -> Wording {
    match kind {
        JobKind::BulkRegistration => Wording {
            title: "Bulk registration of a large file",
            action: "/operator/bulk/upload",
            effect: "Every good row of the file is registered as soon as it arrives: there is no check page \
before. Check a small part of the file first (above 5.9 MB, split it) if you are unsure of it.",
        },
        JobKind::Deletion => Wording {
            title: "Deletions from a large file",
            action: "/operator/deletions/upload",
            effect: "Every account the file lists is deleted as soon as it arrives: there is no check page \
before, and deletions cannot be undone.",
        },
    }
}

#[derive(Template)]
#[template(path = "console/upload_options.html")]
struct UploadOptions<'a> {
    problem: Option<&'a str>,
    action: &'static str,
    effect: &'static str,
    bulk: bool,
    invite: bool,
    attempt: Option<&'a str>,
    confirm: Option<ConfirmField<'a>>,
}

/// A fresh name for one press of a large file's "Continue" (a hidden field of the form): the
/// same press sent again (a refreshed page, a double click) reserves the same job.
pub fn new_attempt() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The first step of a large file: its options (the invitations, for a bulk registration) and
/// the operator's confirmation, when it is needed; "Continue" reserves the job.
pub fn upload_options(
    kind: JobKind,
    invite: bool,
    attempt: Option<&str>,
    needed: Option<AskFor>,
    errors: &FieldErrors,
) -> Page {
    let words = wording(kind);
    let page = UploadOptions {
        problem: first_problem(errors),
        action: words.action,
        effect: words.effect,
        bulk: kind == JobKind::BulkRegistration,
        invite,
        attempt,
        confirm: confirm_field(needed, errors),
    };
    console_page(words.title, &page)
}

#[derive(Template)]
#[template(path = "console/upload_send.html")]
struct UploadSend<'a> {
    job_id: &'a str,
    effect: &'static str,
    invite: bool,
    bulk: bool,
    url: &'a str,
    fields: &'a [(String, String)],
    max_mb: u64,
    minutes: u64,
}

/// The second step: the form that posts the file to `url` with the signed `fields` (the
/// policy's, rendered as hidden fields before the file, which S3 takes last).
pub fn upload_send(
    kind: JobKind,
    job_id: &str,
    invite: bool,
    url: &str,
    fields: &[(String, String)],
    max_bytes: u64,
    valid_for: std::time::Duration,
) -> Page {
    let words = wording(kind);
    let page = UploadSend {
        job_id,
        effect: words.effect,
        invite,
        bulk: kind == JobKind::BulkRegistration,
        url,
        fields,
        max_mb: max_bytes / (1024 * 1024),
        minutes: valid_for.as_secs() / 60,
    };
    console_page(words.title, &page)
}
