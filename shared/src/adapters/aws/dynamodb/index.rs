//! Reading a range of an index spread over several partitions (write-sharded), in one order:
//! each partition is queried for the range, and the answers are merged. What one call reads is
//! bounded (`PAGES_PER_PARTITION` pages of `ITEMS_PER_PAGE` items evaluated, per partition), so
//! a rare filter answers a short page with a cursor rather than reading the whole index in one
//! request; the cursor is the last sort key every partition has been read up to, so the next
//! page starts there and nothing is skipped or repeated.

use super::DynamoStore;
use crate::adapters::aws::items::Item;
use anyhow::Context;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

const ITEMS_PER_PAGE: i32 = 200;
const PAGES_PER_PARTITION: usize = 8;

/// A filter expression on items' own attributes (never the index's keys), with its names and
/// values.
#[derive(Default)]
pub(super) struct Filter {
    pub terms: Vec<String>,
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
}

impl Filter {
    pub fn and(&mut self, term: &str) -> &mut Self {
        self.terms.push(term.to_owned());
        self
    }

    pub fn name(&mut self, placeholder: &str, name: &str) -> &mut Self {
        self.names.insert(placeholder.to_owned(), name.to_owned());
        self
    }

    pub fn value(&mut self, placeholder: &str, value: AttributeValue) -> &mut Self {
        self.values.insert(placeholder.to_owned(), value);
        self
    }
}

/// A range of sort keys, in every partition of an index.
pub(super) struct IndexRange {
    /// The index; none: the table's own key (`pk`, `sk`).
    pub index: Option<&'static str>,
    pub pk_attr: &'static str,
    pub sk_attr: &'static str,
    pub partitions: Vec<String>,
    /// Inclusive bounds of the sort key.
    pub low: Option<String>,
    pub high: Option<String>,
    /// A sort key not to return (the cursor: the last one the previous page showed).
    pub exclude: Option<String>,
    /// Ascending (true) or descending.
    pub forward: bool,
    pub filter: Filter,
    pub want: usize,
}

/// Items in the range's order, and the sort key a next page starts after (none: no more).
pub(super) struct Merged {
    pub items: Vec<Item>,
    pub next: Option<String>,
}

impl DynamoStore {
    pub(super) async fn merged_range(&self, range: IndexRange) -> anyhow::Result<Merged> {
        if let (Some(low), Some(high)) = (&range.low, &range.high) {
            if low > high {
                return Ok(Merged { items: Vec::new(), next: None });
            }
        }
        let (condition, mut bounds) = match (&range.low, &range.high) {
            (Some(low), Some(high)) => {
                ("#pk = :pk AND #sk BETWEEN :low AND :high", vec![(":low", low), (":high", high)])
            }
            (Some(low), None) => ("#pk = :pk AND #sk >= :low", vec![(":low", low)]),
            (None, Some(high)) => ("#pk = :pk AND #sk <= :high", vec![(":high", high)]),
            (None, None) => ("#pk = :pk", Vec::new()),
        };
        let mut found: Vec<(String, Item)> = Vec::new();
        // The furthest point every unfinished partition has been read to (in the range's order).
        let mut bound: Option<String> = None;
        for partition in &range.partitions {
            let mut matches = 0;
            let mut start: Option<Item> = None;
            let mut finished = false;
            for _ in 0..PAGES_PER_PARTITION {
                let mut query = self
                    .client()
                    .query()
                    .table_name(&self.table)
                    .set_index_name(range.index.map(str::to_owned))
                    .key_condition_expression(condition)
                    .expression_attribute_names("#pk", range.pk_attr)
                    .expression_attribute_values(":pk", AttributeValue::S(partition.clone()))
                    .scan_index_forward(range.forward)
                    .limit(ITEMS_PER_PAGE)
                    .set_exclusive_start_key(start.take());
                if !bounds.is_empty() {
                    query = query.expression_attribute_names("#sk", range.sk_attr);
                }
                for (placeholder, value) in &bounds {
                    query = query.expression_attribute_values(*placeholder, AttributeValue::S((*value).clone()));
                }
                if !range.filter.terms.is_empty() {
                    query = query.filter_expression(range.filter.terms.join(" AND "));
                    for (placeholder, name) in &range.filter.names {
                        query = query.expression_attribute_names(placeholder, name);
                    }
                    for (placeholder, value) in &range.filter.values {
                        query = query.expression_attribute_values(placeholder, value.clone());
                    }
                }
                let output = query.send().await.map_err(|e| {
                    // The service's own words (an invalid expression names its part).
                    let detail = e.as_service_error().and_then(|e| e.meta().message()).unwrap_or_default().to_owned();
                    anyhow::Error::new(e)
                        .context(format!("DynamoDB Query (index {}): {detail}", range.index.unwrap_or("none")))
                })?;
                for item in output.items.unwrap_or_default() {
                    let sk = item.get(range.sk_attr).and_then(|v| v.as_s().ok()).cloned();
                    if let Some(sk) = sk {
                        matches += 1;
                        found.push((sk, item));
                    }
                }
                start = output.last_evaluated_key;
                if start.is_none() {
                    finished = true;
                    break;
                }
                if matches >= range.want {
                    break;
                }
            }
            if !finished {
                let reached = start
                    .as_ref()
                    .and_then(|key| key.get(range.sk_attr))
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .context("a query's last evaluated key has no sort key")?;
                bound = Some(match bound {
                    None => reached,
                    Some(b) if range.forward => b.min(reached),
                    Some(b) => b.max(reached),
                });
            }
        }
        bounds.clear();
        let known = |sk: &String| match &bound {
            None => true,
            Some(b) if range.forward => sk <= b,
            Some(b) => sk >= b,
        };
        let mut items: Vec<(String, Item)> =
            found.into_iter().filter(|(sk, _)| known(sk) && range.exclude.as_ref() != Some(sk)).collect();
        items.sort_by(|a, b| if range.forward { a.0.cmp(&b.0) } else { b.0.cmp(&a.0) });
        let more_matches = items.len() > range.want;
        items.truncate(range.want);
        let next = match items.last() {
            Some((last, _)) if items.len() == range.want && (more_matches || bound.is_some()) => Some(last.clone()),
            _ => bound,
        };
        Ok(Merged { items: items.into_iter().map(|(_, item)| item).collect(), next })
    }
}
