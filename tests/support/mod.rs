//! Test support: a moto server started on demand, and `TestApp`, which owns one backend
//! (in-memory or AWS-on-moto), a manual clock, and a local gateway on a free port, with one
//! method per step a person takes.

pub mod browser;
pub mod console;
pub mod moto;
pub mod oidc;
pub mod range;

use learners::adapters::aws::{provision, AwsClients};
use learners::adapters::clock::ManualClock;
use learners::adapters::memory::{MemoryMailer, MemoryStore};
use learners::domain::{Password, PasswordHash};
use learners::ports::Passwords;
use learners::{App, Config};
use learners_gateway::workers::{spawn_in_process, spawn_sqs_pollers};
use learners_gateway::{serve, Gateway, RouteTable, Workers};
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

pub const SITE_URL: &str = "https://learn.example.org";
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
pub const PASSWORD: &str = "correct horse battery staple";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Moto,
}

pub const BACKENDS: [Backend; 2] = [Backend::Memory, Backend::Moto];

/// A captured mail, from either backend.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    /// The text part on the in-memory backend; on moto the HTML part (moto keeps only one).
    pub body: String,
}

impl Mail {
    /// The first link in the body to `SITE_URL` + `path_prefix`, e.g. `/activate/`.
    pub fn link(&self, path_prefix: &str) -> Option<String> {
        self.link_at(SITE_URL, path_prefix)
    }

    /// The first link in the body to `site` + `path_prefix`.
    pub fn link_at(&self, site: &str, path_prefix: &str) -> Option<String> {
        let start = format!("{site}{path_prefix}");
        let at = self.body.find(&start)?;
        let link: String =
            self.body[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || "-_/:.".contains(*c)).collect();
        Some(link)
    }
}

pub struct TestApp {
    pub backend: Backend,
    pub app: App,
    pub clock: Arc<ManualClock>,
    pub base_url: String,
    pub client: reqwest::Client,
    pub memory: Option<(Arc<MemoryStore>, Arc<MemoryMailer>)>,
    pub aws: Option<AwsClients>,
    /// How many password verifications the app has run.
    pub verifications: Arc<AtomicUsize>,
    /// In-process messages not yet finished (memory backend).
    pending: Option<Arc<AtomicUsize>>,
    server: tokio::task::JoinHandle<()>,
}

