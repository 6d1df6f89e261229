//! DynamoDB capacity units per flow, measured on the requests the DynamoDB adapter really sends
//! (to moto) with `learners::adapters::capacity::Meter`, priced as on-demand DynamoDB bills
//! them ($0.625 per million write request units, $0.125 per million read request units,
//! us-east-1, since November 2024).

use learners::adapters::capacity::{Meter, Units};
pub use learners::adapters::capacity::{DOLLARS_PER_MILLION_READS, DOLLARS_PER_MILLION_WRITES};
use std::sync::Arc;
// ---- The flows, once each on a moto-backed app whose DynamoDB client carries the meter ----

use learners::adapters::aws::{provision, AwsClients};
use learners::adapters::clock::SystemClock;
use learners::adapters::memory::{InProcessQueue, MemoryMailer, QueuedBatch};
use learners::flows::{activation, recovery, registration, removal, signin};
use learners::{App, Config};
use learners_gateway::{RouteTable, Workers};
use tokio::sync::mpsc::UnboundedReceiver;

/// A flow's units, each averaged over `ROUNDS` runs.
pub struct FlowUnits {
    pub flow: &'static str,
    pub units: Units,
}

const ROUNDS: usize = 4;
const PASSWORD: &str = "correct horse battery staple";

struct Rig {
    app: App,
    workers: Workers,
    queue: UnboundedReceiver<QueuedBatch>,
    mailer: Arc<MemoryMailer>,
    meter: Meter,
}

impl Rig {
    async fn new(endpoint: &str) -> anyhow::Result<Self> {
        let clients = AwsClients::for_endpoint(endpoint).await;
        let table = format!("capacity-{}", std::process::id());
        provision::create_table(&clients.dynamodb, &table).await?;
        let meter = Meter::default();
        let metered = aws_sdk_dynamodb::Client::from_conf(
            clients.dynamodb.config().to_builder().interceptor(meter.clone()).build(),
        );
        let config = Config::from_pairs(&[
            ("LEARNERS_SITE_URL", "https://learn.example.org"),
            ("LEARNERS_TABLE_NAME", &table),
            ("LEARNERS_OPERATOR_PRINCIPALS", "arn:aws:iam::000000000000:user/bench"),
            ("LEARNERS_COUNTER_KEY", "bench-counter-key-0123456789abcdef0123456789"),
            ("LEARNERS_RETIREMENT_SECRET", "bench-retirement-secret-0123456789abcdef"),
            ("LEARNERS_RESEND_INTERVAL_SECONDS", "0"),
        ])?;
        let clients = AwsClients { dynamodb: metered, ..clients };
        let mut app = learners::wiring::aws(config, &clients, Arc::new(SystemClock));
        let (queue, receiver) = InProcessQueue::new();
        let mailer = Arc::new(MemoryMailer::new(app.clock.clone()));
        app.queue = Arc::new(queue);
        app.mailer = mailer.clone();
        let workers = Workers::from_routes(&RouteTable::from_template(learners_gateway::routes::TEMPLATE)?)?;
        Ok(Self { app, workers, queue: receiver, mailer, meter })
    }

    /// Runs every queued message through its worker, as Lambda's event source would.
    async fn drain(&mut self) -> anyhow::Result<()> {
        while let Ok(batch) = self.queue.try_recv() {
            let queue = batch.queue;
            let answer = self.workers.deliver(&self.app, queue, &batch.bodies).await?;
            anyhow::ensure!(answer.batch_item_failures.is_empty(), "a {queue:?} message failed");
        }
        Ok(())
    }

    /// The newest link to `prefix` mailed to `address`, as its token.
    fn mailed_token(&self, address: &str, prefix: &str) -> anyhow::Result<String> {
        let mail = self.mailer.sent().into_iter().rev().find(|m| m.to == address && m.text.contains(prefix));
        let text = mail.map(|m| m.text).ok_or_else(|| anyhow::anyhow!("no mail with {prefix} to {address}"))?;
        let start = text.find(prefix).expect("found above") + prefix.len();
        Ok(text[start..].split_whitespace().next().unwrap_or_default().to_owned())
    }

