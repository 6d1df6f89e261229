//! `learnerctl` as an operator runs it: the binary against a local gateway (bearer token), and
//! its SigV4 signing against a listener that records what arrives.

use learners_tests::{email, Backend, TestApp, ADMIN_TOKEN, PASSWORD};
use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};

const BINARY: &str = env!("CARGO_BIN_EXE_learnerctl");

/// Runs learnerctl against `app` (off the async runtime, which serves the gateway).
async fn learnerctl(app: &TestApp, args: &[&str], stdin: Option<&str>) -> Output {
    let mut command = Command::new(BINARY);
    command.args(args).env("LEARNERS_API_URL", &app.base_url).env("LEARNERS_ADMIN_TOKEN", ADMIN_TOKEN);
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
    assert!(out.contains("row 4: broken (invalid_email)"), "{out}");
    let job_id = out.split_whitespace().nth(1).unwrap().trim_end_matches(':').to_owned();
    let job = learnerctl(&app, &["job", &job_id], None).await;
    assert!(text(&job.stdout).contains("\"status\": \"completed\""));
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
    let shown: serde_json::Value = serde_json::from_slice(&user.stdout).unwrap();
    assert_eq!((shown["status"].as_str(), shown["source"].as_str()), (Some("active"), Some("bulk")));

    // The password comes from standard input, never from the command line.
    let set = learnerctl(&app, &["set-password", &bob, "--no-notify"], Some("a phrase from stdin 9\n")).await;
    assert!(set.status.success(), "{}", text(&set.stderr));
    assert_eq!(app.sign_in(&bob, "a phrase from stdin 9").await.status(), 200);
    let weak = learnerctl(&app, &["set-password", &bob], Some("password\n")).await;
    assert_eq!(weak.status.code(), Some(1));
    assert!(text(&weak.stderr).contains("validation_failed"), "{}", text(&weak.stderr));

    assert!(learnerctl(&app, &["unlock", &ada], None).await.status.success());
    assert!(learnerctl(&app, &["activate", &ada], None).await.status.success());
    let audit = learnerctl(&app, &["audit", &ada], None).await;
    assert!(text(&audit.stdout).contains("\"action\": \"activate\""));

    let bob_user = app.user(&bob).await.unwrap();
    let list = dir.join("leavers.txt");
    std::fs::write(&list, format!("{bob}\n{}\n", email("ghost-"))).unwrap();
    let deleted = learnerctl(&app, &["delete", "--emails", list.to_str().unwrap(), "--wait"], None).await;
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
    assert!(text(&by_id.stdout).contains("\"action\": \"delete\""), "{}", text(&by_id.stdout));
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
