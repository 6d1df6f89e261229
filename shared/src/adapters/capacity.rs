//! DynamoDB's capacity units, counted as on-demand DynamoDB bills them, on the DynamoDB
//! adapter's own requests: its client carries `Meter` (an SDK interceptor that sees every
//! request and its answer). `make bench` prices each flow with it on moto, and a contract test
//! pins each store call's units (the embedded store models no billing: the adapter's requests
//! are the only truth about them).
//!
//! The rules:
//! - writes: 1 write request unit per KB of the item written (`PutItem`, `BatchWriteItem`), at
//!   least 1 (`UpdateItem`, `DeleteItem`: the item's size is not in the request; every item
//!   here is under 1 KB, which the largest item written, printed below, shows); a transaction's
//!   actions 2 each; a write refused by its condition is billed all the same;
//! - index writes: an item written with a global secondary index's key attribute is written to
//!   that index too, a standard write (never doubled by a transaction): `feed` projects the
//!   whole item (1 unit per KB), `rows_by_email` its keys (1 unit); an update that sets an index
//!   key counts 1 (its item's size is not in the request). A delete of an indexed item also
//!   deletes its index entry, which the request does not show: not counted (deletion's index
//!   entries are a job's rows, a few per deleted account);
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
use aws_sdk_dynamodb::operation::scan::ScanInput;
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
    /// Scans seen (never reset: a query that scans is a defect, `tests/suite/contract/directory.rs`).
    scans: Arc<Mutex<usize>>,
    largest_item: Arc<Mutex<usize>>,
}

impl Meter {
    pub fn take(&self) -> Units {
        std::mem::take(&mut *self.units.lock().unwrap())
    }

    /// How many Scan requests went through the client.
    pub fn scans(&self) -> usize {
        *self.scans.lock().unwrap()
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

/// The table's global secondary indexes (template.yaml): the attributes that put an item in
/// one (its hash key, and its range key if it has one: both must be present, the indexes are
/// sparse), and whether it projects the whole item (else its keys only).
pub const INDEXES: [(&str, Option<&str>, bool); 7] = [
    ("feed_pk", Some("feed_sk"), true),
    ("email_sha", None, false),
    ("list_pk", Some("list_sk"), true),
    ("list_pk", Some("email_lc"), true),
    ("list_pk", Some("username_lc"), true),
    ("locked_pk", Some("locked_sk"), true),
    ("jobs_pk", Some("jobs_sk"), true),
];

/// The index writes of putting `item`.
pub fn index_writes(item: &HashMap<String, AttributeValue>) -> f64 {
    INDEXES
        .iter()
        .filter(|(hash, range, _)| item.contains_key(*hash) && range.is_none_or(|range| item.contains_key(range)))
        .map(|(_, _, whole)| if *whole { write_units(item_size(item)) } else { 1.0 })
        .sum()
}

/// The index writes of an update: one for each index whose key attributes it names (directly or
/// through an expression attribute name).
fn update_index_writes(expression: Option<&str>, names: Option<&HashMap<String, String>>) -> f64 {
    let Some(expression) = expression else {
        return 0.0;
    };
    let named = |key: &str| {
        expression.contains(key)
            || names.is_some_and(|names| names.iter().any(|(alias, name)| name == key && expression.contains(alias)))
    };
    INDEXES.iter().filter(|(hash, range, _)| named(hash) || range.is_some_and(named)).count() as f64
}

pub fn write_units(size: usize) -> f64 {
    size.div_ceil(1024).max(1) as f64
}

pub fn read_units(size: usize, consistent: bool) -> f64 {
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
        if input.downcast_ref::<ScanInput>().is_some() {
            *self.scans.lock().unwrap() += 1;
        }
        let mut pending = Pending { writes: 0.0, consistent: false };
        if let Some(put) = input.downcast_ref::<PutItemInput>() {
            pending.writes = put.item.as_ref().map_or(1.0, |item| self.written(item) + index_writes(item));
        } else if let Some(update) = input.downcast_ref::<UpdateItemInput>() {
            pending.writes = 1.0
                + update_index_writes(update.update_expression.as_deref(), update.expression_attribute_names.as_ref());
        } else if input.downcast_ref::<DeleteItemInput>().is_some() {
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
                .map(|action| {
                    let put = action.put.as_ref().map_or(0.0, |put| index_writes(&put.item));
                    let update = action.update.as_ref().map_or(0.0, |u| {
                        update_index_writes(Some(&u.update_expression), u.expression_attribute_names.as_ref())
                    });
                    2.0 * action.put.as_ref().map_or(1.0, |put| self.written(&put.item)) + put + update
                })
                .sum();
        } else if let Some(batch) = input.downcast_ref::<BatchWriteItemInput>() {
            pending.writes = batch
                .request_items
                .iter()
                .flat_map(|requests| requests.values().flatten())
                .map(|request| {
                    request.put_request.as_ref().map_or(1.0, |put| self.written(&put.item) + index_writes(&put.item))
                })
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

    #[test]
    fn index_writes_count_for_the_indexes_an_item_is_in() {
        let base = HashMap::from([("pk".to_owned(), AttributeValue::S("AUDIT#1".into()))]);
        assert_eq!(index_writes(&base), 0.0);
        let mut audit = base.clone();
        audit.insert("feed_pk".into(), AttributeValue::S("FEED#2026-12-06".into()));
        audit.insert("note".into(), AttributeValue::S("x".repeat(1500)));
        assert_eq!(index_writes(&audit), 0.0, "an index's range key missing: not in it (sparse)");
        audit.insert("feed_sk".into(), AttributeValue::S("1".into()));
        assert_eq!(index_writes(&audit), 2.0, "feed projects the whole item: 2 KB");
        let mut user = base.clone();
        for (name, value) in [("list_pk", "USERS#1"), ("list_sk", "1"), ("email_lc", "a@b"), ("username_lc", "ab")] {
            user.insert(name.into(), AttributeValue::S(value.into()));
        }
        assert_eq!(index_writes(&user), 3.0, "an account is in three whole-item indexes");
        let mut row = base.clone();
        row.insert("email_sha".into(), AttributeValue::S("ab".into()));
        row.insert("note".into(), AttributeValue::S("x".repeat(1500)));
        assert_eq!(index_writes(&row), 1.0, "rows_by_email projects keys only");
        assert_eq!(update_index_writes(Some("SET email_sha = :e"), None), 1.0);
        let names = HashMap::from([("#f".to_owned(), "feed_pk".to_owned())]);
        assert_eq!(update_index_writes(Some("SET #f = :f, email_sha = :e"), Some(&names)), 2.0);
        assert_eq!(update_index_writes(Some("SET settled = :n"), Some(&names)), 0.0);
        assert_eq!(update_index_writes(Some("SET email_lc = :e"), None), 1.0);
    }
}
