//! `learnerctl` as an operator runs it: the binary against a local gateway (bearer token), and
//! against stand-in APIs that record what arrives (its SigV4 signing, the paging the API is
//! getting, the keys of split uploads).

use learners_tests::{email, Backend, TestApp, ADMIN_TOKEN, PASSWORD};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

const BINARY: &str = env!("CARGO_BIN_EXE_learnerctl");

/// Runs learnerctl against `app` (off the async runtime, which serves the gateway).
async fn learnerctl(app: &TestApp, args: &[&str], stdin: Option<&str>) -> Output {
    learnerctl_with(app, args, stdin, &[]).await
}

/// `learnerctl`, with more environment (the split limits).
async fn learnerctl_with(app: &TestApp, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(BINARY);
    command.args(args).env("LEARNERS_API_URL", &app.base_url).env("LEARNERS_ADMIN_TOKEN", ADMIN_TOKEN);
    command.env_remove("LEARNERCTL_MAX_UPLOAD_BYTES").env_remove("LEARNERCTL_MAX_EMAILS").envs(env.iter().copied());
    run(command, stdin).await
}

async fn run(mut command: Command, stdin: Option<&str>) -> Output {
    let stdin = stdin.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().expect("learnerctl runs");
        if let Some(input) = stdin {
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        }
        drop(child.stdin.take());
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The value of a `Label: value` line of the text for people.
fn label(out: &str, name: &str) -> Option<String> {
    out.lines().find_map(|l| l.strip_prefix(&format!("{name}:"))).map(|v| v.trim().to_owned())
}

/// The cells of a table line (columns are two or more spaces apart).
fn cells(line: &str) -> Vec<String> {
    line.split("  ").map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned).collect()
}

/// The cells of the table line whose first column is `first`.
fn table_row(out: &str, first: &str) -> Option<Vec<String>> {
    out.lines().map(cells).find(|cells| cells.first().map(String::as_str) == Some(first))
}

