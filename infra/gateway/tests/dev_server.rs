//! `make dev` as a person runs it: the `learners-dev` binary on a port, driven over HTTP, on
//! the in-memory backend and on the AWS adapters against moto (after `learners-dev provision`).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const BINARY: &str = env!("CARGO_BIN_EXE_learners-dev");

struct Server {
    child: Child,
    base: String,
    admin_token: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start(env: &[(&str, &str)]) -> Server {
    let port = free_port();
    let mut child = Command::new(BINARY)
        .env("PORT", port.to_string())
        .env_remove("LEARNERS_ADMIN_TOKEN")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("learners-dev starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut admin_token = String::new();
    for line in lines.by_ref().take(5) {
        let line = line.unwrap();
        if let Some(rest) = line.trim().strip_prefix("admin token: ") {
            admin_token = rest.split_whitespace().next().unwrap().to_owned();
            break;
        }
    }
    assert_eq!(admin_token.len(), 43, "the start-up banner prints a generated admin token");
    // Keep reading what the server prints, as a terminal would.
    std::thread::spawn(move || lines.for_each(drop));
    Server { child, base: format!("http://127.0.0.1:{port}"), admin_token }
}

#[tokio::test]
async fn make_dev_serves_registration_activation_and_captured_mail() {
    let server = start(&[]);
    let client = reqwest::Client::new();
    let form = client.get(format!("{}/register", server.base)).send().await.unwrap();
    assert_eq!(form.status(), 200);
    // The site's front, where every mail's header links.
    let front = client.get(format!("{}/", server.base)).send().await.unwrap();
    assert_eq!(front.status(), 200);
    assert!(front.text().await.unwrap().contains(r#"<a href="/register">Create an account</a>"#));

    let body = serde_json::json!({"email": "dev@example.com", "username": "devuser", "name": "Dev User", "password": "correct horse battery staple", "terms_accepted": true});
    let response = client.post(format!("{}/api/v1/registrations", server.base)).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 202);

    // Mail leaves through the mail queue: wait for the worker (10 s at most).
    let mut mail = serde_json::Value::Null;
    for _ in 0..100 {
        mail = client.get(format!("{}/_dev/mail", server.base)).send().await.unwrap().json().await.unwrap();
        if mail.as_array().is_some_and(|m| !m.is_empty()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let text = mail[0]["text"].as_str().unwrap();
    // The site URL defaults to the gateway's own address, so the emailed link works as is.
    let link = text
        .split_whitespace()
        .find(|w| w.starts_with(&format!("{}/activate/", server.base)))
        .expect("a link to this gateway");
    let page = client.get(link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Activate my account"), "opening the link spends nothing");
    let pressed = client
        .post(link)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", &server.base)
        // The activation asks for the registration's password (pre-registered addresses).
        .body("password=correct+horse+battery+staple")
        .send()
        .await
        .unwrap();
    assert_eq!(pressed.status(), 200);

    let user: serde_json::Value = client
        .get(format!("{}/admin/v1/users?email=dev@example.com", server.base))
        .bearer_auth(&server.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(user["status"], "active");
}

#[tokio::test]
async fn the_aws_backend_runs_against_an_emulator() {
    let moto = learners_tests::moto::url();
    let table = learners_tests::unique("dev-");
    let aws_env = [
        ("AWS_ENDPOINT_URL", moto),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("LEARNERS_TABLE_NAME", table.as_str()),
    ];
    let provisioned = Command::new(BINARY).arg("provision").envs(aws_env).output().unwrap();
    assert!(provisioned.status.success(), "{}", String::from_utf8_lossy(&provisioned.stderr));
    assert!(String::from_utf8_lossy(&provisioned.stdout).contains(&format!("LEARNERS_TABLE_NAME={table}")));

    // As `make dev-moto` does: every provisioned name (table, queue URLs) into the environment.
    let stdout = String::from_utf8_lossy(&provisioned.stdout).into_owned();
    let provisioned_vars: Vec<(&str, &str)> = stdout.lines().filter_map(|l| l.split_once('=')).collect();
    let mut env = aws_env.to_vec();
    env.extend(provisioned_vars);
    env.push(("LEARNERS_BACKEND", "aws"));
    let server = start(&env);
    let client = reqwest::Client::new();
    let address = format!("{}@example.com", learners_tests::unique("devaws-"));
    let body = serde_json::json!({"email": address, "username": learners_tests::unique("devaws"), "name": "Dev User", "password": "correct horse battery staple", "terms_accepted": true});
    let response = client.post(format!("{}/api/v1/registrations", server.base)).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 202);
    // There is no /_dev/mail on AWS: the mail went to SES.
    assert_eq!(client.get(format!("{}/_dev/mail", server.base)).send().await.unwrap().status(), 404);
    // The mail worker polls the mail queue: wait for it (20 s at most).
    let mut sent = Vec::new();
    for _ in 0..200 {
        sent = learners_tests::moto::sent_mail_to(&address).await;
        if !sent.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(sent.iter().any(|m| m.subject.starts_with("Activate")), "{sent:?}");
    let user = client
        .get(format!("{}/admin/v1/users?email={address}", server.base))
        .bearer_auth(&server.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(user.status(), 200);
}
