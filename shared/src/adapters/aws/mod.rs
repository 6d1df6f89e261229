//! The AWS adapters: DynamoDB single table, SES v2, SQS. Clients are built once per process
//! from one `SdkConfig` (which honours `AWS_ENDPOINT_URL`, so an emulator works unchanged).

mod dynamodb;
pub(crate) mod items;
mod kms;
mod kms_sealer;
pub mod provision;
mod s3;
mod ses;
mod sqs;

pub use dynamodb::DynamoStore;
/// How many partitions a day of the audit `feed` index spreads over (`tests/suite/deploy.rs`).
pub use items::FEED_SHARDS;
pub use kms::{KmsSigner, NoSigner};
pub use kms_sealer::{KmsSealer, NoSealer};

/// A SecureString parameter of SSM Parameter Store, decrypted: a secret that stays out of the
/// function's environment (anyone allowed to read a function's configuration reads that).
/// Checked like the variable it replaces (at least 32 characters), and refused unless it is a
/// `SecureString`: a plain `String` is stored unencrypted and shown to anyone who may describe
/// parameters, and its history keeps every earlier key in clear.
pub async fn secret_parameter(ssm: &aws_sdk_ssm::Client, name: &str) -> anyhow::Result<String> {
    let mut values = secret_parameters(ssm, &[name]).await?;
    values.pop().ok_or_else(|| anyhow::anyhow!("the SSM parameter {name} has no value"))
}

/// Attempts of the start-up read of the secrets, on top of the SDK's own three: Parameter
/// Store's default throughput (40 calls a second for the account and region) throttles a burst
/// of cold starts, and a function that cannot read its secrets answers nothing. Between
/// attempts the wait doubles from `SECRET_FIRST_BACKOFF`, anywhere below it ("full jitter"), so
/// environments started together do not retry together: at most 0.2 + 0.4 + 0.8 + 1.6 s, well
/// inside Lambda's 10 s for a start.
const SECRET_ATTEMPTS: u32 = 5;
const SECRET_FIRST_BACKOFF: std::time::Duration = std::time::Duration::from_millis(200);

/// The secret parameters `names` (at most 10, one `GetParameters` call: a cold start costs one
/// call whatever it reads), in the order of `names`, each checked as `secret_parameter` says.
/// Throttling is retried with jitter (`SECRET_ATTEMPTS`).
pub async fn secret_parameters(ssm: &aws_sdk_ssm::Client, names: &[&str]) -> anyhow::Result<Vec<String>> {
    use anyhow::Context;
    use aws_sdk_ssm::error::ProvideErrorMetadata;
    anyhow::ensure!(names.len() <= 10, "at most 10 SSM parameters in one read");
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let listed = names.join(", ");
    let output = retry_throttled(
        SECRET_ATTEMPTS,
        SECRET_FIRST_BACKOFF,
        |err: &aws_sdk_ssm::error::SdkError<_>| {
            err.code().is_some_and(|code| code.contains("Throttl") || code == "RequestLimitExceeded")
        },
        || {
            ssm.get_parameters()
                .set_names(Some(names.iter().map(|n| n.to_string()).collect()))
                .with_decryption(true)
                .send()
        },
    )
    .await
    .with_context(|| format!("reading the SSM parameters {listed}"))?;
    let found = output.parameters.unwrap_or_default();
    names
        .iter()
        .map(|name| {
            let parameter = found
                .iter()
                .find(|p| p.name.as_deref() == Some(name))
                .with_context(|| format!("the SSM parameter {name} does not exist (in this region)"))?;
            let kind = parameter.r#type.clone();
            anyhow::ensure!(
                kind == Some(aws_sdk_ssm::types::ParameterType::SecureString),
                "the SSM parameter {name} must be a SecureString (it is {}): put it again with --type SecureString",
                kind.as_ref().map_or("of no type", |k| k.as_str()),
            );
            let value = parameter.value.clone().with_context(|| format!("the SSM parameter {name} has no value"))?;
            anyhow::ensure!(value.len() >= 32, "the SSM parameter {name} must hold at least 32 characters");
            Ok(value)
        })
        .collect()
}