/// Every line of standard output as JSON (`--json` prints one document a line).
fn json_lines(output: &Output) -> Vec<Value> {
    assert!(output.status.success(), "{}", text(&output.stderr));
    text(&output.stdout).lines().map(|l| serde_json::from_str(l).expect("a line of JSON")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_registers_a_cohort_and_supports_a_learner() {
    let app = TestApp::spawn(Backend::Memory).await;
    let (ada, bob) = (email("ada-"), email("bob-"));
    let dir = std::env::temp_dir().join(learners_tests::unique("learnerctl-"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("cohort.csv");
    std::fs::write(
        &file,
        format!(
            "email,username,name,password\n{ada},{},Ada L,{PASSWORD}\n{bob},{},Bob B,\nbroken,broken1,Broken,\n",
            learners_tests::unique("ada"),
            learners_tests::unique("bob")
        ),
    )
    .unwrap();
    let path = file.to_str().unwrap();

    let dry = learnerctl(&app, &["bulk-register", path, "--dry-run"], None).await;
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    assert!(text(&dry.stdout).contains("3 rows; 1 would not be registered."));
    assert!(app.user(&ada).await.is_none(), "a dry run creates nothing");

    let run = learnerctl(&app, &["bulk-register", path, "--wait"], None).await;
    assert!(run.status.success(), "{}", text(&run.stderr));
    let out = text(&run.stdout);
    assert!(out.contains("Completed: 2 created, 0 skipped, 1 failed of 3 rows."), "{out}");
    // The problem rows as a table: row, email, result, code, message.
    assert_eq!(table_row(&out, "row").unwrap(), ["row", "email", "result", "code", "message"], "{out}");
    assert_eq!(table_row(&out, "4").unwrap()[..4], ["4", "broken", "failed", "invalid_email"], "{out}");
    let job_id = out.split_whitespace().nth(1).unwrap().trim_end_matches(':').to_owned();
    let job = text(&learnerctl(&app, &["job", &job_id], None).await.stdout);
    assert_eq!(label(&job, "Job").as_deref(), Some(job_id.as_str()), "{job}");
    assert_eq!(label(&job, "Kind").as_deref(), Some("bulk registration"), "{job}");
    assert_eq!(label(&job, "Status").as_deref(), Some("completed"), "{job}");
    let counts = ["Rows", "Created", "Skipped", "Failed"].map(|l| label(&job, l).unwrap_or_default());
    assert_eq!(counts, ["3", "2", "0", "1"], "{job}");
    assert_eq!(table_row(&job, "4").unwrap()[..4], ["4", "broken", "failed", "invalid_email"], "{job}");
    // For scripts, the API's own answer.
    let job = &json_lines(&learnerctl(&app, &["--json", "job", &job_id], None).await)[..];
    assert_eq!(job.len(), 1);
    assert_eq!((job[0]["job_id"].as_str(), job[0]["status"].as_str()), (Some(job_id.as_str()), Some("completed")));
    assert_eq!((job[0]["created"].as_u64(), job[0]["errors"][0]["row"].as_u64()), (Some(2), Some(4)));
    assert!(out.contains(&format!("learnerctl report {job_id}")), "{out}");

    // The per-row report, signed like every call, to a file: a header and one line a row.
    let report_file = dir.join("report.csv");
    let report = learnerctl(&app, &["report", &job_id, "--output", report_file.to_str().unwrap()], None).await;
    assert!(report.status.success(), "{}", text(&report.stderr));
    let report = std::fs::read_to_string(&report_file).unwrap();
    assert_eq!(report.lines().count(), 4, "{report}");
    assert!(report.lines().any(|l| l.contains("invalid_email")), "{report}");

    let user = learnerctl(&app, &["user", &ada], None).await;
    assert!(user.status.success());
    let shown = text(&user.stdout);
    assert_eq!(label(&shown, "Email"), Some(ada.clone()), "{shown}");
    assert_eq!(label(&shown, "Status").as_deref(), Some("active"), "{shown}");
    assert_eq!(label(&shown, "Source").as_deref(), Some("bulk"), "{shown}");
    assert_eq!(label(&shown, "Locked until").as_deref(), Some("not locked"), "{shown}");
    let shown = &json_lines(&learnerctl(&app, &["--json", "user", &ada], None).await)[0];
    assert_eq!((shown["status"].as_str(), shown["source"].as_str()), (Some("active"), Some("bulk")));
    assert_eq!(shown["email"].as_str(), Some(ada.as_str()));

    // The password comes from standard input, never from the command line.
    let set = learnerctl(&app, &["set-password", &bob], Some("a phrase from stdin 9\n")).await;
    assert!(set.status.success(), "{}", text(&set.stderr));
    assert_eq!(app.sign_in(&bob, "a phrase from stdin 9").await.status(), 200);
    let told = app.mail_to(&bob).await.iter().any(|m| m.subject.contains("password was changed"));
    assert!(told, "an operator's new password is always notified");
    let silent = learnerctl(&app, &["set-password", &bob, "--no-notify"], Some("a phrase from stdin 10\n")).await;
    assert!(!silent.status.success(), "there is no silent option");
    let weak = learnerctl(&app, &["set-password", &bob], Some("password\n")).await;
    assert_eq!(weak.status.code(), Some(1));
    assert!(text(&weak.stderr).contains("validation_failed"), "{}", text(&weak.stderr));

    assert!(learnerctl(&app, &["unlock", &ada], None).await.status.success());
    assert!(learnerctl(&app, &["activate", &ada], None).await.status.success());
    let audit = text(&learnerctl(&app, &["audit", &ada], None).await.stdout);
    assert_eq!(table_row(&audit, "at").unwrap(), ["at", "action", "outcome", "operator"], "{audit}");
    // Newest first: the activation of an account already active.
    let newest = cells(audit.lines().nth(1).unwrap_or_default());
    assert_eq!(newest[1..3], ["activate", "no_change"], "{audit}");
    let audit = &json_lines(&learnerctl(&app, &["--json", "audit", &ada], None).await)[0];
    assert_eq!(audit["entries"][0]["action"], "activate");

    let bob_user = app.user(&bob).await.unwrap();
    let list = dir.join("leavers.txt");
    std::fs::write(&list, format!("{bob}\n{}\n", email("ghost-"))).unwrap();
    let deleted = learnerctl(&app, &["delete", "--emails", list.to_str().unwrap(), "--wait", "--yes"], None).await;
    assert!(deleted.status.success(), "{}", text(&deleted.stderr));
    assert!(
        text(&deleted.stdout).contains("Completed: 1 deleted, 1 not found, 0 failed of 2."),
        "{}",
        text(&deleted.stdout)
    );
    assert!(app.user(&bob).await.is_none());
    // After the deletion the address finds nothing; the user id still finds the record.
    let bob_id = bob_user["user_id"].as_str().unwrap().to_owned();
    let by_id = learnerctl(&app, &["audit", "--user-id", &bob_id], None).await;
    assert!(by_id.status.success(), "{}", text(&by_id.stderr));
    let entries = text(&by_id.stdout);
    let newest = cells(entries.lines().nth(1).unwrap_or_default());
    assert_eq!(newest[1], "delete", "{entries}");
    assert!(newest[2].starts_with("deleted by job "), "{entries}");
    let neither = learnerctl(&app, &["audit"], None).await;
    assert_eq!(neither.status.code(), Some(2));

    let unknown = learnerctl(&app, &["unlock", &email("ghost-")], None).await;
    assert_eq!(unknown.status.code(), Some(1));
    assert!(text(&unknown.stderr).contains("user_not_found"));
    let missing = learnerctl(&app, &["bulk-register", "/no/such/file.csv"], None).await;
    assert_eq!(missing.status.code(), Some(2), "a file that cannot be read is bad usage");
    let empty = learnerctl(&app, &["set-password", &ada], Some("\n")).await;
    assert_eq!(empty.status.code(), Some(2), "{}", text(&empty.stderr));

    // A deletion file whose header is not `email` is refused whole, by the CLI as by the API,
    // and nothing is queued.
    let wrong = dir.join("wrong-header.csv");
    std::fs::write(&wrong, format!("mail,name\n{ada},Ada\n")).unwrap();
    let refused = learnerctl(&app, &["delete", "--emails", wrong.to_str().unwrap()], None).await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused.stderr).contains("bad_columns"), "{}", text(&refused.stderr));
    let api = app.admin_post_csv("/admin/v1/deletions", std::fs::read(&wrong).unwrap()).await;
    assert_eq!(api.status(), 400);
    assert_eq!(api.json::<serde_json::Value>().await.unwrap()["error"]["code"], "bad_columns");
    assert!(app.user(&ada).await.is_some(), "nothing was deleted");
    let usage = learnerctl(&app, &["set-password"], None).await;
    assert_eq!(usage.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(dir);
}

/// An operator who lost their phone gets back in: `remove-second-factors` removes an operator's
/// second factors (the console never does), and the owner is told.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_second_factors_lets_an_operator_back_in() {
    let app = TestApp::spawn(Backend::Memory).await;
    let op = email("op-");
    app.active_account(&op, &learners_tests::unique("op")).await;
    assert!(learnerctl(&app, &["operators", "grant", &op], None).await.status.success());
    app.enrol_totp(&op).await;
    let password_alone = || async {
        let step = learners::flows::signin::sign_in(&app.app, &op, PASSWORD).await.expect("the password is right");
        step.signed_in().is_some()
    };
    assert!(!password_alone().await, "the code is asked");

    let removed = learnerctl(&app, &["remove-second-factors", &op], None).await;
    assert!(removed.status.success(), "{}", text(&removed.stderr));
    assert!(text(&removed.stdout).contains("the password alone signs in"), "{}", text(&removed.stdout));
    assert!(password_alone().await, "back in with the password");
    assert!(app.mail_to(&op).await.iter().any(|m| m.subject.contains("second factors of your")));
    let audit = text(&learnerctl(&app, &["audit", &op], None).await.stdout);
    let newest = cells(audit.lines().nth(1).unwrap_or_default());
    assert_eq!(newest[1..3], ["remove_second_factors", "done, learner notified"], "{audit}");

    let unknown = learnerctl(&app, &["remove-second-factors", &email("ghost-")], None).await;
    assert_eq!(unknown.status.code(), Some(1));
    assert!(text(&unknown.stderr).contains("user_not_found"), "{}", text(&unknown.stderr));
}

/// An operator's actions on one learner (issue 26): `disable` keeps the learner out, `enable`
/// lets them back in, `send-reset-link` mails one link, `sign-out` ends their sessions; an
/// unknown address is 1 (the API refused), a missing one 2 (usage).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_enable_send_reset_link_and_sign_out() {
    let app = TestApp::spawn(Backend::Memory).await;
    let ada = email("ada-");
    app.active_account(&ada, &learners_tests::unique("ada")).await;
    let disabled = learnerctl(&app, &["disable", &ada], None).await;
    assert!(disabled.status.success(), "{}", text(&disabled.stderr));
    assert!(text(&disabled.stdout).contains("is disabled"), "{}", text(&disabled.stdout));
    assert_eq!(app.sign_in(&ada, PASSWORD).await.status(), 401);
    assert!(learnerctl(&app, &["enable", &ada], None).await.status.success());
    assert_eq!(app.sign_in(&ada, PASSWORD).await.status(), 200);
    let mails = app.mail_to(&ada).await.len();
    assert!(learnerctl(&app, &["send-reset-link", &ada], None).await.status.success());
    let after = app.mail_to(&ada).await;
    assert_eq!(after.len(), mails + 1);
    assert!(after.last().unwrap().subject.starts_with("Reset your"));
    assert!(learnerctl(&app, &["sign-out", &ada], None).await.status.success());
    let pending = learnerctl(&app, &["resend-activation", &ada], None).await;
    assert_eq!(pending.status.code(), Some(1));
    assert!(text(&pending.stderr).contains("not_pending"), "{}", text(&pending.stderr));
    let unknown = learnerctl(&app, &["disable", &email("ghost-")], None).await;
    assert_eq!(unknown.status.code(), Some(1));
    assert_eq!(learnerctl(&app, &["disable"], None).await.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_email_moves_a_pending_learner_to_the_right_address() {
    let app = TestApp::spawn(Backend::Memory).await;
    let (typo, right, other) = (email("ada-typo-"), email("ada-"), email("bob-"));
    let old_link = app.register_and_get_link(&typo, &learners_tests::unique("ada")).await;
    app.active_account(&other, &learners_tests::unique("bob")).await;

    let moved = learnerctl(&app, &["change-email", &typo, &right], None).await;
    assert!(moved.status.success(), "{}", text(&moved.stderr));
    let said = text(&moved.stdout);
    assert!(said.contains(&format!("{typo} is now {right}")) && said.contains("new activation link"), "{said}");
    let link = app.mailed_link(&right, "Activate", "/activate/").await;
    assert_ne!(app.activate_link(&old_link).await.status(), 200, "the link sent to the typo is dead");
    assert_eq!(app.activate_link(&link).await.status(), 200);
    assert_eq!(app.sign_in(&right, PASSWORD).await.status(), 200);
    let audit = text(&learnerctl(&app, &["audit", &right], None).await.stdout);
    let newest = cells(audit.lines().nth(1).unwrap_or_default());
    assert_eq!(newest[1], "change_email", "{audit}");
    assert_eq!(newest[2], "done, activation link mailed to the new address", "{audit}");

    // Another account's address: refused, exit 1, nothing changes.
    let taken = learnerctl(&app, &["change-email", &right, &other], None).await;
    assert_eq!(taken.status.code(), Some(1), "{}", text(&taken.stderr));
    assert!(text(&taken.stderr).contains("email_taken"), "{}", text(&taken.stderr));
    assert_eq!(app.sign_in(&right, PASSWORD).await.status(), 200, "still at its address");
    let unknown = learnerctl(&app, &["change-email", &email("ghost-"), &email("new-")], None).await;
    assert_eq!(unknown.status.code(), Some(1));
    assert!(text(&unknown.stderr).contains("user_not_found"), "{}", text(&unknown.stderr));
    let invalid = learnerctl(&app, &["change-email", &right, "not-an-address"], None).await;
    assert_eq!(invalid.status.code(), Some(1));
    assert!(text(&invalid.stderr).contains("validation_failed"), "{}", text(&invalid.stderr));
    assert_eq!(learnerctl(&app, &["change-email", &right], None).await.status.code(), Some(2), "one address");
}

#[tokio::test]
async fn without_a_token_requests_are_sigv4_signed() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}").unwrap();
        String::from_utf8(head).unwrap().to_ascii_lowercase()
    });
    let output = tokio::task::spawn_blocking(move || {
        Command::new(BINARY)
            .args(["--api", &url, "user", "ada@example.com"])
            .env_remove("LEARNERS_ADMIN_TOKEN")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_PROFILE")
            .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
            .env("AWS_REGION", "eu-west-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let head = server.join().unwrap();
    assert!(head.starts_with("get /admin/v1/users?email=ada%40example.com http/1.1"), "{head}");
    let authorization = head.lines().find(|l| l.starts_with("authorization:")).expect("an Authorization header");
    assert!(authorization.contains("aws4-hmac-sha256 credential=akidexample/"), "{authorization}");
    assert!(authorization.contains("/eu-west-1/execute-api/aws4_request"), "{authorization}");
    assert!(authorization.contains("signedheaders=") && authorization.contains("signature="));
    assert!(head.contains("\r\nx-amz-date: "));
}

/// `learnerctl operators grant` gives the role; the operator signs in on `/login` in a real
/// browser and opens `/operator`. `list` shows them; `revoke` closes the console.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learnerctl_grants_the_role_and_the_operator_opens_the_console() {
    use learners_tests::browser::Browser;
    let app = TestApp::spawn_site(Backend::Memory, &[]).await;
    let operator = email("op-");
    let username = learners_tests::unique("op");
    let link = app.register_and_get_link(&operator, &username).await;
    assert_eq!(app.activate_link(&link).await.status(), 200);

    let granted = learnerctl(&app, &["operators", "grant", &operator], None).await;
    assert!(granted.status.success(), "{}", text(&granted.stderr));
    let listed = learnerctl(&app, &["operators", "list"], None).await;
    assert!(text(&listed.stdout).contains(&operator), "{}", text(&listed.stdout));

    let browser = Browser::start().await;
    browser.open(&app.url("/operator")).await;
    assert_eq!(browser.path().await, "/login");
    browser.fill("Email", &operator).await;
    browser.fill("Password", PASSWORD).await;
    browser.press("Sign in").await;
    assert_eq!(browser.path().await, "/operator");
    // The role alone does not open the console: it needs a second factor (issue 22).
    assert_eq!(browser.heading().await, "A second factor is required");
    app.enrol_totp(&operator).await;
    browser.open(&app.url("/login?next=/operator")).await;
    browser.fill("Email", &operator).await;
    browser.fill("Password", PASSWORD).await;
    browser.press("Sign in").await;
    assert_eq!(browser.path().await, "/login/second-factor");
    browser.fill("Code from your app", &app.totp_code(&operator).await).await;
    browser.press("Continue").await;
    assert_eq!(browser.path().await, "/operator");
    assert_eq!(browser.heading().await, "Learners");

    let revoked = learnerctl(&app, &["operators", "revoke", &operator], None).await;
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));
    browser.open(&app.url("/operator")).await;
    assert_eq!(browser.status().await, 404);
    assert!(text(&learnerctl(&app, &["operators", "list"], None).await.stdout)
        .contains("No account has the operator role."));
    let audit = learnerctl(&app, &["audit", &operator], None).await;
    let out = text(&audit.stdout);
    assert!(out.contains("grant_operator") && out.contains("revoke_operator"), "{out}");
    browser.quit().await;
}

