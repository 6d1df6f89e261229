//! The commands, one function each.

use crate::api::Api;
use anyhow::Context;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{BufRead, IsTerminal};
use std::time::Duration;

#[derive(Subcommand)]
pub enum Command {
    /// Register the learners of a CSV file (columns email, username, name, optional password).
    BulkRegister {
        /// The CSV file.
        file: std::path::PathBuf,
        /// Only validate the file and list its problems; create nothing.
        #[arg(long)]
        dry_run: bool,
        /// Show progress until the job completes, then the summary.
        #[arg(long)]
        wait: bool,
    },
    /// Show an account.
    User { email: String },
    /// Activate an account whose activation mail got lost.
    Activate { email: String },
    /// Set a learner's password. It is read from a hidden prompt, or from the first line of
    /// standard input when that is not a terminal; never from the command line.
    SetPassword {
        email: String,
        /// Do not mail the learner that an operator set a new password.
        #[arg(long)]
        no_notify: bool,
    },
    /// Clear a learner's failed sign-ins and any lock.
    Unlock { email: String },
    /// Delete the accounts of a list of emails: a CSV file with an `email` column, or one
    /// address per line. Deleted accounts cannot be restored.
    Delete {
        /// The file of addresses.
        #[arg(long)]
        emails: std::path::PathBuf,
        /// Wait until every address is handled, then show the summary.
        #[arg(long)]
        wait: bool,
    },
    /// Show a bulk registration or deletion job.
    Job { id: String },
    /// Write the per-row report of a bulk registration job (CSV), to a file or standard output.
    Report {
        id: String,
        /// The file to write (default: standard output).
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
    },
    /// Show the operator actions on an account, newest first: by its email, or by its user id
    /// (which still answers after the account was deleted).
    Audit {
        email: Option<String>,
        #[arg(long, conflicts_with = "email")]
        user_id: Option<String>,
    },
    /// The operator role: who may use the browser console at /operator.
    Operators {
        #[command(subcommand)]
        action: OperatorsAction,
    },
}

#[derive(Subcommand)]
pub enum OperatorsAction {
    /// Give an account the operator role (it signs in on /login and opens /operator).
    Grant { email: String },
    /// Take the role away; an open console session loses the console at its next request.
    Revoke { email: String },
    /// The accounts with the role.
    List,
}

fn json_body(value: serde_json::Value) -> Vec<u8> {
    value.to_string().into_bytes()
}

