//! Wiring: which adapter backs which port. The only module that names adapters; the core
//! (`flows`, `jobs`, `mail`, `http`, `handlers`) sees ports through `App` and never imports
//! this module (the layering test holds it to that). The function mains, the local gateway,
//! the bench and the tests build their `App` here.

use crate::adapters::aws::{AwsClients, DynamoStore, NoSealer, S3Uploads, SesMailer, SqsQueue};
use crate::adapters::breached::{KnownBreaches, RangeApi, RANGE_TIMEOUT};
use crate::adapters::clock::SystemClock;
use crate::adapters::local_signer::LocalSigner;
use crate::adapters::memory::{InProcessQueue, MemoryMailer, MemoryOidcStore, MemoryStore, MemoryUploads, QueuedBatch};
use crate::adapters::passwords::Argon2Passwords;
use crate::adapters::sealing::LocalSealer;
use crate::handlers::{sqs, HttpHandler, IntakeHandler, SqsHandler};
use crate::metrics::Metrics;
use crate::ports::{BreachedPasswords, Clock, Mailer, Sealer, Signer, Uploads};
use crate::{App, Config};
use lambda_http::Request;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedReceiver;

/// The in-memory backend's parts, for whoever needs to look inside (the local gateway's
/// `/_dev/mail`, its queue consumer, and tests).
pub struct MemoryParts {
    pub store: Arc<MemoryStore>,
    pub mailer: Arc<MemoryMailer>,
    pub queue: UnboundedReceiver<QueuedBatch>,
    /// Messages enqueued and not yet finished by a worker.
    pub pending: Arc<std::sync::atomic::AtomicUsize>,
    /// The uploaded files, which the local gateway receives (`/_dev/uploads`).
    pub uploads: Arc<MemoryUploads>,
}

pub mod functions;

pub use functions::Services;

/// What a Lambda function runs on: AWS adapters for DynamoDB, SQS and the `services` the
/// function calls (`functions`), configuration from the environment.
pub async fn from_env(services: Services) -> anyhow::Result<App> {
    let mut config = Config::from_env()?;
    let sdk = crate::adapters::aws::lambda_sdk_config()?;
    // Secrets stay out of the environment: SSM SecureStrings, read by the functions whose
    // role may read them (the template sets the names where they are needed).
    // All of them in one call (Parameter Store's throughput is shared by the account).
    let retirement = config.retirement_secret_parameter.clone();
    let counter = config.counter_key_parameter.clone();
    let names: Vec<&str> = [retirement.as_deref(), counter.as_deref()].into_iter().flatten().collect();
    if !names.is_empty() {
        let read = services.secrets.ok_or_else(|| {
            anyhow::anyhow!("{} names an SSM parameter, and this function is not wired to read SSM", names.join(", "))
        })?;
        let mut values = read(&sdk, &names).await?.into_iter();
        if retirement.is_some() {
            config.retirement_secret = values.next();
        }
        if counter.is_some() {
            config.counter_key = values.next();
        }
    }
    Ok(aws_lazy(config, &sdk, services, Arc::new(SystemClock)))
}

/// The AWS adapters, each making its SDK client on first use: a function builds only the
/// clients it calls, and none before its first request. A service the function does not call
/// gets an `Unwired` adapter, and its SDK is not linked.
pub fn aws_lazy(config: Config, sdk: &aws_config::SdkConfig, services: Services, clock: Arc<dyn Clock>) -> App {
    let store = DynamoStore::lazy(sdk, &config.table_name);
    let queue = SqsQueue::lazy(sdk, config.queue_urls.clone());
    let (mailer, signer) = (services.mailer(sdk, &config), services.signer(sdk, &config));
    let (sealer, uploads) = (services.sealer(sdk, &config), services.uploads(sdk, &config));
    on_aws(config, store, mailer, queue, signer, sealer, uploads, clock)
}

/// The AWS adapters on clients made already (tests, tools, the local gateway on moto).
pub fn aws(config: Config, clients: &AwsClients, clock: Arc<dyn Clock>) -> App {
    let store = DynamoStore::new(clients.dynamodb.clone(), &config.table_name);
    let mailer = Arc::new(SesMailer::new(clients.ses.clone(), &config.mail_from, config.ses_configuration_set.clone()));
    let queue = SqsQueue::new(clients.sqs.clone(), config.queue_urls.clone());
    // Keys made in the process (tests, the local gateway on moto); the tests on moto put KMS
    // keys in their place.
    let uploads = uploads_in(&config, |bucket| S3Uploads::new(&clients.sdk, bucket));
    on_aws(config, store, mailer, queue, Arc::new(LocalSigner::new()), local_sealer(), uploads, clock)
}

/// The bucket `LEARNERS_UPLOAD_BUCKET` names, or none (every upload then fails, saying so).
fn uploads_in(config: &Config, make: impl FnOnce(&str) -> S3Uploads) -> Arc<dyn Uploads> {
    match &config.upload_bucket {
        Some(bucket) => Arc::new(make(bucket)),
        None => Arc::new(crate::adapters::aws::NoUploads),
    }
}

/// A sealer whose key is made at start (`make dev`, tests).
fn local_sealer() -> Arc<dyn Sealer> {
    match LocalSealer::new() {
        Ok(sealer) => Arc::new(sealer),
        // No randomness from the system: nothing can be sealed, and saying so is enough.
        Err(_) => Arc::new(NoSealer),
    }
}

