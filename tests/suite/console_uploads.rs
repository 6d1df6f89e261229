//! The console's files of any size (issue 24): the form that posts a file straight to the
//! uploads' bucket, abused as docs/security.md ("Console uploads") says it may be. The policy
//! is for one job's key, with a size range and the job's page as its only redirect; a form
//! altered to another key or another redirect is refused by the bucket (S3 on moto, the local
//! gateway on the memory backend); the same form posted again leaves the job as the first file
//! made it; and a cross-site post of the first step reserves nothing. The journey itself (20 MB,
//! in the browser) is tests/browser/console/large_files.rs.

use crate::contract::uploads::post_form;
use learners::domain::{JobKind, JobStatus};
use learners::ports::SignedUpload;
use learners_tests::console;
use learners_tests::{email, on_both_backends, unique, Backend, TestApp, PASSWORD};

/// An operator (no second factor required here) signed in a moment ago: the console's
/// confirmation is recent, so "Continue" goes straight to the upload form.
async fn operator_cookie(app: &TestApp) -> String {
    let address = email("operator-");
    app.active_account(&address, &unique("operator")).await;
    let iam = "arn:aws:iam::000000000000:user/test-admin";
    learners::flows::admin::set_operator_role(&app.app, iam, &address, true).await.unwrap();
    app.session_cookie(&address, PASSWORD).await
}

fn unescape(value: &str) -> String {
    value
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#43;", "+")
        .replace("&#47;", "/")
        .replace("&#61;", "=")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&quot;", "\"")
        .replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

/// The text between `start` and the next `end` after it, from `from`.
fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let at = text.find(start)? + start.len();
    let len = text[at..].find(end)?;
    Some(&text[at..at + len])
}

/// The upload form of a page, as the browser would send it.
fn upload_form(page: &str) -> SignedUpload {
    let form = page.split("enctype=\"multipart/form-data\"").next().expect("a page");
    let url =
        unescape(form.rsplit("action=\"").next().and_then(|rest| rest.split('"').next()).expect("the form's action"));
    let mut fields = Vec::new();
    let mut rest = page;
    while let Some(at) = rest.find("<input type=\"hidden\" name=\"") {
        rest = &rest[at..];
        let name = between(rest, "name=\"", "\"").expect("a name");
        let value = between(rest, "value=\"", "\"").expect("a value");
        fields.push((unescape(name), unescape(value)));
        rest = &rest[1..];
    }
    SignedUpload { method: "POST", url, headers: Vec::new(), fields }
}

fn field<'a>(form: &'a SignedUpload, name: &str) -> &'a str {
    form.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).unwrap_or_default()
}

fn with_field(form: &SignedUpload, name: &str, value: &str) -> SignedUpload {
    let mut altered = form.clone();
    for (n, v) in &mut altered.fields {
        if n == name {
            *v = value.to_owned();
        }
    }
    altered
}

/// "Continue" on the bulk form: a reserved job's id and its upload form.
async fn reserve(app: &TestApp, cookie: &str) -> (String, SignedUpload) {
    let response = console::post(app, cookie, "/operator/bulk/upload", &[]).await;
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    let form = upload_form(&page);
    let key = field(&form, "key").to_owned();
    let (kind, id) = learners::jobs::job_of_key(&key).unwrap_or_else(|| panic!("a job's key: {key:?}\n{page}"));
    assert_eq!(kind, JobKind::BulkRegistration);
    (id.to_owned(), form)
}

/// What S3's notification does (on moto; the memory backend's gateway did it already), and
/// the queues drained.
async fn arrived(app: &TestApp, key: &str) {
    if let Some(bucket) = app.app.config.upload_bucket.as_deref().filter(|_| app.aws.is_some()) {
        let event = learners::handlers::intake::object_created(bucket, key);
        learners::handlers::intake::handle(&app.app, event).await.expect("the intake");
    }
    app.settle().await;
}

async fn job_status(app: &TestApp, id: &str) -> (JobStatus, u64) {
    let progress = learners::jobs::progress(&app.app, id).await.unwrap().expect("the job");
    (progress.status, progress.job.total)
}

on_both_backends!(the_upload_form_works_for_its_own_job_only);