/// Counts verifications on the way to the real argon2id.
struct CountingPasswords {
    inner: Arc<dyn Passwords>,
    verifications: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl Passwords for CountingPasswords {
    async fn hash(&self, password: &Password) -> anyhow::Result<PasswordHash> {
        self.inner.hash(password).await
    }

    async fn verify(&self, hash: &PasswordHash, candidate: &str) -> anyhow::Result<bool> {
        self.verifications.fetch_add(1, Ordering::SeqCst);
        self.inner.verify(hash, candidate).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A configuration for tests; `extra` overrides or adds variables.
pub fn config(table: &str, extra: &[(&str, &str)]) -> Config {
    let mut pairs = vec![
        ("LEARNERS_SITE_URL", SITE_URL),
        ("LEARNERS_TABLE_NAME", table),
        ("LEARNERS_MAIL_FROM", "no-reply@example.com"),
        ("LEARNERS_RETIREMENT_SECRET", "test-retirement-secret-0123456789abcdef"),
        ("LEARNERS_OPERATOR_PRINCIPALS", learners_gateway::LOCAL_OPERATOR),
        ("LEARNERS_COUNTER_KEY", "test-counter-key-0123456789abcdef0123456789"),
    ];
    pairs.extend_from_slice(extra);
    Config::from_pairs(&pairs).expect("test configuration is valid")
}

/// A fresh, unique name for a table or an address.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", &uuid::Uuid::now_v7().simple().to_string()[20..])
}

/// A file named `name` holding `contents`, in a directory of its own (a browser picks it).
pub fn file_named(name: &str, contents: impl AsRef<[u8]>) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(unique("files-"));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let file = dir.join(name);
    std::fs::write(&file, contents).expect("the file written");
    file
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, &[]).await
    }

    pub async fn spawn_with(backend: Backend, extra: &[(&str, &str)]) -> Self {
        Self::spawn_inner(backend, extra, false).await
    }

    /// A gateway that is the site itself: `LEARNERS_SITE_URL` is its own loopback URL, so that
    /// a browser can follow the emailed links and pass the origin checks, as with `make dev`.
    pub async fn spawn_site(backend: Backend, extra: &[(&str, &str)]) -> Self {
        Self::spawn_inner(backend, extra, true).await
    }

    /// `spawn_site` named `http://localhost:<port>`: WebAuthn takes a domain name as the relying
    /// party's id, never an IP address, so passkeys work on this one. (Tests that want
    /// `localhost` as another site use `spawn_site`.)
    pub async fn spawn_localhost_site(backend: Backend, extra: &[(&str, &str)]) -> Self {
        Self::spawn_on(backend, extra, true, "localhost").await
    }

    async fn spawn_inner(backend: Backend, extra: &[(&str, &str)], site_is_gateway: bool) -> Self {
        Self::spawn_on(backend, extra, site_is_gateway, "127.0.0.1").await
    }

    async fn spawn_on(backend: Backend, extra: &[(&str, &str)], site_is_gateway: bool, host: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let port = listener.local_addr().expect("bound address").port();
        let base_url = format!("http://{host}:{port}");
        let mut extra = extra.to_vec();
        if site_is_gateway {
            extra.push(("LEARNERS_SITE_URL", &base_url));
        }
        let extra = extra.as_slice();
        let clock = Arc::new(ManualClock::new());
        let table = unique("learners-test-");
        let mut uploads = None;
        let (app, memory, aws, in_process, pending) = match backend {
            Backend::Memory => {
                let (app, parts) = learners::wiring::in_memory(config(&table, extra), clock.clone());
                // Uploads go to this gateway, whatever the site's address.
                parts.uploads.inner().serve_at(&base_url);
                uploads = Some((parts.uploads.clone(), parts.pending.clone()));
                let queue = Some((parts.queue, parts.pending.clone()));
                (app, Some((parts.store, parts.mailer)), None, queue, Some(parts.pending))
            }
            Backend::Moto => {
                let clients = AwsClients::for_endpoint(moto::url()).await;
                let made = provision::provision(&clients, &table).await.expect("provisioning on moto");
                provision::verify_sender(&clients, "no-reply@example.com").await.expect("SES identity on moto");
                let variables = made.variables();
                let mut all: Vec<(&str, &str)> = variables.iter().map(|(k, v)| (*k, v.as_str())).collect();
                all.extend_from_slice(extra);
                let mut app = learners::wiring::aws(config(&table, &all), &clients, clock.clone());
                // ID tokens are signed by a KMS key on moto, as in AWS.
                app.signer = Arc::new(oidc::moto_signer().await);
                (app, None, Some(clients), None, None)
            }
        };
        let mut app = app;
        let verifications = Arc::new(AtomicUsize::new(0));
        app.passwords =
            Arc::new(CountingPasswords { inner: app.passwords.clone(), verifications: verifications.clone() });
        let mail = memory.as_ref().map(|(_, mailer)| mailer.clone());
        let routes = RouteTable::from_template(learners_gateway::routes::TEMPLATE).expect("template routes");
        let workers = Workers::from_routes(&routes).expect("template workers");
        match (in_process, &aws) {
            (Some((batches, pending)), _) => spawn_in_process(app.clone(), workers, batches, pending),
            (None, Some(clients)) => spawn_sqs_pollers(app.clone(), workers, clients.sqs.clone(), 1),
            (None, None) => unreachable!("every backend has queues"),
        }
        let mut gateway = Gateway::new(app.clone(), routes, ADMIN_TOKEN.to_owned(), mail).expect("gateway");
        if let Some((uploads, pending)) = uploads {
            gateway = gateway.with_uploads(uploads, pending);
        }
        let gateway = Arc::new(gateway);
        let server = tokio::spawn(async move {
            let _ = serve(listener, gateway).await;
        });
        let client =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("http client");
        Self { backend, app, clock, base_url, client, memory, aws, verifications, pending, server }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Opens an emailed activation link, types the registration's password (`PASSWORD`, what
    /// `registration` registers with) and presses its "Activate my account" button (a form post
    /// to the same address), as a learner does.
    pub async fn activate_link(&self, link: &str) -> reqwest::Response {
        self.activate_link_with(link, PASSWORD).await
    }

    /// `activate_link`, typing `password`.
    pub async fn activate_link_with(&self, link: &str, password: &str) -> reqwest::Response {
        let url = self.local(link);
        let page = self.client.get(&url).send().await.expect("opening the link");
        let status = page.status();
        let html = page.text().await.expect("the link's page");
        if status != 200 || !html.contains("Activate my account") {
            // No button (expired, unknown, already active): that page is the answer.
            return self.client.get(&url).send().await.expect("opening the link");
        }
        self.client
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", &self.app.config.site_url)
            .body(format!("password={}", urlencode(password)))
            .send()
            .await
            .expect("pressing the button")
    }

    /// Follows an emailed link (which points at the public site URL) on this gateway.
    pub fn local(&self, link: &str) -> String {
        self.url(link.strip_prefix(self.app.config.site_url.as_str()).expect("links use the site URL"))
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client.post(self.url(path)).json(body).send().await.expect("POST")
    }

    pub async fn post_raw(&self, path: &str, content_type: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client.post(self.url(path)).header("content-type", content_type).body(body).send().await.expect("POST")
    }

    /// Uploads a CSV file to an operator route (`path` may carry a query), as an operator.
    pub async fn admin_post_csv(&self, path: &str, csv: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
            .expect("POST")
    }

    pub async fn admin_get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).bearer_auth(ADMIN_TOKEN).send().await.expect("GET")
    }

    pub async fn register(&self, email: &str, username: &str) -> reqwest::Response {
        self.post_json("/api/v1/registrations", &registration(email, username)).await
    }

    /// The account as an operator sees it (the JSON of `GET /admin/v1/users?email=`), or None.
    /// Read through the flow, not the API: the API's look-up is itself audited (`view`), and a
    /// test's own checks are no operator's look.
    pub async fn user(&self, email: &str) -> Option<Value> {
        match learners::flows::admin::user_by_email(&self.app, email).await {
            Ok(view) => Some(serde_json::to_value(view).expect("user JSON")),
            Err(learners::flows::admin::SupportError::NotFound) => None,
            Err(other) => panic!("user lookup: {other}"),
        }
    }

    /// Waits until every queued message has been handled by its worker (30 s at most).
    pub async fn settle(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut quiet_checks = 0;
        while quiet_checks < 2 {
            assert!(std::time::Instant::now() < deadline, "queues did not drain within 30 s");
            let busy = match (&self.pending, &self.aws) {
                (Some(pending), _) => pending.load(Ordering::SeqCst) > 0,
                (None, Some(clients)) => moto::queues_busy(clients, &self.app.config.queue_urls).await,
                (None, None) => false,
            };
            quiet_checks = if busy { 0 } else { quiet_checks + 1 };
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Every item the store holds, as text (a full table scan on DynamoDB).
    pub async fn table_dump(&self) -> Vec<String> {
        if let Some((store, _)) = &self.memory {
            return store.dump();
        }
        let clients = self.aws.as_ref().expect("an AWS backend has clients");
        let mut pages = clients.dynamodb.scan().table_name(&self.app.config.table_name).into_paginator().items().send();
        let mut items = Vec::new();
        while let Some(item) = pages.next().await {
            items.push(format!("{:?}", item.expect("scan")));
        }
        items
    }

    /// Every mail sent to `address` (exact, as stored), oldest first, once the mail queue has
    /// been worked (every mail leaves through it).
    pub async fn mail_to(&self, address: &str) -> Vec<Mail> {
        self.settle().await;
        match (&self.memory, self.backend) {
            (Some((_, mailer)), _) => mailer
                .sent()
                .into_iter()
                .filter(|m| m.to == address)
                .map(|m| Mail { to: m.to, subject: m.subject, body: m.text })
                .collect(),
            _ => moto::sent_mail_to(address).await,
        }
    }

    /// The link to `path_prefix` (e.g. `/activate/`) in the newest mail to `address` whose
    /// subject starts with `subject`, as the learner's mail program shows it.
    pub async fn mailed_link(&self, address: &str, subject: &str, path_prefix: &str) -> String {
        let mails = self.mail_to(address).await;
        let mail = mails.iter().rev().find(|m| m.subject.starts_with(subject)).unwrap_or_else(|| {
            panic!(
                "no mail {subject:?} to {address}; mails: {:?}",
                mails.iter().map(|m| &m.subject).collect::<Vec<_>>()
            )
        });
        mail.link_at(&self.app.config.site_url, path_prefix).expect("a link in the mail")
    }

    /// Registers, reads the activation mail and returns its link.
    pub async fn register_and_get_link(&self, email: &str, username: &str) -> String {
        assert_eq!(self.register(email, username).await.status(), 202);
        let mails = self.mail_to(email).await;
        let mail = mails.iter().find(|m| m.subject.starts_with("Activate")).expect("an activation mail");
        mail.link_at(&self.app.config.site_url, "/activate/").expect("an activation link")
    }
}

impl TestApp {
    /// A learner who registered and activated earlier, through the flows (as they would have),
    /// with `PASSWORD`: their address, made from `label`.
    pub async fn activated_learner(&self, label: &str, name: &str) -> String {
        let address = email(label);
        let form = learners::flows::registration::RegistrationForm {
            email: address.clone(),
            username: unique(label),
            name: name.into(),
            password: PASSWORD.into(),
            terms_accepted: true,
        };
        learners::flows::registration::register(&self.app, &form).await.expect("registration");
        let link = self.mailed_link(&address, "Activate", "/activate/").await;
        let token = link.rsplit('/').next().expect("a token");
        learners::flows::activation::activate(&self.app, token, PASSWORD).await.expect("activation");
        address
    }

    /// A registered and activated account.
    pub async fn active_account(&self, email: &str, username: &str) {
        let link = self.register_and_get_link(email, username).await;
        let page = self.activate_link(&link).await;
        assert_eq!(page.status(), 200);
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_json("/api/v1/sessions", &serde_json::json!({"email": email, "password": password})).await
    }

    /// Signs in and returns the `Cookie` header value to send back.
    pub async fn session_cookie(&self, email: &str, password: &str) -> String {
        let response = self.sign_in(email, password).await;
        assert_eq!(response.status(), 200, "sign-in of {email}");
        cookie_pair(&response).expect("a session cookie")
    }

    /// A request carrying a session cookie, from the site's own origin.
    pub fn with_cookie(&self, method: reqwest::Method, path: &str, cookie: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path)).header("cookie", cookie).header("origin", SITE_URL)
    }
}

