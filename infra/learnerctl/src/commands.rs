//! The commands, one function each.

use crate::api::{Answer, Api};
use crate::jobs::{self, query, Job, Kind, Summary};
use crate::show;
use crate::split::{self, offsets, Limits, Part};
use crate::upload;
use anyhow::Context;
use clap::Subcommand;
use std::io::{BufRead, IsTerminal};

#[derive(Subcommand)]
pub enum Command {
    /// Register the learners of a CSV file (columns email, username, name, optional password).
    /// The file goes up in one piece, whatever its size (by a signed upload: S3 in AWS).
    BulkRegister {
        /// The CSV file.
        file: std::path::PathBuf,
        /// Only validate the file and list its problems; create nothing. One check takes a file
        /// of at most 5.9 MB.
        #[arg(long)]
        dry_run: bool,
        /// Show progress until the job completes, then the summary.
        #[arg(long)]
        wait: bool,
        /// Send each learner the job creates an invitation: a mail with a link to choose their
        /// password (single use, valid 7 days). Off by default: no mail is sent.
        #[arg(long, conflicts_with = "dry_run")]
        invite: bool,
    },
    /// Show an account.
    User { email: String },
    /// Activate an account whose activation mail got lost.
    Activate { email: String },
    /// Set a learner's password. It is read from a hidden prompt, or from the first line of
    /// standard input when that is not a terminal; never from the command line. The learner is
    /// always mailed a notice (never the password).
    SetPassword { email: String },
    /// Clear a learner's failed sign-ins and any lock.
    Unlock { email: String },
    /// Move an account to another address (misspelled at registration, or no longer the
    /// learner's); an operator's too. A pending account gets a new activation link at the new
    /// address (links sent to the old one stop working); an active one is told at both
    /// addresses, and its sessions end. A taken address is refused (nothing changes).
    ChangeEmail {
        /// The account's address now.
        email: String,
        /// The address it moves to.
        new_email: String,
    },
    /// Remove every second factor of an account (authenticator app, passkeys, recovery codes),
    /// an operator's too: a lost phone. Signing in then takes the password alone; the owner is
    /// always mailed a notice.
    RemoveSecondFactors { email: String },
    /// Disable an account: it cannot sign in, every session and emailed link of it ends, and it
    /// gets no mail but a notice of this, until enabled. Its status stays as it is.
    Disable { email: String },
    /// Enable a disabled account: it signs in again with its password.
    Enable { email: String },
    /// Mail the learner a link to choose a new password (as "Forgot password" does). At most 3
    /// mails an hour to one account on operators' word.
    SendResetLink { email: String },
    /// Mail a pending account a new activation link (links sent before stop working).
    ResendActivation { email: String },
    /// End every session of an account, in every browser and application; nothing else changes.
    SignOut { email: String },
    /// Delete the accounts of a list of emails: a CSV file with an `email` column, or one
    /// address per line. Deleted accounts cannot be restored. It first shows what it would do
    /// (addresses, accounts, lines that are no address) and asks for the number of accounts to
    /// be typed; a list naming an operator's account (yours included) is refused whole. The
    /// list goes up in one piece, whatever its length (by a signed upload: S3 in AWS).
    Delete {
        /// The file of addresses.
        #[arg(long)]
        emails: std::path::PathBuf,
        /// Only show what it would do; delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Delete without asking (for scripts; what it would do is still shown).
        #[arg(long, conflicts_with = "dry_run")]
        yes: bool,
        /// Wait until every address is handled, then show the summary.
        #[arg(long)]
        wait: bool,
    },
    /// Show a bulk registration or deletion job: its counts and every problem row. Several
    /// jobs (the parts of a file an older learnerctl sent in parts, in the order given) are
    /// shown as one, rows numbered as in the whole file.
    Job {
        #[arg(required = true, value_name = "JOB_ID")]
        ids: Vec<String>,
    },
    /// Write the per-row report of a bulk registration job (CSV), to a file or standard output;
    /// of several jobs (a file an older learnerctl sent in parts), one report numbered as the
    /// whole file.
    Report {
        #[arg(required = true, value_name = "JOB_ID")]
        ids: Vec<String>,
        /// The file to write (default: standard output).
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
    },
    /// Show the operator actions on an account, newest first: by its email, or by its user id
    /// (which still answers after the account was deleted). With filters (--operator, --action,
    /// --from, --to, --all, --csv), the log across accounts (or the account's) page by page.
    Audit {
        email: Option<String>,
        #[arg(long, conflicts_with = "email")]
        user_id: Option<String>,
        #[command(flatten)]
        filters: crate::directory::AuditFilters,
    },
    /// Find learners: the list (newest first, with filters) or a search by the start of an
    /// email or username. One learner a line: email, username, status, source, created, id.
    Users {
        #[command(subcommand)]
        action: crate::directory::UsersAction,
    },
    /// Past bulk registrations and deletions, newest first: id, kind, created, status, counts,
    /// who asked.
    Jobs {
        /// Start at this page (the cursor a previous page ended with).
        #[arg(long)]
        cursor: Option<String>,
        /// Every page, not only the first.
        #[arg(long)]
        all: bool,
    },
    /// The operator role: who may use the browser console at /operator.
    Operators {
        #[command(subcommand)]
        action: OperatorsAction,
    },
    /// The site settings the support team changes without a deployment (failed sign-ins before
    /// a lock, link lifetimes, self-removal, the look, ...).
    Settings {
        #[command(subcommand)]
        action: crate::settings::SettingsAction,
    },
    /// The support role: operators who change the site settings in the console.
    Supporters {
        #[command(subcommand)]
        action: crate::settings::SupportersAction,
    },
    /// The applications that sign learners in (OpenID Connect: an Open edX LMS, ...).
    Clients {
        #[command(subcommand)]
        action: crate::clients::ClientsAction,
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

/// How a run prints, and the limits of one dry run.
pub struct Options {
    /// Print the API's JSON (one document a line) instead of text.
    pub json: bool,
    pub limits: Limits,
}

/// Prints an answer: its JSON as the API sent it, or `text` of it for people.
fn answer(options: &Options, answer: &Answer, text: impl FnOnce(&serde_json::Value) -> String) -> anyhow::Result<()> {
    let value = answer.json()?;
    if options.json {
        outln!("{}", String::from_utf8_lossy(&answer.body).trim_end());
    } else {
        out!("{}", text(&value));
    }
    Ok(())
}

/// The answer of an action: with `--json` its body if it has one (204 has none), else `said`.
fn done(options: &Options, answer: &Answer, said: String) {
    if !options.json {
        outln!("{said}");
    } else if !answer.body.is_empty() {
        outln!("{}", String::from_utf8_lossy(&answer.body).trim_end());
    }
}

pub async fn run(api: &Api, options: &Options, command: Command) -> anyhow::Result<()> {
    match command {
        Command::BulkRegister { file, dry_run, wait, invite } => {
            bulk_register(api, options, &file, dry_run, wait, invite).await
        }
        Command::Users { action } => crate::directory::users(api, options, action).await,
        Command::Jobs { cursor, all } => crate::directory::jobs(api, options, cursor, all).await,
        Command::User { email } => {
            let user = api.send("GET", &format!("/admin/v1/users?email={}", query(&email)), None, Vec::new()).await?;
            answer(options, &user.ok()?, show::user)
        }
        Command::Activate { email } => {
            let body = json_body(serde_json::json!({ "email": email }));
            let activated = api.send("POST", "/admin/v1/users/activate", Some("application/json"), body).await?.ok()?;
            done(options, &activated, format!("{email} is active."));
            Ok(())
        }
        Command::SetPassword { email } => {
            let password = read_password()?;
            let body = json_body(serde_json::json!({ "email": email, "password": password }));
            let set = api.send("POST", "/admin/v1/users/password", Some("application/json"), body).await?.ok()?;
            done(options, &set, format!("The password of {email} is set; the learner has been told."));
            Ok(())
        }
        Command::Unlock { email } => {
            let body = json_body(serde_json::json!({ "email": email }));
            let unlocked = api.send("POST", "/admin/v1/users/unlock", Some("application/json"), body).await?.ok()?;
            done(options, &unlocked, format!("{email} can sign in again."));
            Ok(())
        }
        Command::ChangeEmail { email, new_email } => {
            let body = json_body(serde_json::json!({ "email": email, "new_email": new_email }));
            let changed = api.send("POST", "/admin/v1/users/email", Some("application/json"), body).await?.ok()?;
            let pending = changed.json()?["status"].as_str() == Some("pending_activation");
            let told = if pending {
                "a new activation link goes to the new address; links sent to the old one no longer work"
            } else {
                "both addresses are told, and the learner's sessions have ended"
            };
            done(options, &changed, format!("{email} is now {new_email}: {told}."));
            Ok(())
        }
        Command::RemoveSecondFactors { email } => {
            let body = json_body(serde_json::json!({ "email": email }));
            let path = "/admin/v1/users/remove-second-factors";
            let removed = api.send("POST", path, Some("application/json"), body).await?.ok()?;
            let said =
                format!("{email} has no second factor now: the password alone signs in. The owner has been told.");
            done(options, &removed, said);
            Ok(())
        }
        Command::Disable { email } => {
            let said = format!("{email} is disabled: it cannot sign in, and the learner has been told.");
            on_one(api, options, "disable", &email, said).await
        }
        Command::Enable { email } => {
            on_one(api, options, "enable", &email, format!("{email} is enabled: it can sign in again.")).await
        }
        Command::SendResetLink { email } => {
            on_one(api, options, "reset-link", &email, format!("A reset link is on its way to {email}.")).await
        }
        Command::ResendActivation { email } => {
            let said = format!("A new activation link is on its way to {email}; older links no longer work.");
            on_one(api, options, "activation-link", &email, said).await
        }
        Command::SignOut { email } => {
            on_one(api, options, "sign-out", &email, format!("Every session of {email} has ended.")).await
        }
        Command::Delete { emails, dry_run, yes, wait } => {
            delete(api, options, &emails, Deleting { dry_run, yes, wait }).await
        }
        Command::Job { ids } => {
            let mut jobs = Vec::with_capacity(ids.len());
            for id in &ids {
                jobs.push(jobs::find(api, id).await?);
            }
            let kind = jobs[0].kind;
            if jobs.iter().any(|j| j.kind != kind) {
                return Err(UsageError("these jobs are not all of one kind: give the jobs of one file".into()).into());
            }
            if options.json {
                print_jobs_json(&jobs);
            } else {
                out!("{}", show::job(&Summary::of(kind, &jobs)));
            }
            Ok(())
        }
        Command::Operators { action } => operators(api, options, action).await,
        Command::Clients { action } => crate::clients::run(api, options.json, action).await,
        Command::Settings { action } => crate::settings::run(api, options.json, action).await,
        Command::Supporters { action } => crate::settings::supporters(api, options.json, action).await,
        Command::Audit { email, user_id, filters } if filters.any() => {
            crate::directory::audit(api, options, email.or(user_id), filters).await
        }
        Command::Audit { email, user_id, .. } => {
            let filter = match (email, user_id) {
                (Some(email), None) => format!("email={}", query(&email)),
                (None, Some(id)) => format!("user_id={}", query(&id)),
                _ => return Err(UsageError("give an email or --user-id".into()).into()),
            };
            let entries = api.send("GET", &format!("/admin/v1/audit?{filter}"), None, Vec::new()).await?.ok()?;
            answer(options, &entries, show::audit)
        }
        Command::Report { ids, output } => {
            let report = jobs::report(api, &ids).await?;
            match output {
                Some(file) => {
                    std::fs::write(&file, &report)
                        .map_err(|e| UsageError(format!("cannot write {}: {e}", file.display())))?;
                    let jobs = if ids.len() == 1 { "job" } else { "jobs" };
                    errln!("Report of {jobs} {} written to {}.", ids.join(" "), file.display());
                }
                None => crate::output::bytes(&report),
            }
            Ok(())
        }
    }
}

/// `--json` of jobs: each job's answer on a line; the rows of a split file's later parts
/// numbered as in the whole file.
fn print_jobs_json(jobs: &[Job]) {
    for (job, offset) in jobs.iter().zip(offsets(jobs.iter().map(Job::total))) {
        outln!("{}", job.json(offset));
    }
}

async fn operators(api: &Api, options: &Options, action: OperatorsAction) -> anyhow::Result<()> {
    match action {
        OperatorsAction::Grant { email } => {
            let body = json_body(serde_json::json!({ "email": email }));
            let granted = api.send("POST", "/admin/v1/operators", Some("application/json"), body).await?.ok()?;
            done(options, &granted, format!("{email} is an operator: they sign in on /login and open /operator."));
        }
        OperatorsAction::Revoke { email } => {
            let path = format!("/admin/v1/operators/{}", query(&email));
            let revoked = api.send("DELETE", &path, None, Vec::new()).await?.ok()?;
            done(options, &revoked, format!("{email} is no longer an operator."));
        }
        OperatorsAction::List => {
            answer(options, &api.send("GET", "/admin/v1/operators", None, Vec::new()).await?.ok()?, show::operators)?
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

/// `POST /admin/v1/users/{action}` with `{"email"}`: an operator's action on one learner.
async fn on_one(api: &Api, options: &Options, action: &str, email: &str, said: String) -> anyhow::Result<()> {
    let body = json_body(serde_json::json!({ "email": email }));
    let path = format!("/admin/v1/users/{action}");
    let answer = api.send("POST", &path, Some("application/json"), body).await?.ok()?;
    done(options, &answer, said);
    Ok(())
}

fn read_file(file: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(file).map_err(|e| UsageError(format!("cannot read {}: {e}", file.display())).into())
}

/// A file for one dry run: refused, before anything is sent, when it is larger than one
/// request takes (the real run has no such limit: it goes by upload).
fn read_checkable(file: &std::path::Path, limits: Limits) -> anyhow::Result<Vec<u8>> {
    let size = std::fs::metadata(file).map_err(|e| UsageError(format!("cannot read {}: {e}", file.display())))?.len();
    if size > limits.upload_bytes as u64 {
        return Err(UsageError(format!(
            "{} is {}: a dry run checks at most {} in one request. Check a part of it (for \
             instance its first 50,000 rows: head -n 50001 {} > part.csv), or run it without \
             --dry-run: the job takes a file of any size and reports every row it does not register.",
            file.display(),
            size_of(size),
            limits.upload_size(),
            file.display()
        ))
        .into());
    }
    read_file(file)
}

/// "48.9 MB", "812 bytes".
fn size_of(bytes: u64) -> String {
    if bytes < 1_000_000 {
        format!("{bytes} bytes")
    } else {
        format!("{:.1} MB", bytes as f64 / 1_000_000.0)
    }
}

/// The dry runs of a deletion list's parts, in order. A refused part stops there; the error
/// names it.
async fn check_parts(api: &Api, path: &str, parts: &[Part]) -> anyhow::Result<Vec<Answer>> {
    let mut answers: Vec<Answer> = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        let sent = api.send("POST", path, Some(part.content_type), part.body.clone()).await?.ok();
        match sent {
            Ok(sent) => answers.push(sent),
            Err(refused) if parts.len() > 1 => {
                return Err(refused.context(format!("checking part {} of {}", i + 1, parts.len())))
            }
            Err(refused) => return Err(refused),
        }
    }
    Ok(answers)
}

/// What `--json` prints of a list's checks: each answer on a line, the rows of a split list's
/// later parts numbered as in the whole file.
fn print_checks_json(answers: &[Answer], docs: &[serde_json::Value]) {
    let moved = offsets(docs.iter().map(|d| d["lines"].as_u64().unwrap_or(0)));
    for ((answer, doc), offset) in answers.iter().zip(docs).zip(moved) {
        if offset == 0 {
            outln!("{}", String::from_utf8_lossy(&answer.body).trim_end());
            continue;
        }
        let mut doc = doc.clone();
        for line in doc["invalid"].as_array_mut().into_iter().flatten() {
            line["row"] = serde_json::Value::from(line["row"].as_u64().unwrap_or(0) + offset);
        }
        for row in doc["operator_rows"].as_array_mut().into_iter().flatten() {
            *row = serde_json::Value::from(row.as_u64().unwrap_or(0) + offset);
        }
        outln!("{doc}");
    }
}

fn plural(n: u64, one: &'static str, more: &'static str) -> &'static str {
    if n == 1 {
        one
    } else {
        more
    }
}

async fn bulk_register(
    api: &Api,
    options: &Options,
    file: &std::path::Path,
    dry_run: bool,
    wait: bool,
    invite: bool,
) -> anyhow::Result<()> {
    let kind = Kind::BulkRegistration;
    if !dry_run {
        let sent = upload::send(api, kind, file, invite).await?;
        return follow_up(api, options, kind, file, &sent, wait).await;
    }
    let csv = read_checkable(file, options.limits)?;
    let answer = api.send("POST", "/admin/v1/bulk-registrations?dry_run=true", Some("text/csv"), csv).await?.ok()?;
    if options.json {
        outln!("{}", String::from_utf8_lossy(&answer.body).trim_end());
        return Ok(());
    }
    let doc = answer.json()?;
    let problems: Vec<serde_json::Value> = doc["errors"].as_array().cloned().unwrap_or_default();
    outln!("{} rows; {} would not be registered.", doc["rows"].as_u64().unwrap_or(0), problems.len());
    for warning in doc["warnings"].as_array().into_iter().flatten().filter_map(serde_json::Value::as_str) {
        outln!("Note: {warning}");
    }
    if !problems.is_empty() {
        out!("{}", show::problems(&problems));
    }
    Ok(())
}

/// After the upload: the job, and without `--wait` how to follow it; with it, the progress
/// until the job has completed, then its counts and every problem row. A bulk file the job
/// refused whole (its header, row 1: no email column, not a CSV) exits 1, as the API's
/// refusal of a request does.
async fn follow_up(
    api: &Api,
    options: &Options,
    kind: Kind,
    file: &std::path::Path,
    sent: &upload::Sent,
    wait: bool,
) -> anyhow::Result<()> {
    let id = &sent.job_id;
    if !options.json {
        let what = match kind {
            Kind::BulkRegistration => "its rows are read and registered",
            Kind::Deletion => "its addresses are read and deleted",
        };
        if sent.already {
            outln!("Job {id}: {} was sent before (the same file, by the same command): no second job.", file.display());
        } else {
            outln!("Job {id}: {} sent ({}); {what}.", file.display(), size_of(sent.bytes));
        }
    }
    if !wait {
        if options.json {
            let status = jobs::first_page(api, kind, id).await?;
            outln!("{}", String::from_utf8_lossy(&status.body).trim_end());
        } else {
            outln!("Follow it with: learnerctl job {id}");
        }
        return Ok(());
    }
    let ids = [id.clone()];
    let jobs = jobs::wait(api, kind, &ids).await?;
    let refused = (kind == Kind::BulkRegistration)
        .then(|| jobs[0].doc["errors"].as_array()?.iter().find(|p| p["row"].as_u64() == Some(1)).cloned())
        .flatten();
    if options.json {
        print_jobs_json(&jobs);
    } else {
        let summary = Summary::of(kind, &jobs);
        outln!("{}", show::completed(&summary));
        if !summary.problems.is_empty() {
            out!("{}", show::problems(&summary.problems));
        }
        if kind == Kind::BulkRegistration && refused.is_none() {
            outln!("Per-row report: learnerctl report {id} --output report.csv");
        }
    }
    if let Some(refused) = refused {
        let (code, message) =
            (refused["code"].as_str().unwrap_or_default(), refused["message"].as_str().unwrap_or_default());
        return Err(crate::api::Refused(format!("the file was refused, nothing registered: {code}: {message}")).into());
    }
    Ok(())
}

/// How `delete` goes about it.
struct Deleting {
    dry_run: bool,
    yes: bool,
    wait: bool,
}

/// What the API's dry runs of a list's parts say it would do, summed (rows numbered as in the
/// whole file).
#[derive(Default)]
struct WouldDelete {
    lines: u64,
    addresses: u64,
    accounts: u64,
    repeated: u64,
    invalid: Vec<serde_json::Value>,
    operator_rows: Vec<u64>,
    warnings: Vec<String>,
}

impl WouldDelete {
    fn of(docs: &[serde_json::Value]) -> Self {
        let mut sum = Self::default();
        let number = |v: &serde_json::Value, name: &str| v[name].as_u64().unwrap_or(0);
        let moved = offsets(docs.iter().map(|d| number(d, "lines")));
        for (doc, offset) in docs.iter().zip(moved) {
            sum.lines += number(doc, "lines");
            sum.addresses += number(doc, "addresses");
            sum.accounts += number(doc, "accounts");
            sum.repeated += number(doc, "repeated");
            sum.invalid.extend(doc["invalid"].as_array().into_iter().flatten().map(|p| jobs::moved_row(p, offset)));
            let rows = doc["operator_rows"].as_array().into_iter().flatten().filter_map(serde_json::Value::as_u64);
            sum.operator_rows.extend(rows.map(|row| row + offset));
            for warning in doc["warnings"].as_array().into_iter().flatten().filter_map(serde_json::Value::as_str) {
                if !sum.warnings.iter().any(|w| w == warning) {
                    sum.warnings.push(warning.to_owned());
                }
            }
        }
        sum
    }

    /// What it would do, for people.
    fn said(&self, file: &std::path::Path) -> String {
        let mut said = format!(
            "{}: {} {}, {} different {}",
            file.display(),
            self.lines,
            plural(self.lines, "line", "lines"),
            self.addresses,
            plural(self.addresses, "address", "addresses"),
        );
        if self.repeated > 0 {
            said.push_str(&format!(" ({} repeated, in any case, counted once)", self.repeated));
        }
        said.push_str(&format!(
            "; {} {} an account and would be deleted.\n",
            self.accounts,
            plural(self.accounts, "has", "have")
        ));
        for warning in &self.warnings {
            said.push_str(&format!("Note: {warning}\n"));
        }
        if !self.invalid.is_empty() {
            let n = self.invalid.len() as u64;
            said.push_str(&format!(
                "{n} {} not an email address (nothing is done with them):\n",
                plural(n, "line is", "lines are")
            ));
            for line in &self.invalid {
                let row = line["row"].as_u64().unwrap_or(0);
                let written = line["email"].as_str().unwrap_or_default();
                let why = line["message"].as_str().unwrap_or_default();
                said.push_str(&format!("  row {row}: {written:?}: {why}\n"));
            }
        }
        said
    }
}

async fn delete(api: &Api, options: &Options, file: &std::path::Path, how: Deleting) -> anyhow::Result<()> {
    // Checked as it is when it fits in one dry run: the API reads (or refuses) a file the one
    // way the console does too. A longer list is checked in parts the API reads the same way
    // (see `split`); the deletion itself sends the file whole (see `upload`).
    let bytes = read_file(file)?;
    let parts = split::deletion_file(&bytes, options.limits)?;
    drop(bytes);
    if parts.len() > 1 && !options.json {
        let limits = options.limits;
        outln!(
            "{} is more than one check takes ({} addresses, {}): it is checked in {} parts.",
            file.display(),
            limits.emails,
            limits.upload_size(),
            parts.len()
        );
    }
    if options.json && !how.dry_run && !how.yes {
        return Err(UsageError("with --json, give --yes to delete (or --dry-run to only check)".into()).into());
    }
    let kind = Kind::Deletion;
    // First what it would do: nothing is deleted before the operator has seen it.
    let checks = check_parts(api, "/admin/v1/deletions?dry_run=true", &parts).await?;
    let docs = checks.iter().map(Answer::json).collect::<anyhow::Result<Vec<_>>>()?;
    let would = WouldDelete::of(&docs);
    if options.json {
        print_checks_json(&checks, &docs);
    } else {
        out!("{}", would.said(file));
    }
    if !would.operator_rows.is_empty() {
        let rows: Vec<String> = would.operator_rows.iter().map(u64::to_string).collect();
        let (which, name) =
            if rows.len() == 1 { ("row", "names an operator's account") } else { ("rows", "name operators' accounts") };
        return Err(UsageError(format!(
            "refused, nothing deleted: {which} {} {name} (yours, if it is in the list); a list never deletes an \
             operator. Take {} out (or revoke the role first: learnerctl operators revoke) and run it again.",
            rows.join(", "),
            if rows.len() == 1 { "it" } else { "them" }
        ))
        .into());
    }
    if how.dry_run {
        if !options.json {
            outln!(
                "Dry run: nothing deleted. {} {} would be deleted.",
                would.accounts,
                plural(would.accounts, "account", "accounts")
            );
        }
        return Ok(());
    }
    if would.accounts == 0 {
        if !options.json {
            outln!("No address of this list has an account: nothing to delete.");
        }
        return Ok(());
    }
    if !how.yes {
        confirm_count(would.accounts)?;
    }
    let sent = upload::send(api, kind, file, false).await?;
    follow_up(api, options, kind, file, &sent, how.wait).await
}

/// Asks for the number of accounts to be typed (on the terminal, or the first line of
/// standard input when that is not one); anything else, or nothing (a closed standard input),
/// deletes nothing: exit 2.
fn confirm_count(accounts: u64) -> anyhow::Result<()> {
    let word = plural(accounts, "account", "accounts");
    errln!(
        "Deleted accounts cannot be restored. Type {accounts} to delete {accounts} {word} (or run again with --yes):"
    );
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if matches!(read, Ok(n) if n > 0) && line.trim() == accounts.to_string() {
        return Ok(());
    }
    let given = if matches!(read, Ok(0)) || read.is_err() { "nothing was typed" } else { "that is not the number" };
    Err(UsageError(format!("not confirmed ({given}): nothing deleted")).into())
}
