//! `learnerctl`: the operator's command line for the learner account service.
//!
//! Exit codes: 0 done; 1 the API refused (its message is printed); 2 bad usage; 3 anything
//! else: the API could not be reached, there are no credentials, or its answer was unreadable.

mod api;
mod clients;
mod commands;
mod directory;
mod jobs;
mod settings;
mod show;
mod split;

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

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let code = match run(cli).await {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("learnerctl: {error:#}");
            if error.downcast_ref::<api::ApiError>().is_some() {
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