/// `call` until it succeeds, fails with an error that `is_throttled` does not call throttling,
/// or has been tried `attempts` times; after failed attempt n it waits a random time below
/// `first` x 2^(n-1).
pub(crate) async fn retry_throttled<T, E, Fut>(
    attempts: u32,
    first: std::time::Duration,
    is_throttled: impl Fn(&E) -> bool,
    mut call: impl FnMut() -> Fut,
) -> Result<T, E>
where
    Fut: std::future::Future<Output = Result<T, E>>,
{
    use rand::Rng;
    let mut attempt = 1;
    loop {
        match call().await {
            Err(err) if attempt < attempts && is_throttled(&err) => {
                let ceiling = first * 2u32.pow((attempt - 1).min(10));
                tokio::time::sleep(rand::thread_rng().gen_range(std::time::Duration::ZERO..=ceiling)).await;
                attempt += 1;
            }
            done => return done,
        }
    }
}

#[cfg(test)]
mod retry_tests {
    use super::retry_throttled;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::{Duration, Instant};

    #[derive(Debug, PartialEq)]
    enum Failure {
        Throttled,
        Denied,
    }

    /// A call throttled `throttles` times, then answering; counts its calls.
    async fn run(
        attempts: u32,
        throttles: u32,
        then: Result<&'static str, Failure>,
    ) -> (Result<&'static str, Failure>, u32) {
        let calls = AtomicU32::new(0);
        let then = std::sync::Mutex::new(Some(then));
        let result = retry_throttled(
            attempts,
            Duration::from_millis(4),
            |e: &Failure| *e == Failure::Throttled,
            || {
                let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                let answer = if n <= throttles {
                    Err(Failure::Throttled)
                } else {
                    then.lock().unwrap().take().unwrap_or(Err(Failure::Denied))
                };
                async move { answer }
            },
        )
        .await;
        (result, calls.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn throttling_is_retried_with_jitter_and_nothing_else_is() {
        assert_eq!(run(5, 0, Ok("secret")).await, (Ok("secret"), 1));
        assert_eq!(run(5, 3, Ok("secret")).await, (Ok("secret"), 4), "three throttles, then the value");
        assert_eq!(run(5, 9, Ok("secret")).await, (Err(Failure::Throttled), 5), "gives up after 5 attempts");
        assert_eq!(run(5, 0, Err(Failure::Denied)).await, (Err(Failure::Denied), 1), "a refusal is not retried");
        assert_eq!(run(5, 1, Err(Failure::Denied)).await, (Err(Failure::Denied), 2));
        // The waits: below 4 + 8 + 16 + 32 ms in all (and a loaded machine's slack), not always the same.
        let mut took = std::collections::BTreeSet::new();
        for _ in 0..8 {
            let started = Instant::now();
            assert_eq!(run(5, 9, Ok("secret")).await.1, 5);
            let elapsed = started.elapsed();
            assert!(elapsed < Duration::from_millis(60 + 190), "{elapsed:?}");
            took.insert(elapsed.as_micros() / 500);
        }
        assert!(took.len() > 1, "eight runs waited the same: no jitter ({took:?})");
    }
}

pub use s3::{NoUploads, S3Uploads};
pub use ses::SesMailer;

/// An SDK client made on its first use. Making one builds its HTTPS connector, which reads and
/// parses the system's CA certificates: a function that never calls a service should not pay
/// for that client, and no function should pay for any before it handles its first request
/// (the cold start the caller waits through).
pub struct LazyClient<C> {
    client: std::sync::OnceLock<C>,
    make: Option<(aws_config::SdkConfig, MakeClient<C>)>,
}

/// A service's `Client::new`.
pub type MakeClient<C> = fn(&aws_config::SdkConfig) -> C;

impl<C> LazyClient<C> {
    pub fn new(sdk: &aws_config::SdkConfig, make: MakeClient<C>) -> Self {
        Self { client: std::sync::OnceLock::new(), make: Some((sdk.clone(), make)) }
    }

    /// A client made already (tests and tools that hold one).
    pub fn ready(client: C) -> Self {
        Self { client: std::sync::OnceLock::from(client), make: None }
    }

    pub fn get(&self) -> &C {
        self.client.get_or_init(|| match &self.make {
            Some((sdk, make)) => make(sdk),
            None => unreachable!("a ready LazyClient holds its client from the start"),
        })
    }
}

/// The SDK configuration of a Lambda function: the region and the execution role's credentials
/// from the variables Lambda (and `sam local`) sets, and `AWS_ENDPOINT_URL` if set; everything
/// else is each client's default. aws-config's loader would link its whole default chain (STS,
/// SSO, instance metadata, profile files) into every function, for providers a function never
/// uses, and they cost every cold start (docs/benchmarks.md, "Cold start").
pub fn lambda_sdk_config() -> anyhow::Result<aws_config::SdkConfig> {
    sdk_config_from(|name| std::env::var(name).ok())
}

/// `lambda_sdk_config` on the variables `variable` gives (tests give their own).
pub fn sdk_config_from(variable: impl Fn(&str) -> Option<String>) -> anyhow::Result<aws_config::SdkConfig> {
    use aws_credential_types::provider::SharedCredentialsProvider;
    use aws_credential_types::Credentials;
    let variable = |name: &str| variable(name).filter(|value| !value.is_empty());
    let region = variable("AWS_REGION").ok_or_else(|| anyhow::anyhow!("AWS_REGION is not set (Lambda sets it)"))?;
    let (Some(key), Some(secret)) = (variable("AWS_ACCESS_KEY_ID"), variable("AWS_SECRET_ACCESS_KEY")) else {
        anyhow::bail!(
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set (Lambda sets them from the function's role)"
        )
    };
    // The role's credentials for the life of the execution environment (Lambda renews the
    // environment, not its variables), as aws-config's environment provider reads them.
    let credentials = Credentials::new(key, secret, variable("AWS_SESSION_TOKEN"), None, "Environment");
    let mut builder = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials));
    if let Some(endpoint) = variable("AWS_ENDPOINT_URL") {
        builder = builder.endpoint_url(endpoint);
    }
    Ok(builder.build())
}

pub use sqs::SqsQueue;

/// One client per service, cheap to clone (they share their connection pools).
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub ses: aws_sdk_sesv2::Client,
    pub sqs: aws_sdk_sqs::Client,
    /// The SDK configuration the clients were made from (the uploads' bucket makes its own).
    pub sdk: aws_config::SdkConfig,
}

