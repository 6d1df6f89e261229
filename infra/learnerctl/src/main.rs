//! `learnerctl`: the operator's command line for the learner account service.
//!
//! Exit codes: 0 done (a closed output pipe too: see `output`); 1 the API (or the uploads'
//! bucket) refused, or a job refused its file whole (the message is printed); 2 bad usage (a
//! deletion not confirmed too, a file larger than a dry run takes); 3 anything else: the API
//! could not be reached, there are no credentials, its answer was unreadable, or learnerctl
//! itself failed (a panic).

#[macro_use]
mod output;
mod api;
mod clients;
mod commands;
mod directory;
mod jobs;
mod settings;
mod show;
mod split;
mod upload;

use clap::Parser;

#[derive(Parser)]
#[command(name = "learnerctl", version, about = "Operator commands for the learner account service")]
struct Cli {
    /// Base URL of the API (the stack's ApiUrl output, or http://127.0.0.1:3000 for `make dev`).
    #[arg(long, env = "LEARNERS_API_URL", global = true, default_value = "http://127.0.0.1:3000")]
    api: String,
    /// Bearer token of the local gateway. Without it, requests are SigV4-signed with your AWS
    /// credentials (AWS_PROFILE, AWS_REGION, ... as for the AWS CLI).
    #[arg(long, env = "LEARNERS_ADMIN_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
    /// Print the API's JSON answers instead of text (one document a line; for scripts).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: commands::Command,
}

fn main() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if output::is_closed_pipe(message) {
            std::process::exit(0);
        }
        errln!("learnerctl: internal error: {info}");
        std::process::exit(3);
    }));
    // Usage errors exit 2, `--help` and `--version` 0, whatever becomes of their text.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            std::process::exit(if error.use_stderr() { 2 } else { 0 });
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            errln!("learnerctl: starting: {error}");
            std::process::exit(3);
        }
    };
    let code = match runtime.block_on(run(cli)) {
        Ok(()) => 0,
        Err(error) => {
            errln!("learnerctl: {error:#}");
            if error.downcast_ref::<api::ApiError>().is_some() || error.downcast_ref::<api::Refused>().is_some() {
                1
            } else if error.downcast_ref::<commands::UsageError>().is_some() {
                2
            } else {
                3
            }
        }
    };
    std::process::exit(code);
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let options = commands::Options { json: cli.json, limits: split::Limits::from_env()? };
    let api = api::Api::connect(&cli.api, cli.token).await?;
    commands::run(&api, &options, cli.command).await
}
