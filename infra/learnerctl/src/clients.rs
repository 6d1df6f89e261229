//! `learnerctl clients`: the applications (OpenID Connect relying parties, such as an Open edX
//! LMS) that sign learners in with their accounts. See docs/connecting-an-lms.md.

use crate::api::{Answer, Api};
use crate::jobs::query;
use crate::show::{labelled, table};
use clap::Subcommand;
use serde_json::{json, Value};

#[derive(Subcommand)]
pub enum ClientsAction {
    /// The registered applications (never their secrets).
    List,
    /// Register an application. A confidential one's secret is printed this once.
    Add {
        /// What operators call it (e.g. "Open edX").
        name: String,
        /// A redirect URI, exactly as the application sends it (Open edX:
        /// https://<lms>/auth/complete/<backend>/); give it once per URI.
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// Where the application may send a learner after signing them out.
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// A public application (no secret; it must use PKCE).
        #[arg(long)]
        public: bool,
    },
    /// A new secret for an application (printed this once); the old one stops working at once.
    RotateSecret { client_id: String },
    /// Remove an application: it can no longer sign anyone in.
    Remove { client_id: String },
}

fn text(value: &Value) -> String {
    value.as_str().map(|s| s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()).unwrap_or_default()
}

fn uris(value: &Value) -> String {
    value.as_array().map(|list| list.iter().map(text).collect::<Vec<_>>().join("\n")).unwrap_or_default()
}

/// One application, for people.
fn client(value: &Value) -> String {
    let mut pairs = vec![
        ("Client id", text(&value["client_id"])),
        ("Name", text(&value["name"])),
        ("Kind", if value["public"] == true { "public (PKCE)".into() } else { "confidential".into() }),
        ("Redirect URIs", uris(&value["redirect_uris"])),
        ("Sign-out URIs", uris(&value["post_logout_redirect_uris"])),
    ];
    if value["client_secret"].is_string() {
        pairs.push(("Client secret", format!("{} (shown this once)", text(&value["client_secret"]))));
    }
    labelled(&pairs)
}

fn print(json: bool, answer: &Answer, people: impl FnOnce(&Value) -> String) -> anyhow::Result<()> {
    let value = answer.json()?;
    if json {
        outln!("{}", String::from_utf8_lossy(&answer.body).trim_end());
    } else {
        out!("{}", people(&value));
    }
    Ok(())
}

pub async fn run(api: &Api, json: bool, action: ClientsAction) -> anyhow::Result<()> {
    match action {
        ClientsAction::List => {
            let listed = api.send("GET", "/admin/v1/clients", None, Vec::new()).await?.ok()?;
            print(json, &listed, |value| {
                let rows: Vec<Vec<String>> = value["clients"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .map(|c| {
                        let kind = if c["public"] == true { "public" } else { "confidential" };
                        vec![
                            text(&c["client_id"]),
                            text(&c["name"]),
                            kind.to_owned(),
                            uris(&c["redirect_uris"]).replace('\n', " "),
                        ]
                    })
                    .collect();
                table(&["CLIENT ID", "NAME", "KIND", "REDIRECT URIS"], &rows)
            })
        }
        ClientsAction::Add { name, redirect_uris, post_logout_redirect_uris, public } => {
            let body = json!({
                "name": name, "redirect_uris": redirect_uris,
                "post_logout_redirect_uris": post_logout_redirect_uris, "public": public,
            });
            let made = api.send("POST", "/admin/v1/clients", Some("application/json"), body.to_string().into_bytes());
            print(json, &made.await?.ok()?, client)
        }
        ClientsAction::RotateSecret { client_id } => {
            let path = format!("/admin/v1/clients/{}/secret", query(&client_id));
            let rotated = api.send("POST", &path, None, Vec::new()).await?.ok()?;
            print(json, &rotated, |value| {
                labelled(&[
                    ("Client id", text(&value["client_id"])),
                    ("Client secret", format!("{} (shown this once)", text(&value["client_secret"]))),
                ])
            })
        }
        ClientsAction::Remove { client_id } => {
            let path = format!("/admin/v1/clients/{}", query(&client_id));
            api.send("DELETE", &path, None, Vec::new()).await?.ok()?;
            if !json {
                outln!("The application {} is removed.", text(&json!(client_id)));
            }
            Ok(())
        }
    }
}