/// A file over the API's limits (lowered here) goes up in one piece, by upload: one job, its
/// counts and rows as the file's; a dry run of it is refused, saying so; the same command again
/// makes no second job. A list longer than one check is checked in parts, deleted in one job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_over_the_limits_goes_up_in_one_piece() {
    let app = TestApp::spawn(Backend::Memory).await;
    let dir = std::env::temp_dir().join(learners_tests::unique("learnerctl-"));
    std::fs::create_dir_all(&dir).unwrap();
    let learners: Vec<String> = (1..=7).map(|i| email(&format!("l{i}-"))).collect();
    let mut csv = String::from("email,username,name\n");
    for (i, learner) in learners.iter().enumerate() {
        if i == 3 {
            csv.push_str("broken,broken1,Broken\n"); // row 5
        }
        // A quoted field with a comma: a cut inside it would break the row in two.
        csv.push_str(&format!("{learner},{},\"Learner, {i}\"\n", learners_tests::unique("u")));
    }
    csv.push_str("also broken,broken2,Broken\n"); // row 10, the last part's
    let file = dir.join("cohort.csv");
    std::fs::write(&file, &csv).unwrap();
    let path = file.to_str().unwrap();
    let small = [("LEARNERCTL_MAX_UPLOAD_BYTES", "200")];

    // A dry run checks one request's worth: a larger file is refused before anything is sent,
    // saying so and what to do instead.
    let dry = learnerctl_with(&app, &["bulk-register", path, "--dry-run"], None, &small).await;
    assert_eq!(dry.status.code(), Some(2), "{}", text(&dry.stderr));
    let said = text(&dry.stderr);
    assert!(
        said.contains("a dry run checks at most 200 bytes in one request") && said.contains("without --dry-run"),
        "{said}"
    );

    // The real run: the file in one piece, one job, its rows numbered as the file's.
    let run = learnerctl_with(&app, &["bulk-register", path, "--wait"], None, &small).await;
    assert!(run.status.success(), "{}", text(&run.stderr));
    let out = text(&run.stdout);
    let ids: Vec<String> =
        out.lines().filter_map(|l| l.strip_prefix("Job ")).map(|l| l.split(':').next().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 1, "{out}");
    assert!(out.contains(&format!("cohort.csv sent ({} bytes)", csv.len())), "{out}");
    assert!(!out.contains("part"), "{out}");
    assert!(out.contains("Completed: 7 created, 0 skipped, 2 failed of 9 rows."), "{out}");
    assert_eq!(table_row(&out, "5").unwrap()[..4], ["5", "broken", "failed", "invalid_email"], "{out}");
    assert_eq!(table_row(&out, "10").unwrap()[..4], ["10", "also broken", "failed", "invalid_email"], "{out}");
    assert!(out.contains(&format!("learnerctl report {} --output", ids[0])), "{out}");
    for learner in &learners {
        assert_eq!(app.user(learner).await.unwrap()["name"].as_str().map(|n| n.starts_with("Learner, ")), Some(true));
    }
    let report_file = dir.join("report.csv");
    assert!(learnerctl(&app, &["report", &ids[0], "--output", report_file.to_str().unwrap()], None)
        .await
        .status
        .success());
    let report = std::fs::read_to_string(&report_file).unwrap();
    let mut reader = csv::Reader::from_reader(report.as_bytes());
    let rows: Vec<(String, String)> =
        reader.records().map(|r| r.unwrap()).map(|r| (r[0].to_owned(), r[3].to_owned())).collect();
    assert_eq!(
        rows.iter().map(|(row, _)| row.parse::<u64>().unwrap()).collect::<Vec<_>>(),
        (2..=10).collect::<Vec<_>>()
    );
    assert_eq!((rows[3].1.as_str(), rows[8].1.as_str()), ("invalid_email", "invalid_email"), "{report}");

    // The same command again: the same job, nothing sent twice, no second job.
    let again = learnerctl_with(&app, &["--json", "bulk-register", path], None, &small).await;
    let again = &json_lines(&again)[0];
    assert_eq!((again["job_id"].as_str(), again["status"].as_str()), (Some(ids[0].as_str()), Some("completed")));
    assert_eq!(again["created"], 7, "{again}");
    let listed = json_lines(&learnerctl(&app, &["--json", "jobs", "--all"], None).await);
    let jobs: Vec<&Value> = listed.iter().flat_map(|page| page["jobs"].as_array().unwrap()).collect();
    assert_eq!(jobs.iter().filter(|j| j["kind"] == "bulk_registration").count(), 1, "{listed:?}");

    // A file the job refuses whole (its columns): the reason as row 1, and exit 1 as for a
    // refusal of the API.
    let wrong = dir.join("wrong.csv");
    std::fs::write(&wrong, "mail,username\na@example.org,a\n").unwrap();
    let refused = learnerctl(&app, &["bulk-register", wrong.to_str().unwrap(), "--wait"], None).await;
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    assert_eq!(table_row(&text(&refused.stdout), "1").unwrap()[1..3], ["failed", "bad_columns"], "no email to show");
    let said = text(&refused.stderr);
    assert!(said.contains("the file was refused, nothing registered: bad_columns:"), "{said}");

    // A list of more addresses than one check takes: checked in parts, deleted in one job.
    let list = dir.join("leavers.txt");
    let ghost = email("ghost-");
    std::fs::write(&list, format!("{}\n{}\n\n{ghost}\nnot-an-address\n{}\n", learners[0], learners[1], learners[2]))
        .unwrap();
    let two = [("LEARNERCTL_MAX_EMAILS", "2")];
    let deleted =
        learnerctl_with(&app, &["delete", "--emails", list.to_str().unwrap(), "--wait", "--yes"], None, &two).await;
    assert!(deleted.status.success(), "{}", text(&deleted.stderr));
    let out = text(&deleted.stdout);
    assert!(out.contains("it is checked in 3 parts"), "{out}");
    assert!(out.contains("3 have an account and would be deleted"), "{out}");
    assert_eq!(out.lines().filter(|l| l.starts_with("Job ")).count(), 1, "{out}");
    assert!(out.contains("Completed: 3 deleted, 1 not found, 1 failed of 5."), "{out}");
    for learner in &learners[..3] {
        assert!(app.user(learner).await.is_none());
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// A request as a stand-in API saw it.
#[derive(Clone, Debug)]
struct Seen {
    /// `GET /path?query HTTP/1.1`
    line: String,
    /// The head, in lower case.
    head: String,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| l.strip_prefix(&format!("{name}: "))).map(str::to_owned)
    }
}

