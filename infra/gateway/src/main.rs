//! `learners-dev`: runs every function behind one local HTTP server (what `make dev` starts).
//!
//! `learners-dev` serves; `learners-dev provision` creates the table and queues on the
//! configured endpoint and exits.

use anyhow::Context;
use learners::adapters::aws::{provision, AwsClients};
use learners::adapters::clock::SystemClock;
use learners::Config;
use learners_gateway::workers::{spawn_in_process, spawn_sqs_pollers, spawn_upload_poller};
use learners_gateway::{serve, Gateway, RouteTable, Workers};
use std::sync::Arc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    learners::telemetry::init();
    let port: u16 = std::env::var("PORT")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "3000".into())
        .parse()
        .context("PORT must be a port number")?;
    let site_url = format!("http://127.0.0.1:{port}");
    let local_secret = learners::domain::Token::generate().as_str().to_owned();
    let counter_key = learners::domain::Token::generate().as_str().to_owned();
    let config = Config::from_lookup(|name| match (name, std::env::var(name).ok()) {
        ("LEARNERS_SITE_URL", None) => Some(site_url.clone()),
        // Locally, a secret of this run's own (retirement records then only match within it).
        ("LEARNERS_RETIREMENT_SECRET", None) => Some(local_secret.clone()),
        ("LEARNERS_COUNTER_KEY", None) => Some(counter_key.clone()),
        // The admin token stands for this principal: it is the local operator.
        ("LEARNERS_OPERATOR_PRINCIPALS", None) => Some(learners_gateway::LOCAL_OPERATOR.to_owned()),
        (_, value) => value,
    })?;
    let backend = std::env::var("LEARNERS_BACKEND").unwrap_or_else(|_| "memory".into());

    if std::env::args().nth(1).as_deref() == Some("provision") {
        let clients = AwsClients::from_env().await;
        let made = provision::provision(&clients, &config.table_name).await?;
        provision::verify_sender(&clients, &config.mail_from).await?;
        for (name, value) in made.variables() {
            println!("{name}={value}");
        }
        return Ok(());
    }

    let routes = RouteTable::from_template(learners_gateway::routes::TEMPLATE)?;
    let workers = Workers::from_routes(&routes)?;
    let (app, mail) = match backend.as_str() {
        "memory" => {
            let (app, parts) = learners::wiring::in_memory(config, Arc::new(SystemClock));
            spawn_in_process(app.clone(), workers, parts.queue, parts.pending.clone());
            (app, Some((parts.mailer, parts.uploads, parts.pending)))
        }
        "aws" => {
            let clients = AwsClients::from_env().await;
            let app = learners::wiring::aws(config, &clients, Arc::new(SystemClock));
            spawn_sqs_pollers(app.clone(), workers, clients.sqs, 2);
            if let Some(bucket) = app.config.upload_bucket.clone() {
                // Files uploaded to the bucket are taken in as S3's notification would start it.
                let uploads = learners::adapters::aws::S3Uploads::new(&clients.sdk, &bucket);
                spawn_upload_poller(app.clone(), uploads, bucket);
            }
            (app, None)
        }
        other => anyhow::bail!("LEARNERS_BACKEND must be memory or aws, got {other:?}"),
    };
    let admin_token = match std::env::var("LEARNERS_ADMIN_TOKEN") {
        Ok(token) if !token.is_empty() => token,
        _ => learners::domain::Token::generate().as_str().to_owned(),
    };
    let (mail, uploads) = match mail {
        Some((mail, uploads, pending)) => (Some(mail), Some((uploads, pending))),
        None => (None, None),
    };
    let mut gateway = Gateway::new(app, routes, admin_token.clone(), mail)?;
    if let Some((uploads, pending)) = uploads {
        // Files uploaded to the memory backend's bucket come here (`/_dev/uploads`).
        gateway = gateway.with_uploads(uploads, pending);
    }
    let gateway = Arc::new(gateway);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{port}"))?;
    println!("learners-dev ({backend} backend) listening on {}", gateway.app().config.site_url);
    println!("  register:    {}/register", gateway.app().config.site_url);
    println!("  admin token: {admin_token}   (Authorization: Bearer <token> on /admin/v1/...)");
    if backend == "memory" {
        println!("  mail:        {}/_dev/mail", gateway.app().config.site_url);
    }
    serve(listener, gateway).await
}