/// Second factors for tests: an authenticator enrolled straight in the store (as the
/// enrolment page would leave it), and sessions begun through the sign-in flows with its codes.
impl TestApp {
    /// The account's authenticator secret, enrolling one first if it has none.
    pub async fn enrol_totp(&self, email: &str) -> String {
        use learners::domain::{second_factor::totp, Email, TotpFactor};
        let email = Email::parse(email).expect("a valid test address");
        let user = self.app.store.user_by_email_key(&email.key()).await.expect("the store").expect("the account");
        loop {
            let read = self.app.factors.second_factors(&user.id).await.expect("the factors");
            if let Some(existing) = &read.totp {
                return existing.secret.clone();
            }
            let secret = totp::new_secret();
            let factor = TotpFactor { secret: secret.clone(), last_step: 0, created_at: self.app.clock.now().unix() };
            let next = learners::domain::SecondFactors { totp: Some(factor), ..read.next() };
            if self.app.factors.save_second_factors(&user.id, &next).await.expect("saving the factors") {
                return secret;
            }
        }
    }

    /// A code of the account's authenticator that has not been used yet: the current step's,
    /// or the next one's (within the one step of drift allowed) when the current one was.
    pub async fn totp_code(&self, email: &str) -> String {
        use learners::domain::{second_factor::totp, Email};
        let email = Email::parse(email).expect("a valid test address");
        let user = self.app.store.user_by_email_key(&email.key()).await.expect("the store").expect("the account");
        let factors = self.app.factors.second_factors(&user.id).await.expect("the factors");
        let factor = factors.totp.expect("an authenticator is enrolled");
        let now = self.app.clock.now().unix();
        let step = u64::try_from(now).expect("after 1970") / totp::STEP_SECONDS;
        let at = if factor.last_step < step { now } else { now + totp::STEP_SECONDS as i64 };
        assert!(factor.last_step < step + 1, "two codes of this step and the next were used: advance the clock");
        totp::code_at(&factor.secret, at).expect("a code")
    }