type Answer = (u16, Vec<(&'static str, String)>, String);

/// A stand-in API on a thread: records each request and answers it with `answer`, one
/// connection a request.
fn stand_in(answer: impl Fn(&Seen) -> Answer + Send + 'static) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read_exact(&mut byte).is_ok() {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let length = head
                .to_ascii_lowercase()
                .lines()
                .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap()))
                .unwrap_or(0);
            let mut body = vec![0; length];
            stream.read_exact(&mut body).unwrap();
            let seen = Seen {
                line: head.lines().next().unwrap_or_default().to_owned(),
                head: head.to_ascii_lowercase(),
                body,
            };
            let (status, headers, body) = answer(&seen);
            record.lock().unwrap().push(seen);
            let mut response =
                format!("HTTP/1.1 {status} X\r\nconnection: close\r\ncontent-length: {}\r\n", body.len());
            for (name, value) in headers {
                response.push_str(&format!("{name}: {value}\r\n"));
            }
            response.push_str("\r\n");
            response.push_str(&body);
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (url, seen)
}

async fn learnerctl_at(url: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(BINARY);
    command.arg("--api").arg(url).args(args).env("LEARNERS_ADMIN_TOKEN", "stand-in");
    command.env_remove("LEARNERCTL_MAX_UPLOAD_BYTES").env_remove("LEARNERCTL_MAX_EMAILS").envs(env.iter().copied());
    run(command, None).await
}

fn problem(row: u64) -> Value {
    json!({"row": row, "email": format!("r{row}"), "result": "failed", "code": "invalid_email", "message": "No."})
}

/// The API is getting pages (100 problem rows, then `next_cursor`; the report's
/// `x-next-cursor`): `job` and `report` follow them to the last page, the cursor as it came.
#[tokio::test]
async fn job_and_report_follow_the_cursor_to_the_last_page() {
    let (url, seen) = stand_in(|request| {
        let json = |body: Value| (200, vec![("content-type", "application/json".to_owned())], body.to_string());
        let csv = |rows: std::ops::RangeInclusive<u64>| {
            let mut body = String::from("\"row\",\"email\",\"result\",\"code\",\"message\"\n");
            for row in rows {
                body.push_str(&format!("\"{row}\",\"r{row}\",\"failed\",\"invalid_email\",\"No.\"\n"));
            }
            body
        };
        let page = |errors: Vec<Value>, next: Value| {
            json(json!({"job_id": "job-1", "status": "completed", "total": 150, "created": 1, "skipped": 0,
                "failed": 149, "errors": errors, "next_cursor": next}))
        };
        match request.line.split(' ').nth(1).unwrap_or_default() {
            "/admin/v1/bulk-registrations/job-1" => page((2..=101).map(problem).collect(), json!("a+b/c=")),
            "/admin/v1/bulk-registrations/job-1?cursor=a%2Bb%2Fc%3D" => {
                page((102..=150).map(problem).collect(), Value::Null)
            }
            "/admin/v1/bulk-registrations/job-1/report.csv" => {
                (200, vec![("x-next-cursor", "p 2".to_owned())], csv(2..=101))
            }
            "/admin/v1/bulk-registrations/job-1/report.csv?cursor=p%202" => (200, vec![], csv(102..=151)),
            _ => (
                404,
                vec![],
                json!({"error": {"code": "job_not_found", "message": "There is no such job."}}).to_string(),
            ),
        }
    });

    let job = learnerctl_at(&url, &["job", "job-1"], &[]).await;
    assert!(job.status.success(), "{}", text(&job.stderr));
    let out = text(&job.stdout);
    assert_eq!(label(&out, "Failed").as_deref(), Some("149"), "{out}");
    let rows: Vec<u64> = out.lines().filter_map(|l| l.split_whitespace().next()?.parse().ok()).collect();
    assert_eq!(rows, (2..=150).collect::<Vec<_>>());
    let doc = &json_lines(&learnerctl_at(&url, &["--json", "job", "job-1"], &[]).await)[0];
    assert_eq!(doc["errors"].as_array().unwrap().len(), 149);
    assert!(doc.get("next_cursor").is_none(), "the pages are read: {doc}");

    let report = learnerctl_at(&url, &["report", "job-1"], &[]).await;
    assert!(report.status.success(), "{}", text(&report.stderr));
    let report = text(&report.stdout);
    assert_eq!(report.lines().count(), 151, "{report}");
    assert_eq!(report.matches("\"row\"").count(), 1, "the header once");
    assert!(report.lines().last().unwrap().starts_with("\"151\""), "{report}");
    let paths: Vec<String> = seen.lock().unwrap().iter().map(|s| s.line.clone()).collect();
    assert!(paths.iter().any(|p| p.contains("report.csv?cursor=p%202")), "{paths:?}");
}

