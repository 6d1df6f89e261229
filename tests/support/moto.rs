//! The moto server the AWS-side tests talk to. `make test` starts one and exports its URL in
//! `LEARNERS_TEST_MOTO_URL`; without it, the first test that needs moto starts one from
//! `./.venv` (which `make test` creates), and the launcher exits when this test process does.

use super::Mail;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

static URL: OnceLock<String> = OnceLock::new();

pub fn url() -> &'static str {
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("LEARNERS_TEST_MOTO_URL") {
            if !url.is_empty() {
                return url;
            }
        }
        start()
    })
}

fn start() -> String {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let python = format!("{root}/.venv/bin/python");
    assert!(
        std::path::Path::new(&python).exists(),
        "moto is not installed: run `make test` (or `make venv`) to create ./.venv, or set LEARNERS_TEST_MOTO_URL"
    );
    let mut child = Command::new(python)
        .args([&format!("{root}/infra/moto/server.py"), "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting moto server");
    let stdout = child.stdout.take().expect("moto stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("reading moto's URL line");
    let url = line.trim().strip_prefix("MOTO_URL=").unwrap_or_else(|| panic!("moto printed {line:?}")).to_owned();
    // The launcher watches its parent and exits with it: leaking the handle is on purpose.
    std::mem::forget(child);
    url
}

/// Every mail moto's SES has accepted for `address` (exact, as stored), oldest first. Read from
/// the test server's own `/_learners/ses/sent` (infra/moto/server.py), which reads moto's SES
/// backend directly: `/moto-api/data.json` serialises every backend, every table of every test
/// so far, and took 12 s a call late in a run.
pub async fn sent_mail_to(address: &str) -> Vec<Mail> {
    let url = format!("{}/_learners/ses/sent?to={}", url(), super::urlencode(address));
    let response = reqwest::get(&url).await.unwrap_or_else(|e| panic!("asking moto's sent mail: {e}"));
    assert!(response.status().is_success(), "moto's sent mail: {}", response.status());
    let sent: Vec<serde_json::Value> = response.json().await.expect("moto's sent mail as JSON");
    sent.iter()
        .map(|m| Mail {
            to: m["to"].as_str().unwrap_or_default().to_owned(),
            subject: m["subject"].as_str().unwrap_or_default().to_owned(),
            body: m["body"].as_str().unwrap_or_default().to_owned(),
        })
        .collect()
}

/// Whether any of the queues still holds a message (visible or in flight).
pub async fn queues_busy(
    clients: &learners::adapters::aws::AwsClients,
    urls: &std::collections::BTreeMap<learners::ports::Queue, String>,
) -> bool {
    use aws_sdk_sqs::types::QueueAttributeName as Name;
    for url in urls.values() {
        let Ok(output) = clients
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(Name::ApproximateNumberOfMessages)
            .attribute_names(Name::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
        else {
            return true;
        };
        let attributes = output.attributes.unwrap_or_default();
        let count = |name: &Name| attributes.get(name).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        if count(&Name::ApproximateNumberOfMessages) + count(&Name::ApproximateNumberOfMessagesNotVisible) > 0 {
            return true;
        }
    }
    false
}