async fn the_upload_form_works_for_its_own_job_only(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("LEARNERS_OPERATOR_SECOND_FACTOR", "optional")]).await;
    let cookie = operator_cookie(&app).await;
    let (first, form) = reserve(&app, &cookie).await;
    let (second, _) = reserve(&app, &cookie).await;
    assert_ne!(first, second, "a job each time");
    let ada = email("ada-");
    let file = format!("email,username,name\n{ada},{},Ada Lovelace\n", unique("ada")).into_bytes();

    let other_key = learners::jobs::object_key(JobKind::BulkRegistration, &second);
    if backend == Backend::Moto {
        // What S3 holds the form to (moto stores what it is sent without reading the policy's
        // conditions: S3 refuses a field the policy does not match with 403 AccessDenied).
        use base64::Engine;
        let policy = base64::engine::general_purpose::STANDARD.decode(field(&form, "policy")).unwrap();
        let policy: serde_json::Value = serde_json::from_slice(&policy).unwrap();
        let conditions = policy["conditions"].to_string();
        let back = format!("{}/operator/jobs/{first}", app.app.config.site_url);
        for pinned in [
            "[\"content-length-range\",1,104857600]".to_owned(),
            format!("{{\"key\":\"uploads/bulk_registration/{first}.csv\"}}"),
            format!("{{\"success_action_redirect\":\"{back}\"}}"),
        ] {
            assert!(conditions.contains(&pinned), "{pinned} in {conditions}");
        }
        // Valid 10 minutes from now (RFC 3339 compares as text, to the second).
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        let at = |seconds: i64| learners::domain::Timestamp::from_unix(now + seconds).to_rfc3339()[..19].to_owned();
        let expires = policy["expiration"].as_str().unwrap()[..19].to_owned();
        assert!(at(540) <= expires && expires <= at(601), "{expires}");
    } else {
        // Another job's key, or another page to go on to: the bucket refuses the form.
        let elsewhere = with_field(&form, "key", &other_key);
        assert_eq!(post_form(&app.client, &elsewhere, file.clone()).await.status(), 403);
        assert!(app.app.uploads.open(&other_key).await.unwrap().is_none(), "nothing stored for the other job");
        let redirected = with_field(&form, "success_action_redirect", "https://evil.example/phish");
        assert_eq!(post_form(&app.client, &redirected, file.clone()).await.status(), 403);
        let bigger = with_field(&form, "max_bytes", "1000000000000");
        assert_eq!(post_form(&app.client, &bigger, file.clone()).await.status(), 403);
        // An empty file: under the policy's range (S3: EntityTooSmall).
        let empty = post_form(&app.client, &form, Vec::new()).await;
        assert_eq!(empty.status(), 400);
        assert!(empty.text().await.unwrap().contains("EntityTooSmall"));
    }
    assert_eq!(job_status(&app, &first).await, (JobStatus::Receiving, 0), "the job still waits for its file");

    // As the page sends it: stored, and on to the job's page.
    let sent = post_form(&app.client, &form, file.clone()).await;
    assert_eq!(sent.status(), 303, "{:?}", sent.text().await);
    let location = sent.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&format!("{}/operator/jobs/{first}", app.app.config.site_url)), "{location}");
    let key = field(&form, "key").to_owned();
    arrived(&app, &key).await;
    assert_eq!(app.user(&ada).await.unwrap()["status"], "active");
    assert_eq!(job_status(&app, &first).await, (JobStatus::Completed, 1));

    // The same form again (replayed within its 10 minutes), with another file: the bucket takes
    // it, the job is as the first file left it, and nobody else is registered.
    let bob = email("bob-");
    let again =
        format!("email,username,name\n{bob},{},Bob\n{},{},Carol\n", unique("bob"), email("carol-"), unique("c"));
    assert_eq!(post_form(&app.client, &form, again.into_bytes()).await.status(), 303);
    arrived(&app, &key).await;
    assert_eq!(job_status(&app, &first).await, (JobStatus::Completed, 1));
    assert!(app.user(&bob).await.is_none(), "a replayed form starts nothing");
}

on_both_backends!(a_cross_site_post_reserves_no_job);