    async fn active_account(&mut self, address: &str, username: &str) -> anyhow::Result<()> {
        let form = registration::RegistrationForm {
            email: address.into(),
            username: username.into(),
            name: "Bench Learner".into(),
            password: PASSWORD.into(),
            terms_accepted: true,
        };
        registration::register(&self.app, &form).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        self.drain().await?;
        let token = self.mailed_token(address, "/activate/")?;
        activation::activate(&self.app, &token, PASSWORD).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(())
    }
}

/// Every flow's DynamoDB units, averaged over a few runs, and the largest item written.
pub async fn measure(endpoint: &str) -> anyhow::Result<(Vec<FlowUnits>, usize)> {
    let mut rig = Rig::new(endpoint).await?;
    let mut results = Vec::new();
    let mut record = |flow, total: Units, count: usize| {
        let n = count as f64;
        results.push(FlowUnits {
            flow,
            units: Units { reads: total.reads / n, writes: total.writes / n, requests: total.requests / count },
        });
    };
    let address = |flow: &str, i: usize| format!("{flow}{i}@example.com");

    // Registration (with its activation mail) and activation by the mailed link.
    let (mut registering, mut activating) = (Units::default(), Units::default());
    for i in 0..ROUNDS {
        let form = registration::RegistrationForm {
            email: address("reg", i),
            username: format!("reg{i}"),
            name: "Bench Learner".into(),
            password: PASSWORD.into(),
            terms_accepted: true,
        };
        rig.meter.take();
        registration::register(&rig.app, &form).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        rig.drain().await?;
        registering = sum(registering, rig.meter.take());
        let token = rig.mailed_token(&address("reg", i), "/activate/")?;
        activation::activate(&rig.app, &token, PASSWORD).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        activating = sum(activating, rig.meter.take());
    }
    record("registration (with its activation mail)", registering, ROUNDS);
    record("activation", activating, ROUNDS);

    // Sign-in: right password, wrong password, and an attempt on a locked account.
    let (mut ok, mut failed, mut locked) = (Units::default(), Units::default(), Units::default());
    for i in 0..ROUNDS {
        let email = address("sign", i);
        rig.active_account(&email, &format!("sign{i}")).await?;
        rig.meter.take();
        signin::sign_in(&rig.app, &email, PASSWORD).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        ok = sum(ok, rig.meter.take());
        let _ = signin::sign_in(&rig.app, &email, "wrong password").await;
        rig.drain().await?;
        failed = sum(failed, rig.meter.take());
        for _ in 0..rig.app.config.lockout.max_failures {
            let _ = signin::sign_in(&rig.app, &email, "wrong password").await;
        }
        rig.drain().await?;
        rig.meter.take();
        let _ = signin::sign_in(&rig.app, &email, PASSWORD).await;
        locked = sum(locked, rig.meter.take());
    }
    record("sign-in", ok, ROUNDS);
    record("failed sign-in", failed, ROUNDS);
    record("attempt on a locked account", locked, ROUNDS);

    // A sign-in that goes on to the LMS (OpenID Connect): after the site's sign-in above, the
    // authorization (session, account, application, the code), the code exchange (application,
    // its failure counter, the code used once, the account, two tokens) and userinfo. In AWS
    // the exchange also makes one KMS signature ($0.15 per 10,000).
    let lms = learners::oidc::clients::NewClient {
        name: "LMS".into(),
        redirect_uris: vec!["https://lms.example.org/auth/complete/oidc/".into()],
        post_logout_redirect_uris: vec![],
        public: false,
    };
    let (client, secret) =
        learners::oidc::clients::register(&rig.app, "bench", &lms).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let secret = secret.ok_or_else(|| anyhow::anyhow!("a confidential application has a secret"))?;
    let mut to_lms = Units::default();
    for i in 0..ROUNDS {
        let email = address("lms", i);
        rig.active_account(&email, &format!("lms{i}")).await?;
        let signed_in = signin::sign_in(&rig.app, &email, PASSWORD).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let signed_in = signed_in.signed_in().ok_or_else(|| anyhow::anyhow!("no second factor here"))?;
        rig.meter.take();
        let session = signin::current_user(&rig.app, signed_in.token.as_str()).await?;
        let pairs = [
            ("client_id", client.id.as_str()),
            ("redirect_uri", "https://lms.example.org/auth/complete/oidc/"),
            ("response_type", "code"),
            ("scope", "openid profile email"),
            ("state", "s"),
            ("nonce", "n"),
        ];
        let params = learners::oidc::authorize::AuthorizeParams::new(
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        );
        let answer = learners::oidc::authorize::authorize(&rig.app, &params, session).await;
        let Ok(learners::oidc::authorize::Authorization::Redirect(to)) = answer else {
            anyhow::bail!("the authorization gave no code");
        };
        let code = to.split("code=").nth(1).and_then(|rest| rest.split('&').next()).unwrap_or_default().to_owned();
        let request = learners::oidc::token::TokenRequest {
            grant_type: Some("authorization_code".into()),
            code: Some(code),
            redirect_uri: Some("https://lms.example.org/auth/complete/oidc/".into()),
            client_id: Some(client.id.to_string()),
            client_secret: Some(secret.as_str().to_owned()),
            ..Default::default()
        };
        let issued = learners::oidc::token::exchange(&rig.app, &request).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        learners::oidc::userinfo::userinfo(&rig.app, issued.access_token.as_str())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        to_lms = sum(to_lms, rig.meter.take());
    }
    record("on to the LMS (authorize, code exchange, userinfo)", to_lms, ROUNDS);

    // Password reset: the request, the mailed link, the new password and its notice.
    let mut reset = Units::default();
    for i in 0..ROUNDS {
        let email = address("reset", i);
        rig.active_account(&email, &format!("reset{i}")).await?;
        rig.meter.take();
        recovery::request_reset(&rig.app, &email).await?;
        rig.drain().await?;
        let token = rig.mailed_token(&email, "/password-reset/")?;
        recovery::reset_password(&rig.app, &token, "another horse battery staple")
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        rig.drain().await?;
        reset = sum(reset, rig.meter.take());
    }
    record("password reset (request, mail, new password, notice)", reset, ROUNDS);

    // Bulk registration: a file of rows without passwords, per row.
    let rows = 20;
    let mut csv = String::from("email,username,name\n");
    for i in 0..rows {
        csv.push_str(&format!("bulk{i}@example.com,bulk{i},Bench Learner\n"));
    }
    rig.meter.take();
    learners::flows::bulk::upload(&rig.app, "bench", csv.as_bytes(), None).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    rig.drain().await?;
    record("bulk row (upload to completed job, per row)", rig.meter.take(), rows);

    // Deletion by an operator's list, per account.
    let list: Vec<(u64, String)> = (0..rows).map(|i| (i as u64 + 1, format!("bulk{i}@example.com"))).collect();
    rig.meter.take();
    removal::request_deletions(&rig.app, "bench", &list, None).await?;
    rig.drain().await?;
    record("deletion (operator list, per account)", rig.meter.take(), rows);

    Ok((results, rig.meter.largest_item()))
}

fn sum(a: Units, b: Units) -> Units {
    Units { reads: a.reads + b.reads, writes: a.writes + b.writes, requests: a.requests + b.requests }
}

/// A learner's month, as the cost estimate assumes it (per learner of the site).
pub const MONTH: [(&str, f64); 9] = [
    ("registration (with its activation mail)", 0.02),
    ("activation", 0.02),
    ("sign-in", 8.0),
    // Every sign-in is assumed to go on to the LMS.
    ("on to the LMS (authorize, code exchange, userinfo)", 8.0),
    ("failed sign-in", 1.0),
    ("attempt on a locked account", 0.1),
    ("password reset (request, mail, new password, notice)", 0.05),
    ("bulk row (upload to completed job, per row)", 0.01),
    ("deletion (operator list, per account)", 0.005),
];

/// On-demand DynamoDB dollars a month for `learners` learners living `MONTH`.
pub fn monthly_dollars(flows: &[FlowUnits], learners: f64) -> f64 {
    MONTH
        .iter()
        .map(|(flow, per_learner)| {
            let units = flows.iter().find(|f| f.flow == *flow).map(|f| f.units).unwrap_or_default();
            units.dollars_per_million() / 1e6 * per_learner * learners
        })
        .sum()
}