/// The real run sends the file in one piece: one request for an upload, with an
/// `Idempotency-Key` made from the file (the same on a rerun), then the file itself by the
/// signed request the API gave (its method and headers, its length declared rather than sent in
/// chunks, which S3 refuses, and no token: the signature is the URL's). A rerun the API
/// answers with nothing to upload sends nothing and makes no second job; a refused upload
/// says who refused it.
#[tokio::test]
async fn the_file_goes_up_once_by_the_signed_request_the_api_gives() {
    let received = Arc::new(Mutex::new(std::collections::HashSet::<String>::new()));
    let had = received.clone();
    let (url, seen) = stand_in(move |request| {
        let json =
            |status, body: Value| (status, vec![("content-type", "application/json".to_owned())], body.to_string());
        let path = request.line.split(' ').nth(1).unwrap_or_default().to_owned();
        if let Some(object) = path.strip_prefix("/bucket/") {
            if String::from_utf8_lossy(&request.body).contains("refused@") {
                let xml = "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>";
                return (403, vec![("content-type", "application/xml".to_owned())], xml.to_owned());
            }
            had.lock().unwrap().insert(object.split('?').next().unwrap_or_default().to_owned());
            return (200, vec![], String::new());
        }
        if let Some(job) = path.strip_prefix("/admin/v1/bulk-registrations/job-") {
            // A job whose file stopped coming long ago.
            return json(
                200,
                json!({"job_id": format!("job-{job}"), "status": "cut_off", "total": 0, "created": 0,
                "skipped": 0, "failed": 0, "errors": [], "next_cursor": null}),
            );
        }
        if path == "/admin/v1/deletions?dry_run=true" {
            let would = json!({"dry_run": true, "lines": 3, "addresses": 3, "accounts": 3, "repeated": 0,
                "invalid": [], "operator_rows": [], "warnings": []});
            return json(200, would);
        }
        if path.ends_with("/uploads") {
            let key = request.header("idempotency-key").unwrap_or_default();
            let job = format!("job-{}", key.get(..8).unwrap_or("none"));
            if had.lock().unwrap().contains(&job) {
                return json(200, json!({"job_id": job, "upload": null}));
            }
            let host = request.header("host").unwrap_or_default();
            let upload = json!({"method": "PUT", "url": format!("http://{host}/bucket/{job}?signature=s1"),
                "headers": {"content-type": "text/csv", "x-amz-meta-test": "kept"}, "expires_in": 3600});
            return json(201, json!({"job_id": job, "upload": upload}));
        }
        json(404, json!({"error": {"code": "not_found", "message": "No such route."}}))
    });
    let dir = std::env::temp_dir().join(learners_tests::unique("learnerctl-"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("cohort.csv");
    let rows: String = (0..6).map(|i| format!("l{i}@example.org,learner{i},Learner {i}\n")).collect();
    let content = format!("email,username,name\n{rows}");
    std::fs::write(&file, &content).unwrap();
    let path = file.to_str().unwrap();
    let requests = |from: usize| -> Vec<Seen> { seen.lock().unwrap()[from..].to_vec() };

    let first = learnerctl_at(&url, &["bulk-register", path], &[]).await;
    assert!(first.status.success(), "{}", text(&first.stderr));
    let sent = requests(0);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[0].line.split(' ').nth(1), Some("/admin/v1/bulk-registrations/uploads"));
    assert_eq!(serde_json::from_slice::<Value>(&sent[0].body).unwrap(), json!({"invite": false}));
    let key = sent[0].header("idempotency-key").unwrap_or_default();
    assert_eq!(key.len(), 36, "a UUID: {key}");
    let put = &sent[1];
    assert!(put.line.starts_with(&format!("PUT /bucket/job-{}?signature=s1 ", &key[..8])), "{}", put.line);
    assert_eq!(put.body, content.as_bytes(), "the file, whole and as it is");
    assert_eq!(put.header("content-length"), Some(content.len().to_string()));
    assert_eq!(put.header("transfer-encoding"), None, "not in chunks");
    assert_eq!(put.header("authorization"), None, "no token to the bucket");
    assert_eq!(
        (put.header("content-type"), put.header("x-amz-meta-test")),
        (Some("text/csv".into()), Some("kept".into()))
    );
    let out = text(&first.stdout);
    assert!(out.starts_with(&format!("Job job-{}: {path} sent ({} bytes)", &key[..8], content.len())), "{out}");

    // The same command again: the same key; the API has the file, so nothing is sent.
    let again = learnerctl_at(&url, &["bulk-register", path], &[]).await;
    assert!(again.status.success(), "{}", text(&again.stderr));
    let sent = requests(2);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].header("idempotency-key"), Some(key.clone()));
    assert!(text(&again.stdout).contains("was sent before (the same file, by the same command): no second job."));

    // With invitations, another request: another key, and the file sent to its own job.
    let invite = learnerctl_at(&url, &["bulk-register", path, "--invite"], &[]).await;
    assert!(invite.status.success(), "{}", text(&invite.stderr));
    let sent = requests(3);
    assert_eq!(serde_json::from_slice::<Value>(&sent[0].body).unwrap(), json!({"invite": true}));
    assert_ne!(sent[0].header("idempotency-key"), Some(key.clone()));
    assert_eq!(sent.len(), 2, "{sent:?}");

    // Waiting on a job cut off ends, saying what to do.
    let cut = dir.join("cut.csv");
    std::fs::write(&cut, "email,username,name\ncut@example.org,cut,Cut\n").unwrap();
    let waited = learnerctl_at(&url, &["bulk-register", cut.to_str().unwrap(), "--wait"], &[]).await;
    assert_eq!(waited.status.code(), Some(3), "{}", text(&waited.stderr));
    assert!(text(&waited.stderr).contains("cut off before every row was read"), "{}", text(&waited.stderr));
    assert!(text(&waited.stderr).contains("run the same command again"), "{}", text(&waited.stderr));

    // A deletion: the check first (no key), then the list by upload with a key of its own.
    let list = dir.join("leavers.txt");
    std::fs::write(&list, "a@example.org\nb@example.org\nc@example.org\n").unwrap();
    let before = seen.lock().unwrap().len();
    let deleted = learnerctl_at(&url, &["delete", "--emails", list.to_str().unwrap(), "--yes"], &[]).await;
    assert!(deleted.status.success(), "{}", text(&deleted.stderr));
    let sent = requests(before);
    let lines: Vec<&str> = sent.iter().map(|s| s.line.split(' ').take(2).collect::<Vec<_>>()[1]).collect();
    assert_eq!(lines[..2], ["/admin/v1/deletions?dry_run=true", "/admin/v1/deletions/uploads"], "{lines:?}");
    assert_eq!((sent[0].header("idempotency-key"), sent[1].body.len()), (None, 0));
    assert_ne!(sent[1].header("idempotency-key"), Some(key.clone()));
    assert_eq!(sent[2].body, b"a@example.org\nb@example.org\nc@example.org\n");

    // The bucket refuses: its own words, and exit 1 as for a refusal of the API.
    std::fs::write(&list, "refused@example.org\n").unwrap();
    let refused = learnerctl_at(&url, &["delete", "--emails", list.to_str().unwrap(), "--yes"], &[]).await;
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    let said = text(&refused.stderr);
    assert!(said.contains("the uploads' bucket answered 403: AccessDenied: Request has expired"), "{said}");
    let _ = std::fs::remove_dir_all(dir);
}

