//! A fake of the Have I Been Pwned range API on 127.0.0.1 (tests never reach the real one):
//! `GET /range/{prefix}` answers the lines given for that prefix, or an outage as told. It
//! records every request line and whether it asked for padding.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outage {
    /// Answers normally.
    None,
    /// Answers 503 to everything.
    Unavailable,
    /// Accepts connections and never answers.
    Hangs,
}

/// A request the fake received: its path and whether `Add-Padding: true` came with it.
#[derive(Clone, Debug)]
pub struct RangeRequest {
    pub path: String,
    pub padding: bool,
}

pub struct FakeRange {
    pub base: String,
    pub requests: Arc<Mutex<Vec<RangeRequest>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeRange {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeRange {
    /// Starts the fake: `answers` maps a 5-hex prefix to the body of its answer.
    pub async fn start(answers: Vec<(&str, String)>, outage: Outage) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let answers: Arc<HashMap<String, String>> =
            Arc::new(answers.into_iter().map(|(prefix, body)| (prefix.to_owned(), body)).collect());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else { return };
                let answers = answers.clone();
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buffer = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                        match socket.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buffer[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head).to_string();
                    let path = head.split_whitespace().nth(1).unwrap_or_default().to_owned();
                    let padding = head.lines().any(|line| line.eq_ignore_ascii_case("add-padding: true"));
                    seen.lock().unwrap().push(RangeRequest { path: path.clone(), padding });
                    let (status, body) = match outage {
                        Outage::Hangs => {
                            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                            return;
                        }
                        Outage::Unavailable => ("503 Service Unavailable", String::new()),
                        Outage::None => match path.strip_prefix("/range/").and_then(|prefix| answers.get(prefix)) {
                            Some(body) => ("200 OK", body.clone()),
                            None => ("200 OK", String::new()),
                        },
                    };
                    let response = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Self { base, requests, task }
    }

    pub fn requests(&self) -> Vec<RangeRequest> {
        self.requests.lock().unwrap().clone()
    }
}

/// A passphrase the fake lists as breached (count 2), with its SHA-1 split after 5 hex digits.
pub const BREACHED: (&str, &str, &str) = ("amber ferry lights 1987", "A5A66", "1949C9F3D8D8F884E0FAAA0E0DCC02C807D");
/// A passphrase the fake lists only as padding (count 0).
pub const PADDED: (&str, &str, &str) = ("quiet meadow lanterns 77", "BA2EA", "C07453C2CF71648D519582125B28DCB2227");

/// The answers of a range API that knows `BREACHED` (in lower case, as suffixes compare without
/// regard to case) and pads `PADDED`'s prefix with `PADDED` itself at count 0.
pub fn answers() -> Vec<(&'static str, String)> {
    vec![
        (
            BREACHED.1,
            format!(
                "0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n{}:2\r\nFFFFF45C4D1DEF81644B54AB7F969B88D65:0\r\n",
                BREACHED.2.to_lowercase()
            ),
        ),
        (PADDED.1, format!("0018A45C4D1DEF81644B54AB7F969B88D65:3\r\n{}:0\r\n", PADDED.2)),
    ]
}
