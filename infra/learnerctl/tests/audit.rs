//! `learnerctl audit` with the log's filters (issue 26, point 5): a look-up by `learnerctl user`
//! is on record as `view`; the log across accounts filtered by operator, one page and then
//! every page without a repeat; the CSV export with a formula cell neutralised.

use learners::domain::{AuditEntry, UserId};
use learners_tests::{Backend, TestApp, ADMIN_TOKEN};
use std::collections::HashSet;
use std::process::{Command, Output, Stdio};

const BINARY: &str = env!("CARGO_BIN_EXE_learnerctl");

/// Runs learnerctl against `app` (off the async runtime, which serves the gateway).
async fn learnerctl(app: &TestApp, args: &[&str]) -> Output {
    let mut command = Command::new(BINARY);
    command.args(args).env("LEARNERS_API_URL", &app.base_url).env("LEARNERS_ADMIN_TOKEN", ADMIN_TOKEN);
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    tokio::task::spawn_blocking(move || command.output().expect("learnerctl runs")).await.unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learnerctl_pages_filters_and_exports_the_audit() {
    let app = TestApp::spawn(Backend::Memory).await;
    let ada = app.activated_learner("ada-", "Ada Lovelace").await;
    assert!(learnerctl(&app, &["user", &ada]).await.status.success());
    let views = learnerctl(&app, &["audit", &ada, "--action", "view"]).await;
    assert!(views.status.success(), "{}", text(&views.stderr));
    let views = text(&views.stdout);
    assert_eq!(views.lines().count(), 1, "one look, one entry:\n{views}");
    assert!(views.contains("\tview\tdone\t"), "{views}");

    let now = app.app.clock.now();
    let subject = UserId::generate();
    for n in 0..60_i64 {
        let outcome = if n == 0 { "=1+1".to_owned() } else { format!("note {n}") };
        let entry =
            AuditEntry::new(now.plus_seconds(-n * 60), "arn:aws:iam::1:user/sweep", "unlock", &subject, outcome);
        app.app.audit.record(&entry).await.unwrap();
    }
    let first = learnerctl(&app, &["audit", "--operator", "user/sweep"]).await;
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert_eq!(text(&first.stdout).lines().count(), 50);
    assert!(text(&first.stderr).contains("--cursor "), "{}", text(&first.stderr));
    let every = learnerctl(&app, &["audit", "--operator", "user/sweep", "--all"]).await;
    let lines: Vec<String> = text(&every.stdout).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 60);
    assert_eq!(lines.iter().collect::<HashSet<_>>().len(), 60, "no entry twice");
    assert!(lines.iter().all(|l| l.contains("\tunlock\t") && l.ends_with(subject.as_str())));

    let csv = learnerctl(&app, &["audit", "--operator", "user/sweep", "--csv"]).await;
    assert!(csv.status.success(), "{}", text(&csv.stderr));
    let csv = text(&csv.stdout);
    assert_eq!(csv.lines().count(), 61, "the header and 60 entries");
    assert!(csv.contains("\"'=1+1\""), "the formula neutralised:\n{csv}");

    let neither = learnerctl(&app, &["audit"]).await;
    assert_eq!(neither.status.code(), Some(2), "still an email, --user-id or a filter");
}