    /// Signs `email` in with `PASSWORD` and a code of its authenticator (enrolled first if it
    /// has none), through the flows the sign-in pages use, and returns the `Cookie` header value
    /// of the multi-factor session: what the operator console needs.
    pub async fn operator_session(&self, email: &str) -> String {
        use learners::flows::second_factor::complete_with_code;
        use learners::flows::signin::{sign_in_from, Client, SignInStep};
        self.enrol_totp(email).await;
        let pending = match sign_in_from(&self.app, email, PASSWORD, Client::default()).await {
            Ok(SignInStep::SecondFactor(pending)) => pending,
            Ok(SignInStep::SignedIn(_)) => panic!("{email} signed in without its second factor"),
            Err(e) => panic!("sign-in of {email}: {e}"),
        };
        let code = self.totp_code(email).await;
        let signed_in = complete_with_code(&self.app, pending.token.as_str(), &code, Client::default())
            .await
            .unwrap_or_else(|e| panic!("second factor of {email}: {e}"));
        format!("{}={}", learners::http::session::COOKIE, signed_in.token.as_str())
    }
}

/// `name=value` of the response's Set-Cookie.
pub fn cookie_pair(response: &reqwest::Response) -> Option<String> {
    let header = response.headers().get("set-cookie")?.to_str().ok()?;
    Some(header.split(';').next()?.trim().to_owned())
}