impl AwsClients {
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            ses: aws_sdk_sesv2::Client::new(sdk),
            sqs: aws_sdk_sqs::Client::new(sdk),
            sdk: sdk.clone(),
        }
    }

    /// From the environment, as in Lambda (region, credentials, `AWS_ENDPOINT_URL`).
    pub async fn from_env() -> Self {
        Self::new(&aws_config::load_from_env().await)
    }

    /// For an emulator such as moto server: fixed region and dummy credentials.
    pub async fn for_endpoint(endpoint_url: &str) -> Self {
        let credentials = aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "emulator");
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(endpoint_url)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(credentials)
            .load()
            .await;
        Self::new(&sdk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static MADE: AtomicUsize = AtomicUsize::new(0);

    fn make(_: &aws_config::SdkConfig) -> usize {
        MADE.fetch_add(1, Ordering::SeqCst) + 1
    }

    #[test]
    fn a_lazy_client_is_made_on_first_use_and_once() {
        let sdk = aws_config::SdkConfig::builder().build();
        let client = LazyClient::new(&sdk, make);
        assert_eq!(MADE.load(Ordering::SeqCst), 0, "nothing is made before it is used");
        assert_eq!(*client.get(), 1);
        assert_eq!(*client.get(), 1);
        assert_eq!(MADE.load(Ordering::SeqCst), 1);
        assert_eq!(*LazyClient::ready(7).get(), 7);
    }
}
