//! Finding learners, the audit and the exports (issue 26, points 1, 4, 5 and 6), in the
//! browser: "Search learners" finds a learner by the start of their address, "Locked now" shows
//! a locked learner, "Past jobs" lists a finished job; the audit page's filters and "Next page"
//! go through more than two pages without a repeat or a gap; both "Export" links download the
//! rows the filters name, with a cell a spreadsheet would take for a formula neutralised.
//!
//! A child of `console`, for its operator helpers.

use super::Journey;
use learners::domain::{AuditEntry, UserId};
use learners::flows::registration::{register, RegistrationForm};
use learners_tests::{email, unique, Backend};
use std::collections::BTreeSet;

/// A spreadsheet formula, as a learner could type it for their name.
const FORMULA: &str = "=cmd|' /C calc'!A0";

/// The numbers of the `note N` outcomes on the page.
fn notes(text: &str) -> BTreeSet<u32> {
    text.split("note ")
        .skip(1)
        .filter_map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .collect()
}

async fn an_operator_finds_learners_reads_the_audit_and_exports(backend: Backend) {
    let j = Journey::start(backend, &[("LEARNERS_MAX_FAILED_LOGINS", "3")]).await;
    let b = &j.browser;
    let operator = j.operator().await;
    // A learner whose name is a formula, found by the start of their address.
    let tag = unique("fx");
    let trapped = format!("{tag}@example.org");
    let form = RegistrationForm {
        email: trapped.clone(),
        username: unique("fx"),
        name: FORMULA.into(),
        password: learners_tests::PASSWORD.into(),
        terms_accepted: true,
    };
    register(&j.site.app, &form).await.expect("registration");
    let other = j.active_learner().await;
    let locked = j.active_learner().await;
    for _ in 0..3 {
        assert!(!j.can_sign_in(&locked, "not the password at all").await);
    }
    // A finished bulk registration.
    let cohort = email("cohort-");
    let csv = format!("email,username,name\n{cohort},{},Cohort Member\n", unique("member"));
    let accepted = j.site.admin_post_csv("/admin/v1/bulk-registrations", csv).await;
    assert_eq!(accepted.status(), 202);
    let job_id = accepted.json::<serde_json::Value>().await.unwrap()["job_id"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        j.site.settle().await;
        let status = j.site.admin_get(&format!("/admin/v1/bulk-registrations/{job_id}")).await;
        if status.json::<serde_json::Value>().await.unwrap()["status"] == "completed" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the job did not complete");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    j.open_console_as(&operator).await;
    b.follow("Search learners").await;
    b.fill("Start of an email or username, or a user id", &tag).await;
    b.press("Search learners").await;
    let found = b.text().await;
    assert!(found.contains(&trapped) && !found.contains(&other), "{found}");
    b.snap("console-search-learners").await;

    // "Export": the learners the search names, the formula defused.
    let exported = b.download("Export").await;
    let mut reader = csv::Reader::from_reader(exported.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1, "{exported}");
    assert_eq!(&rows[0][1], trapped.as_str());
    assert_eq!(&rows[0][3], format!("'{FORMULA}"), "neutralised: {exported}");

    b.follow("Locked now").await;
    let locked_now = b.text().await;
    assert!(locked_now.contains(&locked) && !locked_now.contains(&other), "{locked_now}");

    b.follow("Past jobs").await;
    let jobs = b.text().await;
    assert!(jobs.contains(&job_id) && jobs.contains("completed"), "{jobs}");

    // The card is a look on record; so is the export.
    j.find_learner(&other).await;
    b.follow("Audit").await;
    b.fill("Action", "view").await;
    b.press("Filter").await;
    let views = b.text().await;
    assert!(views.contains(&other) && views.contains(&operator), "who viewed whom:\n{views}");
    assert!(!views.contains("export_learners"), "{views}");
    b.fill("Action", "export_learners").await;
    b.press("Filter").await;
    assert!(b.text().await.contains(&format!("1 learners; q={tag}")), "{}", b.text().await);

    // 120 entries of one action: three pages, none twice, none missing.
    let now = j.site.app.clock.now();
    let subject = UserId::generate();
    for n in 0..120_i64 {
        let outcome = if n == 0 { FORMULA.to_owned() } else { format!("note {n}") };
        let entry =
            AuditEntry::new(now.plus_seconds(-n * 60), "arn:aws:iam::1:user/sweep", "unlock", &subject, outcome);
        j.site.app.audit.record(&entry).await.unwrap();
    }
    b.fill("Action", "unlock").await;
    b.fill("Operator (email or IAM ARN)", "user/sweep").await;
    b.press("Filter").await;
    let mut seen = BTreeSet::new();
    let mut pages = 1;
    loop {
        let page = notes(&b.text().await);
        assert!(page.is_disjoint(&seen), "a repeat on page {pages}");
        seen.extend(page);
        if !b.has("a[rel=next]").await {
            break;
        }
        b.follow("Next page").await;
        pages += 1;
        assert!(pages < 10);
    }
    assert!(pages >= 3, "{pages} pages");
    assert_eq!(seen, (1..120).collect::<BTreeSet<u32>>(), "no gap");
    b.snap("console-audit-filtered").await;

    // "Export": the filtered entries, the formula defused.
    b.follow("Audit").await;
    b.fill("Action", "unlock").await;
    b.fill("Operator (email or IAM ARN)", "user/sweep").await;
    b.press("Filter").await;
    let exported = b.download("Export").await;
    let mut reader = csv::Reader::from_reader(exported.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 120, "{exported}");
    assert!(rows.iter().all(|r| &r[2] == "unlock"));
    assert!(rows.iter().any(|r| r[5] == format!("'{FORMULA}")), "neutralised");
    assert!(!exported.contains(&format!("\"{FORMULA}")), "{exported}");
    j.finish().await;
}

in_the_browser! {
    an_operator_finds_learners_reads_the_audit_and_exports: memory, moto;
}
