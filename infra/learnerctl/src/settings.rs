//! `learnerctl settings` and `learnerctl supporters` (issue 25): the site settings that the
//! support team changes without a deployment, and the support role that changes them in the
//! console.

use crate::api::{Answer, Api};
use crate::commands::UsageError;
use crate::jobs::query;
use crate::show::table;
use clap::Subcommand;
use serde_json::{json, Map, Value};

#[derive(Subcommand)]
pub enum SettingsAction {
    /// Every site setting: its value and its default (the stack's parameter).
    Show,
    /// Change settings, as NAME=VALUE pairs (e.g. `max_failed_logins=3 lockout_seconds=1200`);
    /// the others keep their values. Saved on the version read first: if someone saved in
    /// between, nothing is saved (run it again). Every part of the site uses the new values
    /// within 30 seconds.
    Set {
        #[arg(required = true, value_name = "NAME=VALUE")]
        changes: Vec<String>,
    },
}

#[derive(Subcommand)]
pub enum SupportersAction {
    /// Give an operator the support role (they change the site settings in the console).
    Grant { email: String },
    /// Take the role away.
    Revoke { email: String },
    /// The accounts with the role.
    List,
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) if s.is_empty() => "(none)".to_owned(),
        Value::String(s) => s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn print(json_output: bool, answer: &Answer, value: &Value) {
    if json_output {
        println!("{}", String::from_utf8_lossy(&answer.body).trim_end());
        return;
    }
    let empty = Map::new();
    let settings = value["settings"].as_object().unwrap_or(&empty);
    let rows: Vec<Vec<String>> =
        settings.iter().map(|(name, v)| vec![name.clone(), text(v), text(&value["defaults"][name.as_str()])]).collect();
    let saved = match (value["saved_by"].as_str(), value["saved_at"].as_str()) {
        (Some(who), Some(at)) => format!("saved by {who} at {at}"),
        _ => "the stack's parameters".to_owned(),
    };
    println!("Version {} ({saved})", value["version"]);
    print!("{}", table(&["setting", "value", "default"], &rows));
}

/// `raw` as the JSON type the setting has now (a number, true/false, or text).
fn typed(current: &Value, raw: &str) -> Value {
    match current {
        Value::Number(_) => raw.trim().parse::<i64>().map(Value::from).unwrap_or_else(|_| json!(raw)),
        Value::Bool(_) => match raw.trim() {
            "true" | "on" | "yes" | "1" => json!(true),
            "false" | "off" | "no" | "0" => json!(false),
            _ => json!(raw),
        },
        _ => json!(raw),
    }
}

pub async fn run(api: &Api, json_output: bool, action: SettingsAction) -> anyhow::Result<()> {
    let read = api.send("GET", "/admin/v1/settings", None, Vec::new()).await?.ok()?;
    let current = read.json()?;
    match action {
        SettingsAction::Show => print(json_output, &read, &current),
        SettingsAction::Set { changes } => {
            let mut settings = current["settings"].as_object().cloned().unwrap_or_default();
            for change in &changes {
                let Some((name, raw)) = change.split_once('=') else {
                    return Err(UsageError(format!("{change:?} is not NAME=VALUE")).into());
                };
                let name = name.trim();
                let Some(now) = settings.get(name).cloned() else {
                    let known = settings.keys().cloned().collect::<Vec<_>>().join(", ");
                    return Err(UsageError(format!("{name:?} is not a setting (they are: {known})")).into());
                };
                settings.insert(name.to_owned(), typed(&now, raw));
            }
            let version = format!("\"{}\"", current["version"]);
            let body = Value::Object(settings).to_string().into_bytes();
            let saved = api
                .send_with("PUT", "/admin/v1/settings", Some("application/json"), &[("if-match", &version)], body)
                .await?
                .ok()?;
            let value = saved.json()?;
            if !json_output {
                println!("Saved: every part of the site uses these within 30 seconds.");
            }
            print(json_output, &saved, &value);
        }
    }
    Ok(())
}

pub async fn supporters(api: &Api, json_output: bool, action: SupportersAction) -> anyhow::Result<()> {
    let said = match action {
        SupportersAction::Grant { email } => {
            let body = json!({ "email": email }).to_string().into_bytes();
            let granted = api.send("POST", "/admin/v1/supporters", Some("application/json"), body).await?.ok()?;
            (granted, format!("{email} has the support role: they change the site settings in the console."))
        }
        SupportersAction::Revoke { email } => {
            let path = format!("/admin/v1/supporters/{}", query(&email));
            let revoked = api.send("DELETE", &path, None, Vec::new()).await?.ok()?;
            (revoked, format!("{email} no longer has the support role."))
        }
        SupportersAction::List => {
            let list = api.send("GET", "/admin/v1/supporters", None, Vec::new()).await?.ok()?;
            if json_output {
                println!("{}", String::from_utf8_lossy(&list.body).trim_end());
            } else {
                let value = list.json()?;
                let rows: Vec<Vec<String>> = value["supporters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| vec![text(&s["email"]), text(&s["name"])])
                    .collect();
                if rows.is_empty() {
                    println!("No account has the support role.");
                } else {
                    print!("{}", table(&["email", "name"], &rows));
                }
            }
            return Ok(());
        }
    };
    if !json_output {
        println!("{}", said.1);
    }
    Ok(())
}
