//! DynamoDB capacity units per flow, measured on the requests the DynamoDB adapter really sends
//! (to moto), priced as on-demand DynamoDB bills them. An SDK interceptor on the adapter's
//! client sees every request and its answer and counts:
//! - writes: 1 write request unit per KB of the item written (`PutItem`, `BatchWriteItem`), at
//!   least 1 (`UpdateItem`, `DeleteItem`: the item's size is not in the request; every item
//!   here is under 1 KB, which the largest item written, printed below, shows); a transaction's
//!   actions 2 each; a write refused by its condition is billed all the same;
//! - reads: 1 read request unit per 4 KB read strongly consistently, half that eventually
//!   consistently, 2 in a transaction; a miss costs what a read of a small item costs; a
//!   `Query` is billed on the total size of what it returned.
//!
//! Prices (us-east-1, on-demand, since November 2024): $0.625 per million write request units,
//! $0.125 per million read request units.

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemInput;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemInput;
use aws_sdk_dynamodb::operation::get_item::{GetItemInput, GetItemOutput};
use aws_sdk_dynamodb::operation::put_item::PutItemInput;
use aws_sdk_dynamodb::operation::query::{QueryInput, QueryOutput};
use aws_sdk_dynamodb::operation::transact_get_items::TransactGetItemsOutput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemInput;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub const DOLLARS_PER_MILLION_WRITES: f64 = 0.625;
pub const DOLLARS_PER_MILLION_READS: f64 = 0.125;

/// Units counted since the last `take`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Units {
    pub reads: f64,
    pub writes: f64,
    pub requests: usize,
}

impl Units {
    /// On-demand dollars for a million of whatever these units are for.
    pub fn dollars_per_million(&self) -> f64 {
        self.reads * DOLLARS_PER_MILLION_READS + self.writes * DOLLARS_PER_MILLION_WRITES
    }
}

#[derive(Clone, Debug, Default)]
pub struct Meter {
    units: Arc<Mutex<Units>>,
    largest_item: Arc<Mutex<usize>>,
}

impl Meter {
    pub fn take(&self) -> Units {
        std::mem::take(&mut *self.units.lock().unwrap())
    }

    pub fn largest_item(&self) -> usize {
        *self.largest_item.lock().unwrap()
    }

    fn add(&self, reads: f64, writes: f64) {
        let mut units = self.units.lock().unwrap();
        units.reads += reads;
        units.writes += writes;
        units.requests += 1;
    }

    fn written(&self, item: &HashMap<String, AttributeValue>) -> f64 {
        let size = item_size(item);
        let mut largest = self.largest_item.lock().unwrap();
        *largest = (*largest).max(size);
        write_units(size)
    }
}

fn write_units(size: usize) -> f64 {
    size.div_ceil(1024).max(1) as f64
}

fn read_units(size: usize, consistent: bool) -> f64 {
    let blocks = size.div_ceil(4096).max(1) as f64;
    if consistent {
        blocks
    } else {
        blocks / 2.0
    }
}

/// DynamoDB's item size: attribute names and values, in bytes.
pub fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter().map(|(name, value)| name.len() + value_size(value)).sum()
}

fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        // Numbers: about one byte per two significant digits, plus one.
        AttributeValue::N(n) => n.trim_start_matches('-').len().div_ceil(2) + 1,
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::M(map) => 3 + map.iter().map(|(k, v)| k.len() + value_size(v) + 1).sum::<usize>(),
        AttributeValue::L(list) => 3 + list.iter().map(|v| value_size(v) + 1).sum::<usize>(),
        AttributeValue::Ss(set) => set.iter().map(String::len).sum(),
        AttributeValue::Ns(set) => set.iter().map(|n| n.len().div_ceil(2) + 1).sum(),
        AttributeValue::Bs(set) => set.iter().map(|b| b.as_ref().len()).sum(),
        _ => 0,
    }
}

/// What the request said that the answer's hook needs: its write units (counted from the
/// input, which is gone by then) and whether its reads are strongly consistent.
#[derive(Clone, Copy, Debug)]
struct Pending {
    writes: f64,
    consistent: bool,
}

impl Storable for Pending {
    type Storer = StoreReplace<Self>;
}

