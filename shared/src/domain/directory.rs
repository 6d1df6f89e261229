//! Finding learners: the queries an operator asks of the store (a paged list with filters, a
//! search by the start of an email or username), and the cursor that pages through them.
//!
//! The store answers each from an index designed for it (`adapters/aws/items.rs`: `users_list`,
//! `users_email`, `users_username`, `locked`, `jobs`): never a scan. A cursor is the position
//! after the last learner shown (an index's sort key), so a page that follows another never
//! repeats a learner, whatever was created in between; it is opaque to callers (base64url), and
//! one that does not decode is refused as bad input, not failed on.

use super::{Timestamp, UserId, UserSource};
use base64::Engine;

/// Learners on a page: the console's, the admin API's and `learnerctl`'s.
pub const PAGE_SIZE: usize = 50;

/// How many partitions the user indexes spread over (a user's by its id): one index partition
/// takes 1,000 writes a second, so a bulk import writes to eight, and a page reads all eight and
/// merges them in order.
pub const USER_SHARDS: u64 = 8;

/// The index shard of a user: stable for the account's life (its id does not change).
pub fn user_shard(id: &UserId) -> u64 {
    // FNV-1a: stable across builds and platforms (`DefaultHasher` is not promised to be).
    let hash =
        id.as_str().bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    hash % USER_SHARDS
}

/// A filter on the status of an account, as the list offers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFilter {
    /// Not activated yet (and not disabled).
    Pending,
    /// Activated (and not disabled).
    Active,
    /// Locked now by failed sign-ins (found through the sign-in counters, not the account).
    Locked,
    Disabled,
    /// With a second factor (an authenticator app or a passkey).
    SecondFactor,
    /// With the operator role.
    Operator,
}

impl StatusFilter {
    pub const ALL: [StatusFilter; 6] =
        [Self::Pending, Self::Active, Self::Locked, Self::Disabled, Self::SecondFactor, Self::Operator];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Locked => "locked",
            Self::Disabled => "disabled",
            Self::SecondFactor => "second_factor",
            Self::Operator => "operator",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Pending => "Pending activation",
            Self::Active => "Active",
            Self::Locked => "Locked now",
            Self::Disabled => "Disabled",
            Self::SecondFactor => "With a second factor",
            Self::Operator => "Operator",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

/// What the store is asked for (the locked ones excepted: `LoginAttempts::locked_now`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserQuery {
    /// The start of an email address or a username, lower-cased; none: every learner.
    pub prefix: Option<String>,
    /// Never `Locked` (the store has no such field on an account).
    pub status: Option<StatusFilter>,
    pub source: Option<UserSource>,
    /// Created at or after this time.
    pub created_from: Option<Timestamp>,
    /// Created at or before this time.
    pub created_to: Option<Timestamp>,
    /// Where the previous page ended (none: the first page).
    pub after: Option<Cursor>,
    pub limit: usize,
}

/// A page of learners, and where the next one starts (none: this was the last).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UserPage {
    pub users: Vec<super::User>,
    pub next: Option<Cursor>,
}

/// A position in one of the orders the store lists learners in. A list runs newest first, by
/// creation; a search runs through the matching email addresses (in order), then through the
/// matching usernames of accounts whose address does not match (so no learner comes twice).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cursor {
    /// After this learner, newest first: the index's sort key `<created, 12 digits>#<id>`.
    Created(String),
    /// After this (lower-cased) address.
    Email(String),
    /// After this (lower-cased) username; empty: from the first matching username.
    Username(String),
    /// After this sort key, for other lists (jobs, audit entries): what it means is theirs.
    Key(String),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the cursor is not one this service gave out")]
pub struct BadCursor;

impl Cursor {
    /// The sort key of a learner in the list's order.
    pub fn created_key(created_at: Timestamp, id: &UserId) -> String {
        format!("{:012}#{id}", created_at.unix().max(0))
    }

    /// As a caller sees it: opaque, safe in a URL.
    pub fn encode(&self) -> String {
        let (tag, value) = match self {
            Self::Created(v) => ('c', v),
            Self::Email(v) => ('e', v),
            Self::Username(v) => ('u', v),
            Self::Key(v) => ('k', v),
        };
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{tag}:{value}"))
    }

    /// A cursor as given out by `encode`; anything else (altered, cut, made up) is `BadCursor`.
    pub fn decode(text: &str) -> Result<Self, BadCursor> {
        if text.len() > 700 {
            return Err(BadCursor);
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| BadCursor)?;
        let text = String::from_utf8(bytes).map_err(|_| BadCursor)?;
        let (tag, value) = text.split_once(':').ok_or(BadCursor)?;
        // Only the usernames' cursor may be empty: their start, after the addresses.
        if (value.is_empty() && tag != "u") || value.chars().any(char::is_control) {
            return Err(BadCursor);
        }
        match tag {
            "c" => {
                let (created, id) = value.split_once('#').ok_or(BadCursor)?;
                let well_formed = created.len() == 12
                    && created.bytes().all(|b| b.is_ascii_digit())
                    && UserId::parse(id).is_some_and(|parsed| parsed.as_str() == id);
                well_formed.then(|| Self::Created(value.to_owned())).ok_or(BadCursor)
            }
            "e" if value.len() <= 254 => Ok(Self::Email(value.to_owned())),
            "u" if value.len() <= 30 => Ok(Self::Username(value.to_owned())),
            "k" if value.len() <= 200 => Ok(Self::Key(value.to_owned())),
            _ => Err(BadCursor),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cursors_round_trip_and_a_changed_one_is_refused() {
        let id = UserId::generate();
        let cursor = Cursor::Created(Cursor::created_key(Timestamp::from_unix(1_800_000_000), &id));
        assert_eq!(Cursor::decode(&cursor.encode()), Ok(cursor.clone()));
        for other in [Cursor::Email("ada@ex".into()), Cursor::Username("ad".into()), Cursor::Key("0001#x".into())] {
            assert_eq!(Cursor::decode(&other.encode()), Ok(other.clone()));
        }
        let mut tampered = cursor.encode();
        tampered.pop();
        tampered.push('!');
        assert_eq!(Cursor::decode(&tampered), Err(BadCursor));
        for bad in ["", "x", "Yzox", "%%%", &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("c:12#nope")] {
            assert_eq!(Cursor::decode(bad), Err(BadCursor), "{bad}");
        }
    }

    #[test]
    fn shards_spread_and_stay_put() {
        let ids: Vec<UserId> = (0..400).map(|_| UserId::generate()).collect();
        let mut seen = [0; USER_SHARDS as usize];
        for id in &ids {
            assert_eq!(user_shard(id), user_shard(&UserId::parse(id.as_str()).unwrap()));
            seen[user_shard(id) as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 20), "{seen:?}");
    }

    proptest! {
        #[test]
        fn decoding_any_text_never_panics(text in ".{0,300}") {
            let _ = Cursor::decode(&text);
        }
    }
}
