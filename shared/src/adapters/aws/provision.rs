//! Creates the table, queues and uploads' bucket on an endpoint (an emulator, or an account without the SAM
//! stack): what `learners-dev provision` and the tests run. In AWS the SAM template owns them.

use super::AwsClients;
use crate::ports::Queue;
use anyhow::Context;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
pub struct Provisioned {
    pub table: String,
    pub queue_urls: BTreeMap<Queue, String>,
    /// The uploads' bucket (`<prefix>-uploads`).
    pub upload_bucket: String,
}

impl Provisioned {
    /// The configuration variables that point at what was made.
    pub fn variables(&self) -> Vec<(&'static str, String)> {
        let mut variables = vec![("LEARNERS_TABLE_NAME", self.table.clone())];
        variables.extend(self.queue_urls.iter().map(|(queue, url)| (queue.url_variable(), url.clone())));
        variables.push(("LEARNERS_UPLOAD_BUCKET", self.upload_bucket.clone()));
        variables
    }
}

/// Creates the `<prefix>` table and a `<prefix>-<queue>` queue for each queue (each with a
/// `-dlq`), leaving existing ones as they are.
pub async fn provision(clients: &AwsClients, prefix: &str) -> anyhow::Result<Provisioned> {
    create_table(&clients.dynamodb, prefix).await?;
    let mut queue_urls = BTreeMap::new();
    for queue in Queue::ALL {
        queue_urls.insert(queue, create_queue_with_dlq(&clients.sqs, &format!("{prefix}-{}", queue.suffix())).await?);
    }
    let upload_bucket = format!("{}-uploads", prefix.to_ascii_lowercase());
    super::S3Uploads::new(&clients.sdk, &upload_bucket).create_bucket().await?;
    Ok(Provisioned { table: prefix.to_owned(), queue_urls, upload_bucket })
}

pub async fn create_table(client: &aws_sdk_dynamodb::Client, table: &str) -> anyhow::Result<()> {
    let exists = client.describe_table().table_name(table).send().await.is_ok();
    if !exists {
        let attribute = |name: &str| {
            AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build()
        };
        let key = |name: &str, kind| KeySchemaElement::builder().attribute_name(name).key_type(kind).build();
        client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash).context("pk key")?)
            .key_schema(key("sk", KeyType::Range).context("sk key")?)
            .set_attribute_definitions(Some({
                let mut defined = Vec::new();
                for name in
                    ["list_pk", "list_sk", "email_lc", "username_lc", "locked_pk", "locked_sk", "jobs_pk", "jobs_sk"]
                {
                    defined.push(attribute(name).with_context(|| format!("{name} definition"))?);
                }
                let mut all = vec![
                    attribute("pk").context("pk definition")?,
                    attribute("sk").context("sk definition")?,
                    attribute("email_sha").context("email_sha definition")?,
                    attribute("feed_pk").context("feed_pk definition")?,
                    attribute("feed_sk").context("feed_sk definition")?,
                ];
                all.extend(defined);
                all
            }))
            .set_global_secondary_indexes(Some({
                let mut indexes = vec![
                    GlobalSecondaryIndex::builder()
                        .index_name(super::items::ROWS_BY_EMAIL_INDEX)
                        .key_schema(key("email_sha", KeyType::Hash).context("email_sha key")?)
                        .projection(Projection::builder().projection_type(ProjectionType::KeysOnly).build())
                        .build()
                        .context("the rows-by-email index")?,
                    GlobalSecondaryIndex::builder()
                        .index_name(super::items::FEED_INDEX)
                        .key_schema(key("feed_pk", KeyType::Hash).context("feed_pk key")?)
                        .key_schema(key("feed_sk", KeyType::Range).context("feed_sk key")?)
                        .projection(Projection::builder().projection_type(ProjectionType::All).build())
                        .build()
                        .context("the feed index")?,
                ];
                // The indexes that find learners, locks and jobs (`items.rs`), as template.yaml has them.
                for (index, hash, range) in super::items::FINDING_INDEXES {
                    indexes.push(
                        GlobalSecondaryIndex::builder()
                            .index_name(index)
                            .key_schema(key(hash, KeyType::Hash).context("index hash key")?)
                            .key_schema(key(range, KeyType::Range).context("index range key")?)
                            .projection(Projection::builder().projection_type(ProjectionType::All).build())
                            .build()
                            .with_context(|| format!("the {index} index"))?,
                    );
                }
                indexes
            }))
            .send()
            .await
            .with_context(|| format!("creating table {table}"))?;
    }
    let ttl = client
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .with_context(|| format!("reading TTL of {table}"))?;
    let enabled =
        ttl.time_to_live_description().and_then(|d| d.time_to_live_status()).is_some_and(|s| s.as_str() == "ENABLED");
    if !enabled {
        let spec =
            TimeToLiveSpecification::builder().enabled(true).attribute_name("ttl").build().context("TTL spec")?;
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(spec)
            .send()
            .await
            .with_context(|| format!("enabling TTL on {table}"))?;
    }
    Ok(())
}

async fn create_queue_with_dlq(client: &aws_sdk_sqs::Client, name: &str) -> anyhow::Result<String> {
    let dlq_url = client
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await
        .with_context(|| format!("creating queue {name}-dlq"))?
        .queue_url
        .context("CreateQueue returned no URL")?;
    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .context("reading the DLQ ARN")?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .context("GetQueueAttributes returned no QueueArn")?;
    let redrive = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": crate::config::DEFAULT_MAX_RECEIVES.to_string()});
    client
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .attributes(QueueAttributeName::VisibilityTimeout, "60")
        .send()
        .await
        .with_context(|| format!("creating queue {name}"))?
        .queue_url
        .context("CreateQueue returned no URL")
}

/// Registers the sender address with SES (an emulator sends from verified identities only; in
/// a real account this starts the verification mail).
pub async fn verify_sender(clients: &AwsClients, from: &str) -> anyhow::Result<()> {
    let result = clients.ses.create_email_identity().email_identity(from).send().await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|e| e.is_already_exists_exception()) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating the SES identity {from}")),
    }
}