/// The first step from another site's page (the operator's cookie rides along): refused, and
/// no upload form is given.
async fn a_cross_site_post_reserves_no_job(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("LEARNERS_OPERATOR_SECOND_FACTOR", "optional")]).await;
    let cookie = operator_cookie(&app).await;
    for path in ["/operator/bulk/upload", "/operator/deletions/upload"] {
        let response = app
            .client
            .post(app.url(path))
            .header("cookie", &cookie)
            .header("origin", "https://evil.example")
            .header("sec-fetch-site", "cross-site")
            .header("content-type", "application/x-www-form-urlencoded")
            .body("invite=true")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{path}");
        let page = response.text().await.unwrap();
        assert!(!page.contains("Upload file") && !page.contains("uploads/"), "{path}: {page}");
    }
}

on_both_backends!(continue_pressed_again_is_the_same_job);

/// "Continue" sent again (the send page refreshed, a double click) reserves nothing more: the
/// page's `attempt` names its job. Another page, or the other choice, is another job; once the
/// file has come, the same press goes to the job's page; a forged `attempt` is refused.
async fn continue_pressed_again_is_the_same_job(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("LEARNERS_OPERATOR_SECOND_FACTOR", "optional")]).await;
    let cookie = operator_cookie(&app).await;
    let attempt_of = |path: &'static str| {
        let (app, cookie) = (&app, &cookie);
        async move {
            let page = app.with_cookie(reqwest::Method::GET, path, cookie).send().await.unwrap().text().await.unwrap();
            between(&page, "name=\"attempt\" value=\"", "\"").unwrap_or_else(|| panic!("{path}: {page}")).to_owned()
        }
    };
    let job_of = |response: reqwest::Response| async move {
        assert_eq!(response.status(), 200);
        let form = upload_form(&response.text().await.unwrap());
        let (_, id) = learners::jobs::job_of_key(field(&form, "key")).expect("a job's key");
        (id.to_owned(), form)
    };
    for (path, upload, options) in [
        ("/operator/bulk", "/operator/bulk/upload", vec![("invite", "true")]),
        ("/operator/deletions", "/operator/deletions/upload", vec![]),
    ] {
        let attempt = attempt_of(path).await;
        let fields: Vec<(&str, &str)> = [("attempt", attempt.as_str())].into_iter().chain(options.clone()).collect();
        let (first, form) = job_of(console::post(&app, &cookie, upload, &fields).await).await;
        let (again, _) = job_of(console::post(&app, &cookie, upload, &fields).await).await;
        assert_eq!(first, again, "{upload}: the same press, the same job");
        let other_page = attempt_of(path).await;
        assert_ne!(other_page, attempt, "a fresh attempt each page");
        let (other, _) = job_of(console::post(&app, &cookie, upload, &[("attempt", other_page.as_str())]).await).await;
        assert_ne!(other, first, "{upload}: another page, another job");
        if upload == "/operator/bulk/upload" {
            // The same page, back and pressed without the invitations: a job without them.
            let (without, _) =
                job_of(console::post(&app, &cookie, upload, &[("attempt", attempt.as_str())]).await).await;
            assert_ne!(without, first);
            let progress = learners::jobs::progress(&app.app, &without).await.unwrap().unwrap();
            assert!(!progress.job.invite);
        }

        // The file comes; the same press again shows the job, and no form for another file.
        let ada = email("ada-");
        let file = match upload {
            "/operator/bulk/upload" => format!("email,username,name\n{ada},{},Ada Lovelace\n", unique("ada")),
            _ => format!("email\n{ada}\n"),
        };
        assert_eq!(post_form(&app.client, &form, file.into_bytes()).await.status(), 303);
        arrived(&app, field(&form, "key")).await;
        assert_eq!(job_status(&app, &first).await.0, JobStatus::Completed);
        let after = console::post(&app, &cookie, upload, &fields).await;
        assert_eq!(after.status(), 303, "{upload}");
        assert_eq!(after.headers()["location"], format!("/operator/jobs/{first}").as_str());

        let forged = console::post(&app, &cookie, upload, &[("attempt", "<script>")]).await;
        assert_eq!(forged.status(), 422, "{upload}");
    }
}
