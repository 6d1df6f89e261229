//! Files of any size from the console (issue 24), in the browser: the operator chooses the
//! options ("Continue", confirmed with the second factor when not done in the last 5 minutes),
//! then the file, which the page's form posts straight to the uploads' bucket (the memory
//! backend's, served by the local gateway as S3 serves a POST policy); the bucket sends the
//! browser on to the job's page, and the job completes with exact counts. A 20 MB
//! registration file, and a deletion file through the same path.

use super::Journey;
use learners::domain::JobStatus;
use learners_tests::{email, unique, Backend};
use std::time::{Duration, Instant};

/// About `target_bytes` in `rows` good rows (an extra `notes` column, which the intake does
/// not read, makes them wide: 20 MB of narrow rows, 300,000 registrations, would keep a debug
/// build busy for minutes; `learnerctl`'s test sends a million) and one row that is no address.
fn wide_file(rows: usize, target_bytes: usize) -> (String, Vec<String>) {
    let notes = "n".repeat(target_bytes / rows);
    let mut csv = String::with_capacity(target_bytes + rows * 80);
    csv.push_str("email,username,name,notes\n");
    let mut addresses = Vec::with_capacity(rows);
    for i in 0..rows {
        let address = email(&format!("wide{i}-"));
        csv.push_str(&format!("{address},{},Wide Row {i},{notes}\n", unique("wide")));
        addresses.push(address);
    }
    csv.push_str(&format!("not-an-address,{},Broken Row,\n", unique("broken")));
    (csv, addresses)
}

/// The job whose page the browser is on, once it has completed (the page refreshes itself
/// every 2 seconds; a 20 MB file takes longer than `wait_for_text`'s 30 s in a debug build).
async fn completed_job(j: &Journey, limit: Duration) -> String {
    let path = j.browser.path().await;
    let id = path.strip_prefix("/operator/jobs/").expect("on a job's page").to_owned();
    // On moto the test is the bucket's notification (the memory backend's gateway started the
    // intake already).
    if let Some(bucket) = j.site.app.config.upload_bucket.as_deref().filter(|_| j.site.aws.is_some()) {
        let job = j.site.app.jobs.job(&id).await.unwrap().expect("the job");
        let key = learners::jobs::object_key(job.kind, &id);
        let event = learners::handlers::intake::object_created(bucket, &key);
        learners::handlers::intake::handle(&j.site.app, event).await.expect("the intake");
    }
    let deadline = Instant::now() + limit;
    loop {
        let progress = learners::jobs::progress(&j.site.app, &id).await.unwrap().expect("the job");
        if progress.status == JobStatus::Completed {
            break;
        }
        assert!(Instant::now() < deadline, "job {id} is {:?} after {limit:?}", progress.status);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    j.browser.wait_for_text("#job-status", "completed").await;
    id
}

async fn a_twenty_megabyte_file_goes_straight_to_the_bucket(backend: Backend) {
    let j = Journey::start(backend, &[]).await;
    let b = &j.browser;
    let operator = j.operator().await;
    // Moto's DynamoDB takes tens of milliseconds a row: fewer, wider rows there.
    let rows = if backend == Backend::Moto { 100 } else { 40_000 };
    let (csv, addresses) = wide_file(rows, 20 * 1024 * 1024);
    assert!(csv.len() > 20 * 1024 * 1024, "{} bytes", csv.len());
    let file = learners_tests::file_named("cohort.csv", &csv);

    j.open_console_as(&operator).await;
    b.follow("Bulk registration").await;
    assert!(b.text().await.contains("Files of any size"), "{}", b.text().await);
    // Confirmed more than 5 minutes ago: "Continue" asks for the second factor first.
    j.site.clock.advance(301);
    b.press("Continue").await;
    assert_eq!(b.path().await, "/operator/bulk/upload");
    assert!(!b.has_button("Upload file").await, "no upload form before the confirmation");
    assert!(b.text().await.contains("there is no check page"), "{}", b.text().await);
    b.fill("Code from your app", "000000").await;
    b.press("Continue").await;
    assert_eq!(b.status().await, 403);
    assert!(!b.has_button("Upload file").await, "a wrong code gives no upload form");
    j.confirm_with_code(&operator).await;
    b.press("Continue").await;
    let waiting = b.text_of("#upload-job").await;
    assert!(waiting.contains("up to 100 MB") && waiting.contains("No mail is sent"), "{waiting}");
    b.snap("console-upload-send").await;

    b.choose_file("CSV file", &file).await;
    b.press("Upload file").await;
    assert!(b.path().await.starts_with("/operator/jobs/"), "back from the bucket: {}", b.url().await);
    let id = completed_job(&j, Duration::from_secs(600)).await;
    b.snap("console-upload-job").await;
    let page = b.text().await;
    let total = rows + 1;
    for line in [format!("Rows\n{total}"), format!("Created\n{rows}"), "Failed\n1".to_owned()] {
        assert!(page.contains(&line) || page.contains(&line.replace('\n', " ")), "{line:?} in:\n{page}");
    }
    assert!(page.contains("not-an-address"), "the refused row is listed:\n{page}");
    for address in [&addresses[0], &addresses[rows / 2], &addresses[rows - 1]] {
        assert_eq!(j.status_of(address).await.as_deref(), Some("active"), "{address}");
    }
    let job = j.site.app.jobs.job(&id).await.unwrap().expect("the job");
    assert!(!job.invite, "the invitation was not chosen");
    assert!(j.site.mail_to(&addresses[0]).await.is_empty(), "no invitation mailed");
    let _ = std::fs::remove_dir_all(file.parent().expect("its directory"));
    j.finish().await;
}

async fn a_deletion_file_goes_the_same_way(backend: Backend) {
    let j = Journey::start(backend, &[]).await;
    let b = &j.browser;
    let operator = j.operator().await;
    let (erin, fay, kept) = (email("erin"), email("fay"), email("kept"));
    for address in [&erin, &fay, &kept] {
        j.site.active_account(address, &unique("learner")).await;
    }
    let file = learners_tests::file_named("leavers.csv", format!("email\n{erin}\n{fay}\n{}\n", email("nobody")));

    j.open_console_as(&operator).await;
    b.follow("Deletions").await;
    b.press("Continue").await;
    // Confirmed at sign-in a moment ago: straight to the upload form.
    assert!(b.text_of("#upload-job").await.contains("up to 100 MB"));
    assert!(b.text().await.contains("deletions cannot be undone"), "{}", b.text().await);
    b.choose_file("CSV file", &file).await;
    b.press("Upload file").await;
    completed_job(&j, Duration::from_secs(60)).await;
    let page = b.text().await;
    for line in ["Rows\n3", "Deleted\n2", "Not found\n1"] {
        assert!(page.contains(line) || page.contains(&line.replace('\n', " ")), "{line:?} in:\n{page}");
    }
    assert!(j.status_of(&erin).await.is_none() && j.status_of(&fay).await.is_none(), "the listed ones are gone");
    assert_eq!(j.status_of(&kept).await.as_deref(), Some("active"), "only the listed ones");
    let _ = std::fs::remove_dir_all(file.parent().expect("its directory"));
    j.finish().await;
}

in_the_browser! {
    a_twenty_megabyte_file_goes_straight_to_the_bucket: memory, moto;
    a_deletion_file_goes_the_same_way: memory, moto;
}