pub fn registration(email: &str, username: &str) -> Value {
    serde_json::json!({
        "email": email,
        "username": username,
        "name": "Ada Lovelace",
        "password": PASSWORD,
        "terms_accepted": true,
    })
}

pub fn urlencode(value: &str) -> String {
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

/// Runs each named `async fn(Backend)` as two tests, `memory` and `moto`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn memory() {
                super::$name($crate::Backend::Memory).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn moto() {
                super::$name($crate::Backend::Moto).await
            }
        }
    )*};
}

/// A fresh address on example.com.
pub fn email(prefix: &str) -> String {
    format!("{}@example.com", unique(prefix))
}

/// A request as API Gateway would hand it to a function: route key in the context, and the body.
pub fn fake_request(route_key: &str, content_type: Option<&str>, body: Vec<u8>) -> lambda_http::Request {
    use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
    use lambda_http::request::RequestContext;
    use lambda_http::RequestExt;
    // `$default` (the catch-all route) comes with whatever path nothing else matched.
    let (method, path) = route_key.split_once(' ').unwrap_or(("GET", "/no/such/route"));
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.route_key = Some(route_key.to_owned());
    let mut builder = lambda_http::http::Request::builder().method(method).uri(path);
    if let Some(content_type) = content_type {
        builder = builder.header("content-type", content_type);
    }
    let body = match String::from_utf8(body) {
        Ok(text) if text.is_empty() => lambda_http::Body::Empty,
        Ok(text) => lambda_http::Body::Text(text),
        Err(e) => lambda_http::Body::Binary(e.into_bytes()),
    };
    builder.body(body).expect("a valid fake request").with_request_context(RequestContext::ApiGatewayV2(context))
}

/// An in-memory `App` with the test configuration and a manual clock.
pub fn memory_app() -> (App, learners::wiring::MemoryParts, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new());
    let (app, parts) = learners::wiring::in_memory(config("unused", &[]), clock.clone());
    (app, parts, clock)
}

/// An account as the store holds it, for tests that write straight to a store: pending
/// activation, registered by itself, with terms accepted (set `status` and the rest as needed).
pub fn stored_user(email: &str, username: &str) -> learners::domain::User {
    use learners::domain::{Email, FullName, Timestamp, User, UserId, UserSource, UserStatus, Username};
    let at = Timestamp::from_unix(1_800_000_000);
    User {
        id: UserId::generate(),
        email: Email::parse(email).expect("a valid test address"),
        username: Username::parse(username).expect("a valid test username"),
        name: FullName::parse("Grace Hopper").expect("a valid name"),
        password_hash: None,
        status: UserStatus::PendingActivation,
        created_at: at,
        activated_at: None,
        terms_accepted_at: Some(at),
        terms_version: None,
        source: UserSource::SelfService,
        auth_epoch: 0,
        operator: false,
        mail_refused: None,
        support: false,
        disabled_at: None,
    }
}
