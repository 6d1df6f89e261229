//! The bundle of ports a handler works with, built once per process.

use crate::adapters::aws::{AwsClients, DynamoStore, KmsSigner, NoSigner, SesMailer, SqsQueue};
use crate::adapters::clock::SystemClock;
use crate::adapters::local_signer::LocalSigner;
use crate::adapters::memory::{InProcessQueue, MemoryMailer, MemoryOidcStore, MemoryStore, QueuedBatch};
use crate::adapters::passwords::Argon2Passwords;
use crate::domain::PasswordPolicy;
use crate::metrics::Metrics;
use crate::ports::{AuditLog, Clock, JobQueue, LoginAttempts, Mailer, Passwords, RowJobs, SessionStore, UserStore};
use crate::ports::{OidcStore, Signer};
use crate::Config;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedReceiver;

#[derive(Clone)]
pub struct App {
    pub config: Arc<Config>,
    pub store: Arc<dyn UserStore>,
    pub sessions: Arc<dyn SessionStore>,
    pub attempts: Arc<dyn LoginAttempts>,
    pub passwords: Arc<dyn Passwords>,
    pub audit: Arc<dyn AuditLog>,
    pub jobs: Arc<dyn RowJobs>,
    pub mailer: Arc<dyn Mailer>,
    pub queue: Arc<dyn JobQueue>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    /// OpenID Connect: applications, codes and tokens; and the ID token signer.
    pub oidc: Arc<dyn OidcStore>,
    pub signer: Arc<dyn Signer>,
}

/// The in-memory backend's parts, for whoever needs to look inside (the local gateway's
/// `/_dev/mail`, its queue consumer, and tests).
pub struct MemoryParts {
    pub store: Arc<MemoryStore>,
    pub mailer: Arc<MemoryMailer>,
    pub queue: UnboundedReceiver<QueuedBatch>,
    /// Messages enqueued and not yet finished by a worker.
    pub pending: Arc<std::sync::atomic::AtomicUsize>,
}

impl App {
    /// What a Lambda function runs on: AWS adapters, configuration from the environment.
    pub async fn from_env() -> anyhow::Result<Self> {
        let mut config = Config::from_env()?;
        let sdk = crate::adapters::aws::sdk_config().await;
        // Secrets stay out of the environment: SSM SecureStrings, read by the functions whose
        // role may read them (the template sets the names where they are needed).
        let ssm = || aws_sdk_ssm::Client::new(&sdk);
        if let Some(name) = config.retirement_secret_parameter.clone() {
            config.retirement_secret = Some(crate::adapters::aws::secret_parameter(&ssm(), &name).await?);
        }
        if let Some(name) = config.counter_key_parameter.clone() {
            config.counter_key = Some(crate::adapters::aws::secret_parameter(&ssm(), &name).await?);
        }
        Ok(Self::aws_lazy(config, &sdk, Arc::new(SystemClock)))
    }

    /// The AWS adapters, each making its SDK client on first use: a function builds only the
    /// clients it calls, and none before its first request.
    pub fn aws_lazy(config: Config, sdk: &aws_config::SdkConfig, clock: Arc<dyn Clock>) -> Self {
        let store = DynamoStore::lazy(sdk, &config.table_name);
        let mailer = SesMailer::lazy(sdk, &config.mail_from, config.ses_configuration_set.clone());
        let queue = SqsQueue::lazy(sdk, config.queue_urls.clone());
        let signer: Arc<dyn Signer> = match &config.oidc_kms_key_id {
            Some(key) => Arc::new(KmsSigner::lazy(sdk, key, &config.oidc_previous_kms_key_ids)),
            None => Arc::new(NoSigner),
        };
        Self { signer, ..Self::on_aws(config, store, mailer, queue, clock) }
    }

    /// The AWS adapters on clients made already (tests, tools, the local gateway on moto).
    pub fn aws(config: Config, clients: &AwsClients, clock: Arc<dyn Clock>) -> Self {
        let store = DynamoStore::new(clients.dynamodb.clone(), &config.table_name);
        let mailer = SesMailer::new(clients.ses.clone(), &config.mail_from, config.ses_configuration_set.clone());
        let queue = SqsQueue::new(clients.sqs.clone(), config.queue_urls.clone());
        Self::on_aws(config, store, mailer, queue, clock)
    }

    fn on_aws(config: Config, store: DynamoStore, mailer: SesMailer, queue: SqsQueue, clock: Arc<dyn Clock>) -> Self {
        let store = Arc::new(store);
        Self {
            store: store.clone(),
            sessions: store.clone(),
            attempts: store.clone(),
            audit: store.clone(),
            oidc: store.clone(),
            jobs: store,
            // A key made in the process (tests, the local gateway on moto); `aws_lazy` and
            // the tests on moto put a KMS key here.
            signer: Arc::new(LocalSigner::new()),
            passwords: Arc::new(Argon2Passwords),
            mailer: Arc::new(mailer),
            queue: Arc::new(queue),
            metrics: Arc::new(Metrics::new(config.metrics_namespace.clone())),
            config: Arc::new(config),
            clock,
        }
    }

    pub fn in_memory(config: Config, clock: Arc<dyn Clock>) -> (Self, MemoryParts) {
        let store = Arc::new(MemoryStore::new());
        let mailer = Arc::new(MemoryMailer::new(clock.clone()));
        let (queue, receiver) = InProcessQueue::new();
        let pending = queue.pending();
        let config_namespace = config.metrics_namespace.clone();
        let app = Self {
            config: Arc::new(config),
            store: store.clone(),
            sessions: store.clone(),
            attempts: store.clone(),
            audit: store.clone(),
            jobs: store.clone(),
            oidc: Arc::new(MemoryOidcStore::new()),
            signer: Arc::new(LocalSigner::new()),
            passwords: Arc::new(Argon2Passwords),
            mailer: mailer.clone(),
            queue: Arc::new(queue),
            metrics: Arc::new(Metrics::new(config_namespace)),
            clock,
        };
        (app, MemoryParts { store, mailer, queue: receiver, pending })
    }

    pub fn password_policy(&self) -> PasswordPolicy {
        PasswordPolicy { min_length: self.config.password_min_length }
    }
}
