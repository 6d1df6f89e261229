//! The AWS adapters: DynamoDB single table, SES v2, SQS. Clients are built once per process
//! from one `SdkConfig` (which honours `AWS_ENDPOINT_URL`, so an emulator works unchanged).

mod dynamodb;
mod items;
pub mod provision;
mod ses;
mod sqs;

pub use dynamodb::DynamoStore;

/// A SecureString parameter of SSM Parameter Store, decrypted: a secret that stays out of the
/// function's environment (anyone allowed to read a function's configuration reads that).
/// Checked like the variable it replaces (at least 32 characters).
pub async fn secret_parameter(ssm: &aws_sdk_ssm::Client, name: &str) -> anyhow::Result<String> {
    use anyhow::Context;
    let output = ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .with_context(|| format!("reading the SSM parameter {name}"))?;
    let value =
        output.parameter.and_then(|p| p.value).with_context(|| format!("the SSM parameter {name} has no value"))?;
    anyhow::ensure!(value.len() >= 32, "the SSM parameter {name} must hold at least 32 characters");
    Ok(value)
}
pub use ses::SesMailer;
pub use sqs::SqsQueue;

/// One client per service, cheap to clone (they share their connection pools).
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub ses: aws_sdk_sesv2::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl AwsClients {
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            ses: aws_sdk_sesv2::Client::new(sdk),
            sqs: aws_sdk_sqs::Client::new(sdk),
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