// Each port's adapter, as the two callers above make them.
#[allow(clippy::too_many_arguments)]
fn on_aws(
    config: Config,
    store: DynamoStore,
    mailer: Arc<dyn Mailer>,
    queue: SqsQueue,
    signer: Arc<dyn Signer>,
    sealer: Arc<dyn Sealer>,
    uploads: Arc<dyn Uploads>,
    clock: Arc<dyn Clock>,
) -> App {
    let store = Arc::new(store);
    let config = Arc::new(config);
    App {
        settings: Arc::new(crate::app::SettingsReader::new(store.clone(), config.clone())),
        store: store.clone(),
        sessions: store.clone(),
        attempts: store.clone(),
        audit: store.clone(),
        factors: store.clone(),
        oidc: store.clone(),
        jobs: store,
        signer,
        sealer,
        uploads,
        passwords: Arc::new(Argon2Passwords),
        breached: breached_passwords(&config),
        mailer,
        queue: Arc::new(queue),
        metrics: Arc::new(Metrics::new(config.metrics_namespace.clone())),
        config,
        clock,
    }
}

/// The range API when `LEARNERS_BREACHED_PASSWORD_API` names one; else nothing is breached
/// beyond the local list (an empty `KnownBreaches`).
fn breached_passwords(config: &Config) -> Arc<dyn BreachedPasswords> {
    match &config.breached_password_api {
        Some(base) => Arc::new(RangeApi::new(base, RANGE_TIMEOUT)),
        None => Arc::new(KnownBreaches::new()),
    }
}

/// The embedded backend: the in-memory store, captured mail, the in-process queue.
pub fn in_memory(config: Config, clock: Arc<dyn Clock>) -> (App, MemoryParts) {
    let store = Arc::new(MemoryStore::new());
    let mailer = Arc::new(MemoryMailer::new(clock.clone()));
    let (queue, receiver) = InProcessQueue::new();
    let pending = queue.pending();
    let metrics = Arc::new(Metrics::new(config.metrics_namespace.clone()));
    let breached = breached_passwords(&config);
    let uploads = Arc::new(MemoryUploads::new(&config.site_url));
    let config = Arc::new(config);
    let app = App {
        settings: Arc::new(crate::app::SettingsReader::new(store.clone(), config.clone())),
        config,
        store: store.clone(),
        sessions: store.clone(),
        attempts: store.clone(),
        audit: store.clone(),
        factors: store.clone(),
        jobs: store.clone(),
        oidc: Arc::new(MemoryOidcStore::new()),
        signer: Arc::new(LocalSigner::new()),
        sealer: local_sealer(),
        passwords: Arc::new(Argon2Passwords),
        breached,
        mailer: mailer.clone(),
        queue: Arc::new(queue),
        metrics,
        clock,
        uploads: uploads.clone(),
    };
    (app, MemoryParts { store, mailer, queue: receiver, pending, uploads })
}

/// A function's start: logging, then its `App` from its environment (an error is logged, and
/// fails the start).
async fn start(services: Services) -> anyhow::Result<App> {
    crate::telemetry::init();
    from_env(services).await.inspect_err(|e| tracing::error!(error = format!("{e:#}"), "configuration error"))
}

/// The runtime every function runs on: tokio's current-thread scheduler. Lambda hands an
/// execution environment one event at a time, so worker threads would have nothing to share;
/// starting them cost each function about 0.25 ms of its cold start (`docs/benchmarks.md`).
/// CPU-bound work (argon2, the parsing of an uploaded file) runs on the blocking pool, on as
/// many cores as the environment has, as before.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}

/// Runs an HTTP handler as a Lambda function: tracing, configuration and AWS clients once per
/// process, then one request at a time. Each binary passes its own handler and its own services
/// (`functions`), so it links that handler and those services' SDKs alone (not the tables of
/// `handlers` and `functions`, which are the local gateway's).
pub fn run_lambda(services: Services, handler: HttpHandler) -> Result<(), lambda_http::Error> {
    runtime()?.block_on(async move {
        let app = &start(services).await?;
        lambda_http::run(lambda_http::service_fn(move |req: Request| async move {
            Ok::<_, std::convert::Infallible>(crate::handlers::answer(app, handler, req).await)
        }))
        .await
    })
}

/// Runs an SQS handler as a Lambda function (see `run_lambda`).
pub fn run_worker_lambda(services: Services, handler: SqsHandler) -> Result<(), lambda_runtime::Error> {
    runtime()?.block_on(async move {
        let app = &start(services).await?;
        lambda_runtime::run(lambda_runtime::service_fn(
            move |event: lambda_runtime::LambdaEvent<sqs::SqsEvent>| async move {
                Ok::<_, std::convert::Infallible>(handler(app, event.payload).await)
            },
        ))
        .await
    })
}

/// Runs an S3 event handler as a Lambda function (see `run_lambda`): a failed event is an
/// error, which Lambda retries (S3 invokes asynchronously).
pub fn run_intake_lambda(services: Services, handler: IntakeHandler) -> Result<(), lambda_runtime::Error> {
    runtime()?.block_on(async move {
        let app = &start(services).await?;
        lambda_runtime::run(lambda_runtime::service_fn(
            move |event: lambda_runtime::LambdaEvent<crate::handlers::intake::S3Event>| async move {
                handler(app, event.payload).await.map_err(|e| lambda_runtime::Error::from(format!("{e:#}")))
            },
        ))
        .await
    })
}
