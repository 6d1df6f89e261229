//! `openapi.yaml` as a contract the server is held to: Schemathesis (from the project's
//! virtualenv) generates requests for every operation and checks every answer against the
//! spec, with and without the operator credential; and the points where spec and server once
//! disagreed, each shown directly.

use learners_tests::{email, Backend, TestApp, ADMIN_TOKEN};
use serde_json::json;
use std::process::Command;

const SCHEMATHESIS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/schemathesis");
const SPEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.yaml");

/// The checks of the contract (every response check, and the two about methods and auth).
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
response_schema_conformance,response_headers_conformance,ignored_auth,unsupported_method";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn schemathesis_finds_no_disagreement_between_the_spec_and_the_server() {
    assert!(
        std::path::Path::new(SCHEMATHESIS).exists(),
        "{SCHEMATHESIS} is missing: `make test` installs it (infra/schemathesis/requirements.txt)"
    );
    let app = TestApp::spawn(Backend::Memory).await;
    for credential in [Some(ADMIN_TOKEN), None] {
        let mut command = Command::new(SCHEMATHESIS);
        command
            .args(["run", SPEC, "--url", &app.base_url, "--checks", CHECKS])
            .args(["--phases", "examples,coverage,fuzzing,stateful"])
            .args([
                "--max-examples",
                "25",
                "--seed",
                "20261128",
                "--no-color",
                "--workers",
                "1",
                "--generation-deterministic",
            ])
            .args(["--request-timeout", "20"])
            .env("SCHEMATHESIS_HOOKS", "")
            .current_dir(std::env::temp_dir());
        if let Some(token) = credential {
            command.args(["-H", &format!("Authorization: Bearer {token}")]);
        }
        let output = tokio::task::spawn_blocking(move || command.output()).await.unwrap().expect("schemathesis runs");
        let report = String::from_utf8_lossy(&output.stdout);
        let summary: String =
            report.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
        assert!(
            output.status.success(),
            "Schemathesis ({}) found failures:\n{report}\n{}",
            if credential.is_some() { "with the operator credential" } else { "without credentials" },
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(report.contains("passed"), "no test case ran:\n{summary}");
        assert!(!report.contains("❌"), "{summary}");
    }
}

async fn upload(app: &TestApp, query: &str, csv: &str) -> reqwest::Response {
    app.admin_post_csv(&format!("/admin/v1/bulk-registrations{query}"), csv.to_owned()).await
}

#[tokio::test]
async fn dry_run_is_read_strictly_and_never_fails_open() {
    let app = TestApp::spawn(Backend::Memory).await;
    let address = email("dry-");
    let csv = format!("email,username,name\n{address},{},Dry Run\n", learners_tests::unique("dry"));
    for yes in ["true", "1", "TRUE", "True"] {
        let response = upload(&app, &format!("?dry_run={yes}"), &csv).await;
        assert_eq!(response.status(), 200, "{yes}");
        assert_eq!(response.json::<serde_json::Value>().await.unwrap()["dry_run"], true);
    }
    for typo in ["maybe", "yes", "", "ture", "2"] {
        let response = upload(&app, &format!("?dry_run={typo}"), &csv).await;
        assert_eq!(response.status(), 422, "{typo:?}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(body["error"]["fields"]["dry_run"].is_string(), "{body}");
    }
    app.settle().await;
    assert!(app.user(&address).await.is_none(), "no dry run and no typo created anything");
    assert_eq!(upload(&app, "?dry_run=0", &csv).await.status(), 202, "0 is the real run");
}

#[tokio::test]
async fn a_json_deletion_list_takes_ten_thousand_addresses_and_no_more() {
    let app = TestApp::spawn(Backend::Memory).await;
    let list: Vec<String> = (0..10_001).map(|i| format!("nobody-{i:05}@example.com")).collect();
    let post = |emails: &[String]| {
        app.client
            .post(app.url("/admin/v1/deletions"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({ "emails": emails }))
            .send()
    };
    let refused = post(&list).await.unwrap();
    assert_eq!(refused.status(), 422);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert!(body["error"]["fields"]["emails"].as_str().unwrap().contains("10000"), "{body}");
    let accepted = post(&list[..10_000]).await.unwrap();
    assert_eq!(accepted.status(), 202);
    assert_eq!(accepted.json::<serde_json::Value>().await.unwrap()["rows"], 10_000);
}

#[tokio::test]
async fn methods_and_credentials_are_answered_as_the_spec_says() {
    let app = TestApp::spawn(Backend::Memory).await;
    // A method the path does not take: 405, `Allow`, the error envelope.
    let wrong = app.client.delete(app.url("/login")).send().await.unwrap();
    assert_eq!(wrong.status(), 405);
    assert_eq!(wrong.headers()["allow"], "GET, HEAD, POST");
    let body: serde_json::Value = wrong.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");
    // HEAD wherever GET is: the GET answer's status and headers, no body.
    let head = app.client.head(app.url("/register")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert!(head.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(head.bytes().await.unwrap().is_empty());
    // On /admin/, who asks comes first: no credential is 401 whatever the method.
    let anonymous = app.client.patch(app.url("/admin/v1/users")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let known = app.client.patch(app.url("/admin/v1/users")).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(known.status(), 405);
    assert_eq!(known.headers()["allow"], "GET, HEAD");
    // The scheme is case-insensitive (RFC 9110).
    let lower = app
        .client
        .get(app.url(&format!("/admin/v1/users?email={}", email("nobody-"))))
        .header("authorization", format!("bearer {ADMIN_TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(lower.status(), 404, "authenticated, and nobody has that address");
    // A malformed user id is a 422 naming the field; a well-formed unknown one lists nothing.
    let malformed = app.admin_get("/admin/v1/audit?user_id=not-a-uuid").await;
    assert_eq!(malformed.status(), 422);
    assert!(malformed.json::<serde_json::Value>().await.unwrap()["error"]["fields"]["user_id"].is_string());
    let unknown = app.admin_get(&format!("/admin/v1/audit?user_id={}", uuid::Uuid::now_v7())).await;
    assert_eq!(unknown.status(), 200);
    assert_eq!(unknown.json::<serde_json::Value>().await.unwrap()["entries"], json!([]));
}
