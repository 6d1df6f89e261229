//! Logging set-up: JSON lines in Lambda (CloudWatch), readable text locally; on stderr, so
//! stdout stays for what a command prints. The level comes
//! from `RUST_LOG` (default `info`).

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr);
    // `try_init`: a second call (tests) keeps the first subscriber.
    let _ = if in_lambda {
        builder.json().without_time().with_current_span(false).try_init()
    } else {
        builder.compact().try_init()
    };
}