/// The exit codes docs/operators.md documents: 0 done (every test above), 1 the API refused, 2 bad
/// usage, 3 the API unreachable or no credentials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_are_the_documented_ones() {
    let app = TestApp::spawn(Backend::Memory).await;
    let mut wrong_token = Command::new(BINARY);
    wrong_token.args(["--api", &app.base_url, "--token", "not-the-token", "user", "a@example.org"]);
    let refused = run(wrong_token, None).await;
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains("the API answered 401"), "{}", text(&refused.stderr));

    let bad_url = learnerctl_at("ftp://example.org", &["user", "a@example.org"], &[]).await;
    assert_eq!(bad_url.status.code(), Some(2), "{}", text(&bad_url.stderr));
    let bad_limit = learnerctl_with(&app, &["user", "a@example.org"], None, &[("LEARNERCTL_MAX_EMAILS", "many")]).await;
    assert_eq!(bad_limit.status.code(), Some(2), "{}", text(&bad_limit.stderr));
    assert!(text(&bad_limit.stderr).contains("LEARNERCTL_MAX_EMAILS"));
    assert_eq!(learnerctl(&app, &["no-such-command"], None).await.status.code(), Some(2));

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nobody = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let unreachable = learnerctl_at(&nobody, &["user", "a@example.org"], &[]).await;
    assert_eq!(unreachable.status.code(), Some(3), "{}", text(&unreachable.stderr));

    let mut no_credentials = Command::new(BINARY);
    no_credentials
        .args(["--api", &app.base_url, "user", "a@example.org"])
        .env_remove("LEARNERS_ADMIN_TOKEN")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent");
    let missing = run(no_credentials, None).await;
    assert_eq!(missing.status.code(), Some(3), "{}", text(&missing.stderr));
    assert!(text(&missing.stderr).contains("no AWS region"), "{}", text(&missing.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_registers_lists_rotates_and_removes_an_application() {
    let app = TestApp::spawn(Backend::Memory).await;
    let lms = "https://lms.example.org/auth/complete/oidc/";
    let added = learnerctl(&app, &["clients", "add", "Open edX", "--redirect-uri", lms], None).await;
    assert!(added.status.success(), "{}", text(&added.stderr));
    let out = text(&added.stdout);
    let id = label(&out, "Client id").expect("the client id");
    let secret = label(&out, "Client secret").expect("the secret, this once");
    assert!(secret.ends_with("(shown this once)"), "{out}");
    assert_eq!(label(&out, "Kind").as_deref(), Some("confidential"));

    let listed = learnerctl(&app, &["clients", "list"], None).await;
    let out = text(&listed.stdout);
    let row = table_row(&out, &id).unwrap_or_else(|| panic!("listed: {out}"));
    assert_eq!(row[1..], ["Open edX".to_owned(), "confidential".to_owned(), lms.to_owned()]);
    assert!(!out.contains(secret.split(' ').next().unwrap()), "never the secret");

    let rotated = learnerctl(&app, &["--json", "clients", "rotate-secret", &id], None).await;
    let rotated = json_lines(&rotated);
    assert_eq!(rotated[0]["client_id"], id.as_str());
    assert_ne!(rotated[0]["client_secret"].as_str().unwrap(), secret.split(' ').next().unwrap());

    let refused =
        learnerctl(&app, &["clients", "add", "Bad", "--redirect-uri", "http://lms.example.org/cb"], None).await;
    assert_eq!(refused.status.code(), Some(1), "the API refuses plain http off loopback");
    let removed = learnerctl(&app, &["clients", "remove", &id], None).await;
    assert!(removed.status.success(), "{}", text(&removed.stderr));
    assert_eq!(learnerctl(&app, &["clients", "remove", &id], None).await.status.code(), Some(1));
}

/// `learnerctl settings show|set` and `learnerctl supporters` (issue 25): set reads the version
/// first and saves every field on it; a refused value says why and saves nothing; a name that
/// is not a setting is a usage error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learnerctl_shows_and_sets_the_site_settings() {
    let app = TestApp::spawn(Backend::Memory).await;
    let shown = learnerctl(&app, &["settings", "show"], None).await;
    assert!(shown.status.success(), "{}", text(&shown.stderr));
    let out = text(&shown.stdout);
    assert!(out.starts_with("Version 0 (the stack's parameters)"), "{out}");
    assert_eq!(table_row(&out, "max_failed_logins"), Some(vec!["max_failed_logins".into(), "6".into(), "6".into()]));

    let set = learnerctl(&app, &["settings", "set", "max_failed_logins=3", "self_removal_enabled=true"], None).await;
    assert!(set.status.success(), "{}", text(&set.stderr));
    let out = text(&set.stdout);
    assert!(out.contains("Version 1"), "{out}");
    assert_eq!(table_row(&out, "max_failed_logins").unwrap()[1], "3");
    assert_eq!(table_row(&out, "self_removal_enabled").unwrap()[1], "true");

    let refused = learnerctl(&app, &["settings", "set", "max_failed_logins=0"], None).await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).contains("max_failed_logins: A whole number from 1 to 100"),
        "{}",
        text(&refused.stderr)
    );
    let unknown = learnerctl(&app, &["settings", "set", "colour=#000"], None).await;
    assert_eq!(unknown.status.code(), Some(2));
    assert!(text(&unknown.stderr).contains("\"colour\" is not a setting"));
    let json = json_lines(&learnerctl(&app, &["--json", "settings", "show"], None).await);
    assert_eq!((json[0]["version"].clone(), json[0]["settings"]["max_failed_logins"].clone()), (json!(1), json!(3)));

    let ada = app.activated_learner("ada", "Ada Lovelace").await;
    let refused = learnerctl(&app, &["supporters", "grant", &ada], None).await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused.stderr).contains("not_an_active_operator"));
    assert!(learnerctl(&app, &["operators", "grant", &ada], None).await.status.success());
    assert!(learnerctl(&app, &["supporters", "grant", &ada], None).await.status.success());
    let listed = learnerctl(&app, &["supporters", "list"], None).await;
    assert!(text(&listed.stdout).contains(&ada), "{}", text(&listed.stdout));
    assert!(learnerctl(&app, &["supporters", "revoke", &ada], None).await.status.success());
    let _ = (email, PASSWORD);
}