fn print(value: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

fn query(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub async fn run(api: &Api, command: Command) -> anyhow::Result<()> {
    match command {
        Command::BulkRegister { file, dry_run, wait } => bulk_register(api, &file, dry_run, wait).await,
        Command::User { email } => {
            print(
                &api.send("GET", &format!("/admin/v1/users?email={}", query(&email)), None, Vec::new())
                    .await?
                    .ok()?
                    .json()?,
            );
            Ok(())
        }
        Command::Activate { email } => {
            let body = json_body(serde_json::json!({ "email": email }));
            api.send("POST", "/admin/v1/users/activate", Some("application/json"), body).await?.ok()?;
            println!("{email} is active.");
            Ok(())
        }
        Command::SetPassword { email, no_notify } => {
            let password = read_password()?;
            let body = json_body(serde_json::json!({ "email": email, "password": password, "notify": !no_notify }));
            api.send("POST", "/admin/v1/users/password", Some("application/json"), body).await?.ok()?;
            println!("The password of {email} is set{}.", if no_notify { "" } else { "; the learner has been told" });
            Ok(())
        }
        Command::Unlock { email } => {
            let body = json_body(serde_json::json!({ "email": email }));
            api.send("POST", "/admin/v1/users/unlock", Some("application/json"), body).await?.ok()?;
            println!("{email} can sign in again.");
            Ok(())
        }
        Command::Delete { emails, wait } => delete(api, &emails, wait).await,
        Command::Job { id } => {
            let bulk =
                api.send("GET", &format!("/admin/v1/bulk-registrations/{}", query(&id)), None, Vec::new()).await?;
            let answer = if bulk.status == 404 {
                api.send("GET", &format!("/admin/v1/deletions/{}", query(&id)), None, Vec::new()).await?
            } else {
                bulk
            };
            print(&answer.ok()?.json()?);
            Ok(())
        }
        Command::Operators { action } => operators(api, action).await,
        Command::Audit { email, user_id } => {
            let filter = match (email, user_id) {
                (Some(email), None) => format!("email={}", query(&email)),
                (None, Some(id)) => format!("user_id={}", query(&id)),
                _ => return Err(UsageError("give an email or --user-id".into()).into()),
            };
            print(&api.send("GET", &format!("/admin/v1/audit?{filter}"), None, Vec::new()).await?.ok()?.json()?);
            Ok(())
        }
        Command::Report { id, output } => {
            let path = format!("/admin/v1/bulk-registrations/{}/report.csv", query(&id));
            let report = api.send("GET", &path, None, Vec::new()).await?.ok()?;
            match output {
                Some(file) => {
                    std::fs::write(&file, &report.body)
                        .map_err(|e| UsageError(format!("cannot write {}: {e}", file.display())))?;
                    eprintln!("Report of job {id} written to {}.", file.display());
                }
                None => {
                    std::io::Write::write_all(&mut std::io::stdout(), &report.body).context("writing the report")?
                }
            }
            Ok(())
        }
    }
}

async fn operators(api: &Api, action: OperatorsAction) -> anyhow::Result<()> {
    match action {
        OperatorsAction::Grant { email } => {
            let body = json_body(serde_json::json!({ "email": email }));
            api.send("POST", "/admin/v1/operators", Some("application/json"), body).await?.ok()?;
            println!("{email} is an operator: they sign in on /login and open /operator.");
        }
        OperatorsAction::Revoke { email } => {
            api.send("DELETE", &format!("/admin/v1/operators/{}", query(&email)), None, Vec::new()).await?.ok()?;
            println!("{email} is no longer an operator.");
        }
        OperatorsAction::List => {
            let answer = api.send("GET", "/admin/v1/operators", None, Vec::new()).await?.ok()?.json()?;
            let operators = answer["operators"].as_array().cloned().unwrap_or_default();
            if operators.is_empty() {
                println!("No account has the operator role.");
            }
            for operator in operators {
                println!("{}\t{}", operator["email"].as_str().unwrap_or("?"), operator["name"].as_str().unwrap_or(""));
            }
        }
    }
    Ok(())
}

fn read_password() -> anyhow::Result<String> {
    let password = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("New password: ").context("reading the password")?
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("reading the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if password.is_empty() {
        return Err(UsageError("no password given".into()).into());
    }
    Ok(password)
}

/// Something wrong with what the operator gave (a file that cannot be read, an empty
/// password): exit code 2, as for bad arguments.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn read_file(file: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(file).map_err(|e| UsageError(format!("cannot read {}: {e}", file.display())).into())
}

async fn bulk_register(api: &Api, file: &std::path::Path, dry_run: bool, wait: bool) -> anyhow::Result<()> {
    let csv = read_file(file)?;
    let path = if dry_run { "/admin/v1/bulk-registrations?dry_run=true" } else { "/admin/v1/bulk-registrations" };
    let answer = api.send("POST", path, Some("text/csv"), csv).await?.ok()?.json()?;
    if dry_run {
        let errors = answer["errors"].as_array().cloned().unwrap_or_default();
        println!("{} rows; {} would not be registered.", answer["rows"], errors.len());
        print_problems(&answer["errors"]);
        return Ok(());
    }
    let id = answer["job_id"].as_str().context("the API gave no job id")?.to_owned();
    println!("Job {id}: {} rows queued.", answer["rows"]);
    if !wait {
        println!("Follow it with: learnerctl job {id}");
        return Ok(());
    }
    let total = answer["rows"].as_u64().unwrap_or(0);
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} rows {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let job = loop {
        let job =
            api.send("GET", &format!("/admin/v1/bulk-registrations/{id}"), None, Vec::new()).await?.ok()?.json()?;
        let settled = ["created", "skipped", "failed"].iter().map(|k| job[*k].as_u64().unwrap_or(0)).sum();
        bar.set_position(settled);
        bar.set_message(format!("{} created, {} skipped, {} failed", job["created"], job["skipped"], job["failed"]));
        if job["status"] == "completed" {
            break job;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    bar.finish();
    println!(
        "Completed: {} created, {} skipped, {} failed of {} rows.",
        job["created"], job["skipped"], job["failed"], job["total"]
    );
    print_problems(&job["errors"]);
    println!("Per-row report: learnerctl report {id} --output report.csv");
    Ok(())
}

async fn delete(api: &Api, file: &std::path::Path, wait: bool) -> anyhow::Result<()> {
    // Sent as it is: the API reads (or refuses) a file the one way the console does too.
    let bytes = read_file(file)?;
    let answer = api.send("POST", "/admin/v1/deletions", Some("text/csv"), bytes).await?.ok()?.json()?;
    let id = answer["job_id"].as_str().context("the API gave no job id")?.to_owned();
    println!("Job {id}: {} addresses queued for deletion.", answer["rows"]);
    if !wait {
        println!("Follow it with: learnerctl job {id}");
        return Ok(());
    }
    let job = loop {
        let job = api.send("GET", &format!("/admin/v1/deletions/{id}"), None, Vec::new()).await?.ok()?.json()?;
        if job["status"] == "completed" {
            break job;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    println!(
        "Completed: {} deleted, {} not found, {} failed of {}.",
        job["deleted"], job["not_found"], job["failed"], job["total"]
    );
    print_problems(&job["errors"]);
    Ok(())
}

/// One line per row that was not settled as hoped.
fn print_problems(errors: &serde_json::Value) {
    for error in errors.as_array().into_iter().flatten() {
        let field = |name: &str| error[name].as_str().unwrap_or_default().to_owned();
        println!("  row {}: {} ({}): {}", error["row"], field("email"), field("code"), field("message"));
    }
}
