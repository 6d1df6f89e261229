//! Logging set-up: JSON lines in Lambda (CloudWatch), readable text locally; on stderr, so
//! stdout stays for what a command prints; colour only on a terminal. The level comes from
//! `RUST_LOG` (default `info`).
//!
//! Whatever `RUST_LOG` says, the Lambda runtime's own crates log at `info` at most: at `debug`
//! and `trace` they write whole events and responses, which carry passwords, cookies and
//! tokens.

use std::io::IsTerminal;
use tracing::{Level, Metadata, Subscriber};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

/// Crates that log raw invocation events or responses below `info`.
const RAW_EVENT_TARGETS: [&str; 3] = ["lambda_runtime", "lambda_http", "lambda_runtime_api_client"];

/// Is this event fit to write? Everything but the runtime's raw events.
fn fit_to_write(meta: &Metadata<'_>) -> bool {
    let raw = RAW_EVENT_TARGETS.iter().any(|t| meta.target() == *t || meta.target().starts_with(&format!("{t}::")));
    !raw || *meta.level() <= Level::INFO
}

/// The subscriber: `filter` (RUST_LOG's syntax), JSON lines or compact text, into `writer`.
pub fn subscriber<W>(filter: EnvFilter, json: bool, ansi: bool, writer: W) -> impl Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let layer = tracing_subscriber::fmt::layer().with_target(false).with_ansi(ansi).with_writer(writer);
    let layer =
        if json { layer.json().without_time().with_current_span(false).boxed() } else { layer.compact().boxed() };
    tracing_subscriber::registry().with(filter).with(layer.with_filter(filter_fn(fit_to_write)))
}

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
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
        let subscriber = subscriber(EnvFilter::new("trace"), true, false, move || writer.clone());
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
}