/// `learnerctl users list|search` and the admin API behind them: 250 learners page by page
/// without a repeat, found by the start of an address, a username and an id; a changed cursor
/// is refused (4xx, not 500); and `learnerctl users list | head -1` ends quietly (exit 0).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_find_and_page_through_learners() {
    use learners::domain::{UserSource, UserStatus};
    use learners::ports::UserStore;
    let app = TestApp::spawn(Backend::Memory).await;
    let store = app.memory.as_ref().unwrap().0.clone();
    let tag = learners_tests::unique("f");
    let mut ids = Vec::new();
    for i in 0..250 {
        let mut user = learners_tests::stored_user(&format!("{tag}-{i:03}@example.com"), &format!("u{tag}{i:03}"));
        user.created_at = learners::domain::Timestamp::from_unix(1_800_000_000 + i);
        if i % 5 == 0 {
            user.source = UserSource::Bulk;
            user.status = UserStatus::Active;
        }
        store.create_user(&user, None).await.unwrap();
        ids.push(user.id.to_string());
    }
    // The API, page by page: everyone once, newest first.
    let (mut seen, mut cursor) = (Vec::<String>::new(), None::<String>);
    loop {
        let path = match &cursor {
            Some(c) => format!("/admin/v1/users/search?cursor={c}"),
            None => "/admin/v1/users/search".to_owned(),
        };
        let page: Value = app.admin_get(&path).await.json().await.unwrap();
        let users = page["users"].as_array().unwrap();
        assert!(users.len() <= 50);
        seen.extend(users.iter().map(|u| u["user_id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);
    // Filters: bulk and active, 50 of them.
    let page: Value = app.admin_get("/admin/v1/users/search?source=bulk&status=active").await.json().await.unwrap();
    assert_eq!(page["users"].as_array().unwrap().len(), 50);
    assert!(page["users"].as_array().unwrap().iter().all(|u| u["source"] == "bulk" && u["status"] == "active"));
    let page: Value = app.admin_get("/admin/v1/users/search?source=self&status=active").await.json().await.unwrap();
    assert!(page["users"].as_array().unwrap().is_empty());
    // A changed cursor, an unknown status: refused as bad input.
    for bad in ["cursor=Yzox", "cursor=%25%25", "status=sleepy", "created_from=yesterday"] {
        let response = app.admin_get(&format!("/admin/v1/users/search?{bad}")).await;
        assert!((400..500).contains(&response.status().as_u16()), "{bad}: {}", response.status());
    }

    // The command line: by the start of an address, a username (case aside), an id.
    for (query, expect) in [
        (format!("{tag}-123"), format!("{tag}-123@example.com")),
        (format!("U{}", &format!("{tag}124").to_uppercase()[..]), format!("{tag}-124@example.com")),
        (ids[7].clone(), format!("{tag}-007@example.com")),
    ] {
        let out = learnerctl(&app, &["users", "search", &query], None).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        let first = text(&out.stdout).lines().next().unwrap_or_default().to_owned();
        assert!(first.starts_with(&expect), "{query}: {first}");
    }
    let out = learnerctl(&app, &["users", "list"], None).await;
    assert_eq!(text(&out.stdout).lines().count(), 50, "one page of 50");
    assert!(text(&out.stderr).contains("--cursor"), "{}", text(&out.stderr));

    // `| head -1`: the reader goes away after one line; learnerctl ends with 0, saying nothing.
    let mut command = Command::new("bash");
    command
        .args(["-c", "set -o pipefail; \"$0\" users list --all | head -1", BINARY])
        .env("LEARNERS_API_URL", &app.base_url)
        .env("LEARNERS_ADMIN_TOKEN", ADMIN_TOKEN);
    let out = run(command, None).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 1);
    assert!(text(&out.stderr).is_empty(), "{}", text(&out.stderr));
}

/// `learnerctl delete` shows what it would do before anything goes: the lines, the addresses
/// (each once whatever its case), the accounts, the lines that are no address; then it asks
/// for the number of accounts to be typed. A closed standard input, a wrong number or
/// `--dry-run` delete nothing; a list naming an operator's account (the operator's own) is
/// refused whole, and the API refuses such a row too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_shows_what_it_would_do_and_deletes_only_once_confirmed() {
    let app = TestApp::spawn(Backend::Memory).await;
    let erin = email("erin-");
    app.active_account(&erin, &learners_tests::unique("erin")).await;
    let dir = std::env::temp_dir().join(learners_tests::unique("learnerctl-"));
    std::fs::create_dir_all(&dir).unwrap();
    let list = dir.join("leavers.txt");
    std::fs::write(&list, format!("{erin}\n{}\nnot-an-email\n{}\n", erin.to_uppercase(), email("ghost-"))).unwrap();
    let path = list.to_str().unwrap();

    let closed = learnerctl(&app, &["delete", "--emails", path], None).await;
    assert_eq!(closed.status.code(), Some(2), "{}", text(&closed.stderr));
    let out = text(&closed.stdout);
    assert!(
        out.contains("4 lines, 2 different addresses (1 repeated, in any case, counted once); 1 has an account"),
        "{out}"
    );
    assert!(out.contains("1 line is not an email address") && out.contains("row 3: \"not-an-email\""), "{out}");
    assert!(text(&closed.stderr).contains("Type 1 to delete 1 account"), "{}", text(&closed.stderr));
    assert!(
        text(&closed.stderr).contains("not confirmed (nothing was typed): nothing deleted"),
        "{}",
        text(&closed.stderr)
    );
    app.settle().await;
    assert!(app.user(&erin).await.is_some(), "a closed standard input deletes nothing");

    let wrong = learnerctl(&app, &["delete", "--emails", path], Some("2\n")).await;
    assert_eq!(wrong.status.code(), Some(2), "{}", text(&wrong.stderr));
    let dry = learnerctl(&app, &["delete", "--emails", path, "--dry-run"], None).await;
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    assert!(
        text(&dry.stdout).contains("Dry run: nothing deleted. 1 account would be deleted."),
        "{}",
        text(&dry.stdout)
    );
    app.settle().await;
    assert!(app.user(&erin).await.is_some(), "a wrong number and a dry run delete nothing");

    // The operator's own address in a list: refused whole, by learnerctl and by the API.
    let operator = email("op-");
    app.active_account(&operator, &learners_tests::unique("op")).await;
    assert!(learnerctl(&app, &["operators", "grant", &operator], None).await.status.success());
    let mine = dir.join("with-mine.txt");
    std::fs::write(&mine, format!("{erin}\n{}\n", operator.to_uppercase())).unwrap();
    let refused = learnerctl(&app, &["delete", "--emails", mine.to_str().unwrap(), "--yes"], None).await;
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains("row 2 names an operator's account"), "{}", text(&refused.stderr));
    app.settle().await;
    assert!(app.user(&erin).await.is_some() && app.user(&operator).await.is_some(), "nothing deleted");
    let api = app.admin_post_csv("/admin/v1/deletions", format!("email\n{operator}\n")).await;
    assert_eq!(api.status(), 202);
    app.settle().await;
    let job = api.json::<Value>().await.unwrap()["job_id"].as_str().unwrap().to_owned();
    let status = app.admin_get(&format!("/admin/v1/deletions/{job}")).await.json::<Value>().await.unwrap();
    assert_eq!(status["errors"][0]["code"], "operator_account", "{status}");
    assert!(app.user(&operator).await.is_some(), "the API deletes no operator from a list");

    let typed = learnerctl(&app, &["delete", "--emails", path, "--wait"], Some("1\n")).await;
    assert!(typed.status.success(), "{}", text(&typed.stderr));
    assert!(text(&typed.stdout).contains("Completed: 1 deleted"), "{}", text(&typed.stdout));
    assert!(app.user(&erin).await.is_none(), "typed, it deletes");
    let _ = std::fs::remove_dir_all(dir);
}

