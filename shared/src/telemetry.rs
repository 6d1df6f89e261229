//! Logging set-up: JSON lines in Lambda (CloudWatch), readable text locally; on stderr, so
//! stdout stays for what a command prints; colour only on a terminal. The level comes from
//! `RUST_LOG` (default `info`): a level, and `target=level` directives, comma-separated
//! (`tracing_subscriber`'s `Targets`; the span and field filters of its `EnvFilter` would link a
//! regular-expression engine into every function, for a cold start's worth of nothing).
//!
//! Whatever `RUST_LOG` says, the Lambda runtime's own crates, the AWS SDK and the HTTP stack
//! under it log at `info` at most: at `debug` and `trace` they write whole events, requests and
//! responses, which carry passwords (kept bulk rows, hashes), cookies and tokens.

use std::io::IsTerminal;
use tracing::{Level, Metadata, Subscriber};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

/// Crates that log raw invocation events or responses below `info`.
const RAW_EVENT_TARGETS: [&str; 3] = ["lambda_runtime", "lambda_http", "lambda_runtime_api_client"];

/// Families of crates that log request and response bodies below `info`: the AWS SDK (every
/// `aws_sdk_*` client, the smithy runtime, aws-config's credential providers, the signer) and
/// the HTTP stack under it. `hyper` stands for `hyper` and `hyper_*` (hyper_util, hyper_rustls).
const RAW_BODY_FAMILIES: [&str; 6] = ["aws_sdk", "aws_smithy", "aws_config", "aws_sigv4", "hyper", "h2"];

/// Is this event fit to write? Everything but the raw events, requests and responses.
fn fit_to_write(meta: &Metadata<'_>) -> bool {
    let target = meta.target();
    let crate_name = target.split("::").next().unwrap_or(target);
    let in_family =
        |family: &&str| crate_name.strip_prefix(*family).is_some_and(|rest| rest.is_empty() || rest.starts_with('_'));
    let raw = RAW_EVENT_TARGETS.contains(&crate_name) || RAW_BODY_FAMILIES.iter().any(in_family);
    !raw || *meta.level() <= Level::INFO
}

/// The filter `RUST_LOG` gives (`spec`), or `info` when it is unset or unreadable (said so on
/// stderr: there is no logger yet).
pub fn filter(spec: Option<&str>) -> Targets {
    let default = Targets::new().with_default(Level::INFO);
    match spec.map(str::parse::<Targets>) {
        None => default,
        Some(Ok(filter)) => filter,
        Some(Err(error)) => {
            eprintln!("RUST_LOG is not a list of levels and target=level directives ({error}): logging at info");
            default
        }
    }
}

/// The subscriber: `filter`, JSON lines or compact text, into `writer`.
pub fn subscriber<W>(filter: Targets, json: bool, ansi: bool, writer: W) -> impl Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let layer = tracing_subscriber::fmt::layer().with_target(false).with_ansi(ansi).with_writer(writer);
    let layer =
        if json { layer.json().without_time().with_current_span(false).boxed() } else { layer.compact().boxed() };
    tracing_subscriber::registry().with(filter).with(layer.with_filter(filter_fn(fit_to_write)))
}

pub fn init() {
    let filter = filter(std::env::var("RUST_LOG").ok().filter(|spec| !spec.is_empty()).as_deref());
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let ansi = !in_lambda && std::io::stderr().is_terminal();
    // `try_init`: a second call (tests) keeps the first subscriber.
    let _ = subscriber(filter, in_lambda, ansi, std::io::stderr).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn raw_runtime_events_are_never_written_even_at_trace() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = subscriber(filter(Some("trace")), true, false, move || writer.clone());
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: "lambda_runtime::layers::api_client", body = "password=hunter2hunter2", "raw event");
            tracing::debug!(target: "lambda_http", cookie = "__Host-learners_session=abc", "raw request");
            tracing::info!(target: "lambda_runtime", "runtime started");
            tracing::trace!(target: "learners::flows", "our own trace");
        });
        let written = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(!written.contains("hunter2"), "{written}");
        assert!(!written.contains("learners_session=abc"), "{written}");
        assert!(written.contains("runtime started"), "{written}");
        assert!(written.contains("our own trace"), "{written}");
        assert!(!written.contains('\u{1b}'), "no colour codes into files");
    }

    #[test]
    fn sdk_and_http_logs_are_capped_at_info_even_at_trace() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = subscriber(filter(Some("trace")), true, false, move || writer.clone());
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", body = "Password=hunter2a", "request");
            tracing::debug!(target: "aws_sdk_dynamodb::operation::put_item", item = "hunter2b", "serialized");
            tracing::trace!(target: "aws_smithy_http_client::hyper_legacy", body = "hunter2c", "wire");
            tracing::debug!(target: "aws_config::imds", token = "hunter2d", "credentials");
            tracing::trace!(target: "hyper_util::client::legacy", body = "hunter2e", "bytes");
            tracing::trace!(target: "hyper", body = "hunter2f", "bytes");
            tracing::debug!(target: "h2::codec", frame = "hunter2g", "frame");
            tracing::debug!(target: "aws_sigv4::http_request", canonical = "hunter2h", "signing");
            tracing::info!(target: "aws_sdk_dynamodb::client", "sdk info stays");
            tracing::warn!(target: "hyper_util::client::legacy", "http warning stays");
            tracing::trace!(target: "hypermedia_of_ours", "a crate that only shares the letters");
        });
        let written = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(!written.contains("hunter2"), "{written}");
        assert!(written.contains("sdk info stays"), "{written}");
        assert!(written.contains("http warning stays"), "{written}");
        assert!(written.contains("a crate that only shares the letters"), "{written}");
    }

    #[test]
    fn rust_log_takes_levels_and_targets_and_falls_back_to_info() {
        use tracing::level_filters::LevelFilter;
        assert_eq!(filter(None).default_level(), Some(LevelFilter::INFO));
        assert_eq!(filter(Some("warn")).default_level(), Some(LevelFilter::WARN));
        let mixed = filter(Some("info,learners::flows=debug"));
        assert!(mixed.would_enable("learners::flows::signin", &Level::DEBUG));
        assert!(!mixed.would_enable("learners::http", &Level::DEBUG));
        assert_eq!(filter(Some("not a = filter")).default_level(), Some(LevelFilter::INFO));
    }
}
