//! DynamoDB's behaviour under concurrency and failure, in memory.
//!
//! - `InFlight`: a transaction holds its items from the moment it starts until it is applied;
//!   another transaction that touches one of them meanwhile is cancelled with
//!   `TransactionConflict`, as DynamoDB cancels it, and tried again as the DynamoDB adapter
//!   tries it (`CONFLICT_ATTEMPTS`, with backoff). How long a transaction takes is set by the
//!   caller (`MemoryStore::set_transaction_time`); by default it yields once, so concurrent
//!   tasks can still meet.
//! - `Faults`: fails one chosen store call (or one step of a call that makes several
//!   requests), before or after its effect (a crash, or an answer lost on its way back), so
//!   tests can stop a flow between any two steps.
//!
//! `faults::WithFaults` puts every store port method under both.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

pub use crate::adapters::CONFLICT_ATTEMPTS;

#[derive(Default)]
pub struct InFlight {
    held: Mutex<HashSet<String>>,
    transaction_time: Mutex<Duration>,
    conflicts: AtomicU64,
}

/// The items a transaction holds, given back when it ends (applied, or dropped half-way).
struct Holding<'a> {
    in_flight: &'a InFlight,
    keys: Vec<String>,
}

impl Drop for Holding<'_> {
    fn drop(&mut self) {
        let mut held = self.in_flight.held.lock().unwrap_or_else(|p| p.into_inner());
        for key in &self.keys {
            held.remove(key);
        }
    }
}

impl InFlight {
    pub fn set_transaction_time(&self, time: Duration) {
        *self.transaction_time.lock().unwrap_or_else(|p| p.into_inner()) = time;
    }

    /// Transactions cancelled by a conflict so far (each was tried again, or failed).
    pub fn conflicts(&self) -> u64 {
        self.conflicts.load(Ordering::Relaxed)
    }

    /// Holds `keys` for the transaction's time, then runs `apply`; cancelled and tried again
    /// while another transaction holds one of them.
    pub async fn transact<F: std::future::Future>(
        &self,
        keys: Vec<String>,
        apply: impl FnOnce() -> F,
    ) -> anyhow::Result<F::Output> {
        let mut keys = Some(keys);
        for attempt in 1..=CONFLICT_ATTEMPTS {
            let holding = {
                let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
                let wanted = keys.as_ref().expect("kept until held");
                if wanted.iter().any(|key| held.contains(key)) {
                    None
                } else {
                    held.extend(wanted.iter().cloned());
                    Some(Holding { in_flight: self, keys: keys.take().expect("kept until held") })
                }
            };
            let Some(holding) = holding else {
                self.conflicts.fetch_add(1, Ordering::Relaxed);
                if attempt < CONFLICT_ATTEMPTS {
                    tokio::time::sleep(crate::adapters::conflict_backoff(attempt)).await;
                }
                continue;
            };
            let time = *self.transaction_time.lock().unwrap_or_else(|p| p.into_inner());
            if time.is_zero() {
                tokio::task::yield_now().await;
            } else {
                tokio::time::sleep(time).await;
            }
            let applied = apply().await;
            drop(holding);
            return Ok(applied);
        }
        anyhow::bail!("transaction kept conflicting after {CONFLICT_ATTEMPTS} attempts")
    }
}

/// Where an injected fault strikes a store call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The call fails and changes nothing (the store was not reached).
    Before,
    /// The call's change is made, then it fails (the answer was lost).
    After,
}

#[derive(Default)]
pub struct Faults {
    calls: AtomicU64,
    planned: Mutex<Option<(u64, Fault)>>,
}

impl Faults {
    /// Store calls made so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// The `nth` call from now (1 is the next one) fails as `fault` says.
    pub fn plan(&self, nth: u64, fault: Fault) {
        *self.planned.lock().unwrap_or_else(|p| p.into_inner()) = Some((self.calls() + nth, fault));
    }

    /// Called as a store call starts: fails it now (`Before`), or says it must fail once done.
    pub fn enter(&self, what: &str) -> anyhow::Result<bool> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let mut planned = self.planned.lock().unwrap_or_else(|p| p.into_inner());
        match *planned {
            Some((at, fault)) if at == call => {
                *planned = None;
                match fault {
                    Fault::Before => anyhow::bail!("injected fault before {what} (call {call})"),
                    Fault::After => Ok(true),
                }
            }
            _ => Ok(false),
        }
    }

    /// Called as a store call ends: fails it if `enter` said so.
    pub fn leave<T>(&self, fail: bool, what: &str, result: anyhow::Result<T>) -> anyhow::Result<T> {
        match result {
            Ok(_) if fail => anyhow::bail!("injected fault after {what} (its change was made)"),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn a_transaction_on_a_held_item_is_cancelled_and_tried_again() {
        let in_flight = Arc::new(InFlight::default());
        in_flight.set_transaction_time(Duration::from_millis(30));
        let hold = |keys: Vec<&'static str>| {
            let in_flight = in_flight.clone();
            tokio::spawn(async move {
                in_flight.transact(keys.into_iter().map(String::from).collect(), || async { 1 }).await
            })
        };
        // The same item: cancelled, then applied once the first ends.
        let first = hold(vec!["a", "b"]);
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(in_flight.transact(vec!["b".into()], || async { 2 }).await.unwrap(), 2);
        assert!(in_flight.conflicts() >= 1);
        assert_eq!(first.await.unwrap().unwrap(), 1);
        // Other items: no conflict.
        let conflicts = in_flight.conflicts();
        let other = hold(vec!["a", "b"]);
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(in_flight.transact(vec!["c".into()], || async { 3 }).await.unwrap(), 3);
        assert_eq!(in_flight.conflicts(), conflicts);
        assert_eq!(other.await.unwrap().unwrap(), 1);
    }

    #[tokio::test]
    async fn a_transaction_held_too_long_fails_after_the_last_attempt() {
        let in_flight = Arc::new(InFlight::default());
        in_flight.set_transaction_time(Duration::from_secs(2));
        let holder = tokio::spawn({
            let in_flight = in_flight.clone();
            async move { in_flight.transact(vec!["a".into()], || async {}).await }
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        let error = in_flight.transact(vec!["a".into()], || async {}).await.unwrap_err();
        assert!(error.to_string().contains("kept conflicting"), "{error}");
        assert_eq!(in_flight.conflicts(), u64::from(CONFLICT_ATTEMPTS));
        holder.abort();
    }

    #[test]
    fn a_planned_fault_strikes_its_call_only() {
        let faults = Faults::default();
        faults.plan(2, Fault::After);
        assert!(!faults.enter("one").unwrap());
        assert!(faults.enter("two").unwrap());
        assert!(faults.leave(true, "two", Ok(())).is_err());
        assert!(!faults.enter("three").unwrap());
        faults.plan(1, Fault::Before);
        assert!(faults.enter("four").is_err());
        assert_eq!(faults.calls(), 4);
    }
}