/// Files as spreadsheets write them, through `learnerctl bulk-register --dry-run` (the API's
/// rules, so the console's too): a UTF-8 byte-order mark, `;`, UTF-16 and an extra column are
/// read, each with a note where something was done; an unclosed quote and UTF-16 without its
/// mark are refused with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_as_spreadsheets_write_them_are_read_or_refused_in_words() {
    let app = TestApp::spawn(Backend::Memory).await;
    let dir = std::env::temp_dir().join(learners_tests::unique("learnerctl-"));
    std::fs::create_dir_all(&dir).unwrap();
    let row = |sep: &str| format!("{}{sep}{}{sep}Ada Lovelace", email("ada-"), learners_tests::unique("ada"));
    let utf16 = |text: &str| -> Vec<u8> {
        [0xFF, 0xFE].into_iter().chain(text.encode_utf16().flat_map(u16::to_le_bytes)).collect()
    };
    let cases: Vec<(&str, Vec<u8>, Option<&str>)> = vec![
        ("bom.csv", format!("\u{FEFF}email,username,name\n{}\n", row(",")).into_bytes(), None),
        (
            "semicolons.csv",
            format!("email;username;name\n{}\n", row(";")).into_bytes(),
            Some("separated by semicolons"),
        ),
        ("unicode.txt", utf16(&format!("email\tusername\tname\r\n{}\r\n", row("\t"))), Some("UTF-16")),
        (
            "extra.csv",
            format!("email,username,name,cohort\n{},B\n", row(",")).into_bytes(),
            Some("not read (only email, username, name and optionally password are): cohort"),
        ),
    ];
    for (name, bytes, note) in cases {
        let file = dir.join(name);
        std::fs::write(&file, bytes).unwrap();
        let dry = learnerctl(&app, &["bulk-register", file.to_str().unwrap(), "--dry-run"], None).await;
        assert!(dry.status.success(), "{name}: {}", text(&dry.stderr));
        let out = text(&dry.stdout);
        assert!(out.contains("1 rows; 0 would not be registered."), "{name}: {out}");
        if let Some(note) = note {
            assert!(out.contains("Note: ") && out.contains(note), "{name}: {out}");
        }
    }
    let refusals: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "unclosed.csv",
            format!("email,username,name\n{}\n{},bob,\"Bob\n{}\n", row(","), email("bob-"), row(",")).into_bytes(),
            "Row 3: the quote (\") that opens the name cell is not closed",
        ),
        (
            "unmarked.csv",
            "email,username,name\n".encode_utf16().flat_map(u16::to_le_bytes).collect(),
            "Save it as UTF-8",
        ),
    ];
    for (name, bytes, said) in refusals {
        let file = dir.join(name);
        std::fs::write(&file, bytes).unwrap();
        let refused = learnerctl(&app, &["bulk-register", file.to_str().unwrap(), "--dry-run"], None).await;
        assert_eq!(refused.status.code(), Some(1), "{name}: {}", text(&refused.stderr));
        assert!(text(&refused.stderr).contains(said), "{name}: {}", text(&refused.stderr));
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Output into a pipe whose reader is gone (`learnerctl ... | head -0`) ends quietly with 0,
/// not a panic (101); usage errors stay 2, `--help` 0 whatever becomes of its text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_pipe_ends_quietly_and_no_path_exits_101() {
    let app = TestApp::spawn(Backend::Memory).await;
    let learner = email("piped-");
    app.active_account(&learner, &learners_tests::unique("piped")).await;
    let closed = |args: Vec<String>| {
        let base_url = app.base_url.clone();
        tokio::task::spawn_blocking(move || {
            let (reader, writer) = std::io::pipe().unwrap();
            drop(reader);
            let mut command = Command::new(BINARY);
            command.args(&args).env("LEARNERS_API_URL", base_url).env("LEARNERS_ADMIN_TOKEN", ADMIN_TOKEN);
            command.stdin(Stdio::null()).stdout(writer).stderr(Stdio::piped());
            command.output().unwrap()
        })
    };
    for args in [
        vec!["user", learner.as_str()],
        vec!["--json", "user", learner.as_str()],
        vec!["--help"],
        vec!["operators", "list"],
    ] {
        let ended = closed(args.iter().map(|a| a.to_string()).collect()).await.unwrap();
        assert_eq!(ended.status.code(), Some(0), "{args:?}: {}", text(&ended.stderr));
        assert!(!text(&ended.stderr).contains("panicked"), "{args:?}: {}", text(&ended.stderr));
    }
    let usage = closed(vec!["no-such-command".into()]).await.unwrap();
    assert_eq!(usage.status.code(), Some(2));
}

/// A large file through `learnerctl bulk-register --wait` against a gateway on the memory
/// backend, in one piece, with exact counts: rows without passwords (no argon2), every 50,000
/// rows one invalid address and one repeating the row before it, and one row whose address
/// has an account already. Then a deletion list of 20,000 of them (more than one check
/// takes), a ghost and a line that is no address: checked in parts, deleted in one job.
/// Prints the time each took and the test process's peak memory (the gateway runs in it).
async fn a_large_file_goes_up_in_one_piece_with_exact_counts(rows: u64) {
    let app = TestApp::spawn(Backend::Memory).await;
    // Short rows (about 45 bytes): the gateway is the test's own, so no name needs a tag.
    let taken = "taken@example.com";
    app.active_account(taken, "taken").await;
    let dir = std::env::temp_dir().join(learners_tests::unique("learnerctl-"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("cohort.csv");
    let address = |i: u64| format!("l{i}@example.com");
    let (mut failed, mut skipped) = (0, 1);
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
        writeln!(out, "email,username,name").unwrap();
        for i in 0..rows {
            match i % 50_000 {
                11 => {
                    failed += 1;
                    writeln!(out, "not-an-address-{i},bad{i},Bad Row {i}").unwrap();
                }
                13 => {
                    skipped += 1;
                    writeln!(out, "{},other{i},Twice {i}", address(i - 1)).unwrap();
                }
                _ if i == rows / 2 => writeln!(out, "{taken},fresh{i},Already There").unwrap(),
                _ => writeln!(out, "{},l{i},Learner {i}", address(i)).unwrap(),
            }
        }
        out.flush().unwrap();
    }
    let size = std::fs::metadata(&file).unwrap().len();
    let started = std::time::Instant::now();
    let run = learnerctl(&app, &["bulk-register", file.to_str().unwrap(), "--wait"], None).await;
    let took = started.elapsed().as_secs_f64();
    assert!(run.status.success(), "{}", text(&run.stderr));
    let out = text(&run.stdout);
    let created = rows - failed - skipped;
    let completed = format!("Completed: {created} created, {skipped} skipped, {failed} failed of {rows} rows.");
    assert!(out.contains(&completed), "{}", out.lines().take(3).collect::<Vec<_>>().join("\n"));
    assert_eq!(out.lines().filter(|l| l.starts_with("Job ")).count(), 1, "one job");
    assert_eq!(table_row(&out, "13").unwrap()[..4], ["13", "not-an-address-11", "failed", "invalid_email"]);
    assert_eq!(table_row(&out, "15").unwrap()[2..4], ["skipped", "duplicate_in_file"]);
    assert_eq!(table_row(&out, &(rows / 2 + 2).to_string()).unwrap()[2..4], ["skipped", "already_registered"]);
    assert_eq!(app.user(&address(rows - 1)).await.unwrap()["source"], "bulk", "the last row's account");

    let leavers = dir.join("leavers.txt");
    let mut list: String = (0..20_000).map(|i| format!("{}\n", address(i * 3))).collect();
    list.push_str(&format!("{}\nnot an address\n", email("ghost-")));
    std::fs::write(&leavers, list).unwrap();
    let started_deleting = std::time::Instant::now();
    let deleted = learnerctl(&app, &["delete", "--emails", leavers.to_str().unwrap(), "--wait", "--yes"], None).await;
    let deleting = started_deleting.elapsed().as_secs_f64();
    assert!(deleted.status.success(), "{}", text(&deleted.stderr));
    let out = text(&deleted.stdout);
    assert!(out.contains("it is checked in 3 parts"), "{out}");
    // Rows 11 and 13 of each 50,000 are no account of the list's (0, 3, 6...): 12 and 15 are.
    let gone = (0..20_000u64).filter(|i| !matches!((i * 3) % 50_000, 11 | 13) && i * 3 != rows / 2).count() as u64;
    let not_found = 20_000 - gone + 1;
    assert_eq!(out.lines().filter(|l| l.starts_with("Job ")).count(), 1, "{out}");
    assert!(out.contains(&format!("Completed: {gone} deleted, {not_found} not found, 1 failed of 20002.")), "{out}");
    assert!(app.user(&address(0)).await.is_none() && app.user(&address(1)).await.is_some());
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap_or("VmHWM: ?").to_owned();
    eprintln!(
        "bulk-register: {rows} rows, {size} bytes in {took:.1} s ({:.0} rows/s); delete: 20,002 lines in \
         {deleting:.1} s; test process (gateway included) {peak}",
        rows as f64 / took
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_rows_go_up_in_one_piece_with_exact_counts() {
    a_large_file_goes_up_in_one_piece_with_exact_counts(100_000).await;
}

/// The million rows (about 50 MB; `make test-large`): minutes in a debug build, so
/// not in `make test`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn a_million_rows_go_up_in_one_piece_with_exact_counts() {
    a_large_file_goes_up_in_one_piece_with_exact_counts(1_000_000).await;
}
