//! Instants as whole Unix seconds: what DynamoDB's TTL attribute wants, and precise enough for
//! expiries that are counted in seconds.

use serde::{Serialize, Serializer};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_unix(seconds: i64) -> Self {
        Self(seconds)
    }

    pub const fn unix(self) -> i64 {
        self.0
    }

    pub const fn plus_seconds(self, seconds: i64) -> Self {
        Self(self.0.saturating_add(seconds))
    }

    /// RFC 3339 in UTC, e.g. `2026-11-28T17:09:38Z`.
    pub fn to_rfc3339(self) -> String {
        ::time::OffsetDateTime::from_unix_timestamp(self.0)
            .ok()
            .and_then(|t| t.format(&::time::format_description::well_known::Rfc3339).ok())
            .unwrap_or_else(|| self.0.to_string())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

/// A duration as people write it: `3 days`, `1 hour`, `1 hour and 30 minutes`, `45 seconds`.
pub fn human_duration(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let parts: Vec<String> = [(86_400, "day"), (3600, "hour"), (60, "minute"), (1, "second")]
        .iter()
        .scan(seconds, |left, &(size, unit)| {
            let count = *left / size;
            *left %= size;
            Some((count, unit))
        })
        .filter(|(count, _)| *count > 0)
        .map(|(count, unit)| format!("{count} {unit}{}", if count == 1 { "" } else { "s" }))
        .collect();
    match parts.as_slice() {
        [] => "0 seconds".to_owned(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(human_duration(259_200), "3 days");
        assert_eq!(human_duration(86_400), "1 day");
        assert_eq!(human_duration(3600), "1 hour");
        assert_eq!(human_duration(1800), "30 minutes");
        assert_eq!(human_duration(5400), "1 hour and 30 minutes");
        assert_eq!(human_duration(90_061), "1 day, 1 hour, 1 minute and 1 second");
        assert_eq!(human_duration(60), "1 minute");
        assert_eq!(human_duration(45), "45 seconds");
        assert_eq!(human_duration(0), "0 seconds");
    }

    #[test]
    fn formats_as_rfc3339_utc() {
        assert_eq!(Timestamp::from_unix(0).to_rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp::from_unix(1_795_885_778).to_rfc3339(), "2026-11-28T17:09:38Z");
    }
}
