//! Business metrics as CloudWatch Embedded Metric Format (EMF) log lines: a JSON line on
//! stdout that CloudWatch Logs turns into a metric, with no API call and no extra permission
//! (the template's dashboard draws them). Outside Lambda (no namespace configured) nothing is
//! written; the counts are kept in the process either way, which is what tests read.
//!
//! The format is plain JSON, so `serde_json` writes it; see
//! <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;

/// What the service counts. The name is the CloudWatch metric name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    Registrations,
    Activations,
    SignIns,
    FailedSignIns,
    /// Sign-in attempts refused because the account (or device) is locked.
    LockedSignIns,
    /// Accounts that just became locked.
    Locks,
    PasswordResets,
    BulkRowsCreated,
    BulkRowsSkipped,
    BulkRowsFailed,
    Deletions,
    MailsSent,
    /// Hard bounces and complaints reported by SES.
    MailsRefused,
    /// Mails not sent because the address refused mail before.
    MailsSuppressed,
    /// Queue messages no worker could read, on their way to a dead-letter queue.
    MalformedMessages,
}

impl Metric {
    pub const ALL: [Metric; 15] = [
        Metric::Registrations,
        Metric::Activations,
        Metric::SignIns,
        Metric::FailedSignIns,
        Metric::LockedSignIns,
        Metric::Locks,
        Metric::PasswordResets,
        Metric::BulkRowsCreated,
        Metric::BulkRowsSkipped,
        Metric::BulkRowsFailed,
        Metric::Deletions,
        Metric::MailsSent,
        Metric::MailsRefused,
        Metric::MailsSuppressed,
        Metric::MalformedMessages,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Registrations => "Registrations",
            Self::Activations => "Activations",
            Self::SignIns => "SignIns",
            Self::FailedSignIns => "FailedSignIns",
            Self::LockedSignIns => "LockedSignIns",
            Self::Locks => "Locks",
            Self::PasswordResets => "PasswordResets",
            Self::BulkRowsCreated => "BulkRowsCreated",
            Self::BulkRowsSkipped => "BulkRowsSkipped",
            Self::BulkRowsFailed => "BulkRowsFailed",
            Self::Deletions => "Deletions",
            Self::MailsSent => "MailsSent",
            Self::MailsRefused => "MailsRefused",
            Self::MailsSuppressed => "MailsSuppressed",
            Self::MalformedMessages => "MalformedMessages",
        }
    }
}

#[derive(Debug, Default)]
pub struct Metrics {
    /// `LEARNERS_METRICS_NAMESPACE`: set in Lambda (the template makes it per stack).
    namespace: Option<String>,
    counts: Mutex<BTreeMap<Metric, u64>>,
}

impl Metrics {
    pub fn new(namespace: Option<String>) -> Self {
        Self { namespace, counts: Mutex::default() }
    }

    pub fn count(&self, metric: Metric) {
        self.add(metric, 1);
    }

    pub fn add(&self, metric: Metric, value: u64) {
        if value == 0 {
            return;
        }
        *self.counts.lock().unwrap_or_else(|e| e.into_inner()).entry(metric).or_default() += value;
        if let Some(namespace) = &self.namespace {
            let line = emf_line(namespace, metric, value, now_millis());
            // One write of one whole line, so concurrent log lines cannot split it.
            let _ = std::io::stdout().lock().write_all(line.as_bytes());
        }
    }

    /// How many of `metric` this process counted.
    pub fn total(&self, metric: Metric) -> u64 {
        self.counts.lock().unwrap_or_else(|e| e.into_inner()).get(&metric).copied().unwrap_or(0)
    }
}

fn now_millis() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis())
}

/// One EMF record: the metric without dimensions (one series per stack, by namespace).
fn emf_line(namespace: &str, metric: Metric, value: u64, timestamp_ms: u128) -> String {
    let record = serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms as u64,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [[]],
                "Metrics": [{"Name": metric.name(), "Unit": "Count"}],
            }],
        },
        metric.name(): value,
    });
    format!("{record}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emf_line_names_its_metric_and_carries_the_value() {
        let line = emf_line("Learners/prod", Metric::SignIns, 3, 1_700_000_000_000);
        assert!(line.ends_with('\n') && !line.trim_end().contains('\n'));
        let record: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(record["SignIns"], 3);
        assert_eq!(record["_aws"]["Timestamp"], 1_700_000_000_000u64);
        let directive = &record["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Learners/prod");
        assert_eq!(directive["Metrics"][0]["Name"], "SignIns");
        assert_eq!(directive["Metrics"][0]["Unit"], "Count");
        assert_eq!(directive["Dimensions"], serde_json::json!([[]]));
    }

    #[test]
    fn counts_add_up_and_zero_is_not_a_sample() {
        let metrics = Metrics::new(None);
        metrics.count(Metric::MailsSent);
        metrics.add(Metric::MailsSent, 2);
        metrics.add(Metric::Deletions, 0);
        assert_eq!(metrics.total(Metric::MailsSent), 3);
        assert_eq!(metrics.total(Metric::Deletions), 0);
    }
}
