//! Request bodies, JSON or form-encoded, read into a list of fields that each handler takes by
//! name (an allow-list): a field nobody takes is an error, never silently ignored.

use super::error::ErrorCode;
use super::ApiError;
use lambda_http::Request;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;
use std::fmt;

pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub use crate::domain::FieldErrors;

pub struct Fields {
    entries: Vec<(String, Value)>,
}

pub fn content_type(req: &Request) -> Option<String> {
    let raw = req.headers().get(http::header::CONTENT_TYPE)?.to_str().ok()?;
    Some(raw.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
}

impl Fields {
    /// Reads the body: 413 when too large, 400 when it is not a JSON object or a form, or has a
    /// key twice.
    pub fn from_request(req: &Request) -> Result<Self, ApiError> {
        Self::from_request_within(req, MAX_BODY_BYTES)
    }

    /// `from_request` for a route that takes larger bodies (a list of 10,000 addresses).
    pub fn from_request_within(req: &Request, max_bytes: usize) -> Result<Self, ApiError> {
        let bytes: &[u8] = req.body().as_ref();
        if bytes.len() > max_bytes {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("The body is larger than {max_bytes} bytes."),
            ));
        }
        match content_type(req).as_deref() {
            Some("application/json") => Self::from_json(bytes),
            Some("application/x-www-form-urlencoded") => Self::from_form(bytes),
            _ => Err(ApiError::bad_request("Send the body as application/json or application/x-www-form-urlencoded.")),
        }
    }

    fn from_json(bytes: &[u8]) -> Result<Self, ApiError> {
        match serde_json::from_slice::<UniqueKeys>(bytes) {
            Ok(UniqueKeys(entries)) => Ok(Self { entries }),
            Err(e) if e.to_string().starts_with(DUPLICATE) => {
                Err(ApiError::bad_request("The body has the same key twice."))
            }
            Err(_) => Err(ApiError::bad_request("The body is not a valid JSON object.")),
        }
    }

    fn from_form(bytes: &[u8]) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(bytes).map_err(|_| ApiError::bad_request("The form body is malformed."))?;
        let mut seen = std::collections::HashSet::with_capacity(pairs.len());
        let mut entries: Vec<(String, Value)> = Vec::with_capacity(pairs.len());
        for (key, value) in pairs {
            if !seen.insert(key.clone()) {
                return Err(ApiError::bad_request("The body has the same key twice."));
            }
            entries.push((key, Value::String(value)));
        }
        Ok(Self { entries })
    }

    fn take(&mut self, name: &str) -> Option<Value> {
        let index = self.entries.iter().position(|(k, _)| k == name)?;
        Some(self.entries.remove(index).1)
    }

    /// A required field of any JSON type.
    pub fn value(&mut self, name: &str, errors: &mut FieldErrors) -> Option<Value> {
        let value = self.take(name);
        if value.is_none() {
            errors.insert(name.to_owned(), "This field is required.".to_owned());
        }
        value
    }

    /// A required string field; records why in `errors` when it is missing or not a string.
    pub fn string(&mut self, name: &str, errors: &mut FieldErrors) -> Option<String> {
        match self.take(name) {
            Some(Value::String(value)) => Some(value),
            Some(_) => {
                errors.insert(name.to_owned(), "Must be a string.".to_owned());
                None
            }
            None => {
                errors.insert(name.to_owned(), "This field is required.".to_owned());
                None
            }
        }
    }

    /// A boolean field: JSON `true`/`false`, or a form checkbox (`on`, `true`, `1`, `yes`).
    /// Missing is false.
    pub fn boolean(&mut self, name: &str, errors: &mut FieldErrors) -> bool {
        match self.take(name) {
            None => false,
            Some(Value::Bool(value)) => value,
            Some(Value::String(value)) if matches!(value.as_str(), "on" | "true" | "1" | "yes") => true,
            Some(Value::String(value)) if matches!(value.as_str(), "off" | "false" | "0" | "no" | "") => false,
            Some(_) => {
                errors.insert(name.to_owned(), "Must be true or false.".to_owned());
                false
            }
        }
    }

    /// An optional string field: None when absent; an error when present but not a string.
    pub fn optional_string(&mut self, name: &str, errors: &mut FieldErrors) -> Option<String> {
        if self.entries.iter().any(|(k, _)| k == name) {
            self.string(name, errors)
        } else {
            None
        }
    }

    /// A boolean field with a default when absent.
    pub fn boolean_or(&mut self, name: &str, default: bool, errors: &mut FieldErrors) -> bool {
        if self.entries.iter().any(|(k, _)| k == name) {
            self.boolean(name, errors)
        } else {
            default
        }
    }

    /// Every field nobody took is an error.
    pub fn finish(self, errors: &mut FieldErrors) {
        for (name, _) in self.entries {
            let name: String = name.chars().take(64).collect();
            errors.insert(name, "Unknown field.".to_owned());
        }
    }
}

const DUPLICATE: &str = "duplicate key";

/// A JSON object read key by key, refusing a key seen twice (serde_json's maps keep the last).
struct UniqueKeys(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = UniqueKeys;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
                // A set of the keys seen: linear in the number of keys (a list compared each new
                // key with every earlier one, 10^8 comparisons for a 64 KiB body).
                let mut seen = std::collections::HashSet::new();
                let mut entries: Vec<(String, Value)> = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    if !seen.insert(key.clone()) {
                        return Err(serde::de::Error::custom(DUPLICATE));
                    }
                    entries.push((key, value));
                }
                Ok(UniqueKeys(entries))
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}
