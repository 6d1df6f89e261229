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

/// Every mail moto's SES has accepted (all tests share the server: filter by address).
pub async fn sent_mail() -> Vec<Mail> {
    let data = data_json().await;
    let messages = data["ses"]["Message"].as_array().cloned().unwrap_or_default();
    messages
        .iter()
        .flat_map(|m| {
            let subject = m["subject"].as_str().unwrap_or_default().to_owned();
            let body = m["body"].as_str().unwrap_or_default().to_owned();
            m["destinations"]["ToAddresses"].as_array().cloned().unwrap_or_default().into_iter().filter_map(move |to| {
                Some(Mail { to: to.as_str()?.to_owned(), subject: subject.clone(), body: body.clone() })
            })
        })
        .collect()
}

/// moto builds data.json by walking every backend while other requests change them, and now
/// and then answers a 500 for it: ask again.
async fn data_json() -> serde_json::Value {
    let mut last_error = String::new();
    for attempt in 0..10u64 {
        match reqwest::get(format!("{}/moto-api/data.json", url())).await {
            Ok(response) if response.status().is_success() => match response.json().await {
                Ok(data) => return data,
                Err(e) => last_error = e.to_string(),
            },
            Ok(response) => last_error = format!("status {}", response.status()),
            Err(e) => last_error = e.to_string(),
        }
        tokio::time::sleep(std::time::Duration::from_millis(50 * (attempt + 1))).await;
    }
    panic!("moto data.json kept failing: {last_error}")
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