impl Intercept for Meter {
    fn name(&self) -> &'static str {
        "capacity meter"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let input = context.input();
        let mut pending = Pending { writes: 0.0, consistent: false };
        if let Some(put) = input.downcast_ref::<PutItemInput>() {
            pending.writes = put.item.as_ref().map_or(1.0, |item| self.written(item));
        } else if input.downcast_ref::<UpdateItemInput>().is_some() || input.downcast_ref::<DeleteItemInput>().is_some()
        {
            pending.writes = 1.0;
        } else if let Some(get) = input.downcast_ref::<GetItemInput>() {
            pending.consistent = get.consistent_read == Some(true);
        } else if let Some(query) = input.downcast_ref::<QueryInput>() {
            pending.consistent = query.consistent_read == Some(true);
        } else if let Some(transaction) = input.downcast_ref::<TransactWriteItemsInput>() {
            pending.writes = transaction
                .transact_items
                .iter()
                .flatten()
                .map(|action| 2.0 * action.put.as_ref().map_or(1.0, |put| self.written(&put.item)))
                .sum();
        } else if let Some(batch) = input.downcast_ref::<BatchWriteItemInput>() {
            pending.writes = batch
                .request_items
                .iter()
                .flat_map(|requests| requests.values().flatten())
                .map(|request| request.put_request.as_ref().map_or(1.0, |put| self.written(&put.item)))
                .sum();
        }
        cfg.interceptor_state().store_put(pending);
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let Some(pending) = cfg.load::<Pending>().copied() else {
            return Ok(());
        };
        // A write refused by its condition is billed like one that was applied.
        let output = context.output_or_error().and_then(Result::ok);
        let reads = if let Some(get) = output.and_then(|o| o.downcast_ref::<GetItemOutput>()) {
            read_units(get.item.as_ref().map_or(0, item_size), pending.consistent)
        } else if let Some(query) = output.and_then(|o| o.downcast_ref::<QueryOutput>()) {
            let size = query.items.as_ref().map_or(0, |items| items.iter().map(item_size).sum());
            read_units(size, pending.consistent)
        } else if let Some(transaction) = output.and_then(|o| o.downcast_ref::<TransactGetItemsOutput>()) {
            let items = transaction.responses.iter().flatten();
            items.map(|r| 2.0 * read_units(r.item.as_ref().map_or(0, item_size), true)).sum()
        } else {
            0.0
        };
        self.add(reads, pending.writes);
        Ok(())
    }
}

// ---- The flows, once each on a moto-backed app whose DynamoDB client carries the meter ----

use learners::adapters::aws::{provision, AwsClients};
use learners::adapters::clock::SystemClock;
use learners::adapters::memory::{InProcessQueue, MemoryMailer, QueuedBatch};
use learners::flows::{activation, recovery, registration, removal, signin};
use learners::handlers::worker::{SqsEvent, SqsMessage};
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
        let mut app = App::aws(config, &clients, Arc::new(SystemClock));
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
            let handler = self.workers.handler(queue).ok_or_else(|| anyhow::anyhow!("no worker for {queue:?}"))?;
            let mut event = SqsEvent::default();
            event.records = batch
                .bodies
                .into_iter()
                .enumerate()
                .map(|(i, body)| {
                    let mut message = SqsMessage::default();
                    message.message_id = Some(i.to_string());
                    message.body = Some(body);
                    message.attributes = HashMap::from([("ApproximateReceiveCount".to_owned(), "1".to_owned())]);
                    message
                })
                .collect();
            let answer = handler(&self.app, event).await;
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
        activation::activate(&self.app, &token).await.map_err(|e| anyhow::anyhow!("{e}"))?;
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
        activation::activate(&rig.app, &token).await.map_err(|e| anyhow::anyhow!("{e}"))?;
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
pub const MONTH: [(&str, f64); 8] = [
    ("registration (with its activation mail)", 0.02),
    ("activation", 0.02),
    ("sign-in", 8.0),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_sizes_and_units_follow_dynamodb_rules() {
        let item = HashMap::from([
            ("pk".to_owned(), AttributeValue::S("USER#1".into())),
            ("n".to_owned(), AttributeValue::N("12345".into())),
            ("ok".to_owned(), AttributeValue::Bool(true)),
        ]);
        assert_eq!(item_size(&item), (2 + 6) + (1 + 4) + (2 + 1));
        assert_eq!(write_units(0), 1.0);
        assert_eq!(write_units(1024), 1.0);
        assert_eq!(write_units(1025), 2.0);
        assert_eq!(read_units(0, false), 0.5);
        assert_eq!(read_units(4097, true), 2.0);
    }
}
