//! The console's "Site settings" page (`/operator/settings`, issue 25), and the one reading of a
//! settings body (the page's form and the admin API's JSON) into text values by name, which
//! `domain::settings` checks.
//!
//! A support person gets the form: each setting with its value, its default and a line that
//! says what it does; the version read in a hidden field (a save from an older version is a
//! conflict); the confirmation (the second factor) when not given in the last 5 minutes; and
//! the history, each kept version with a "Restore" button. An operator without the support
//! role gets the same values as text, and no form.

use super::{confirm_field, when, AskFor, ConfirmField};
use crate::domain::human_duration;
use crate::domain::settings::{Kind, Settings, FIELDS};
use crate::http::pages::{Input, Page};
use crate::http::{FieldErrors, Fields};
use askama::Template;
use serde_json::Value;
use std::collections::BTreeMap;

/// The form field of the version the values were read at.
pub const VERSION_FIELD: &str = "version";

/// The settings of a body, as text by name: JSON numbers, booleans and strings (every setting
/// is required there), or a form's strings (an unticked checkbox is not sent: false). Problems
/// of shape go in `errors`; the values themselves are `Settings::parse`'s to check.
pub fn settings_values(fields: &mut Fields, form: bool, errors: &mut FieldErrors) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    for field in FIELDS {
        let name = field.name;
        let value = if form {
            match fields.optional_string(name, errors) {
                Some(value) => Some(value),
                None if field.kind == Kind::Flag => Some("false".to_owned()),
                None => {
                    errors.entry(name.to_owned()).or_insert_with(|| "Required: every setting is sent.".to_owned());
                    None
                }
            }
        } else {
            match fields.value(name, errors) {
                Some(Value::String(s)) => Some(s),
                Some(Value::Bool(b)) => Some(b.to_string()),
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(_) => {
                    errors.insert(name.to_owned(), "Must be a number, true or false, or a string.".to_owned());
                    None
                }
                None => None,
            }
        };
        if let Some(value) = value {
            values.insert(name.to_owned(), value);
        }
    }
    values
}

/// One setting on the page.
struct Row<'a> {
    name: &'static str,
    label: &'static str,
    explanation: &'static str,
    /// The value shown (or typed, when the form came back).
    value: String,
    default: String,
    /// A checkbox rather than an input.
    flag: bool,
    checked: bool,
    input: Option<Input<'a>>,
    error: Option<&'a str>,
}

/// A kept version, in the history.
struct HistoryRow {
    version: u64,
    when: String,
    who: String,
    changes: String,
}

#[derive(Template)]
#[template(path = "console/settings.html")]
struct SettingsPage<'a> {
    notice: Option<&'a str>,
    /// The values changed since the person read them: these are the ones in force now.
    conflict: bool,
    /// Why the form came back, above it.
    problem: Option<&'a str>,
    version: u64,
    saved: String,
    editable: bool,
    rows: Vec<Row<'a>>,
    confirm: Option<ConfirmField<'a>>,
    history: Vec<HistoryRow>,
}

/// What the page shows.
pub struct SettingsView<'a> {
    /// The version the form saves on (the one in force, or the one read when the form came
    /// back with problems).
    pub version: u64,
    /// Who saved it and when (None: the stack's parameters).
    pub saved: Option<(&'a str, crate::domain::Timestamp)>,
    /// The values shown, by name (those in force, or as typed).
    pub values: &'a BTreeMap<String, String>,
    pub defaults: &'a Settings,
    /// The support role: the form; without it, the values as text.
    pub editable: bool,
    pub errors: &'a FieldErrors,
    pub confirm: Option<AskFor>,
    pub notice: Option<&'a str>,
    pub conflict: bool,
    pub history: &'a [crate::domain::settings::HistoryLine],
}

fn shown(name: &str, value: &str) -> String {
    let seconds = name.ends_with("_seconds");
    match value.parse::<i64>() {
        Ok(n) if seconds => format!("{value} ({})", human_duration(n)),
        _ if value.is_empty() => "(none)".to_owned(),
        _ => value.to_owned(),
    }
}

pub fn settings_page(view: SettingsView<'_>) -> Page {
    let rows = FIELDS
        .iter()
        .map(|f| {
            let value: &str = view.values.get(f.name).map(String::as_str).unwrap_or("");
            let flag = f.kind == Kind::Flag;
            let input = (!flag && view.editable).then(|| {
                let kind = if f.kind == Kind::Url { "url" } else { "text" };
                let input = Input::new(f.name, f.label, kind, "off", view.errors).value(value);
                match f.kind {
                    Kind::Url => input.optional().length(None, 2048),
                    Kind::Text if f.name == "mail_from_name" => input.optional().length(None, 64),
                    Kind::Text => input.length(None, 64),
                    _ => input.length(None, 16),
                }
            });
            Row {
                name: f.name,
                label: f.label,
                explanation: f.explanation,
                value: shown(f.name, value),
                default: shown(f.name, &view.defaults.value_of(f.name)),
                flag,
                checked: flag && value == "true",
                input,
                error: view.errors.get(f.name).map(String::as_str),
            }
        })
        .collect();
    let history = view
        .history
        .iter()
        .map(|line| HistoryRow {
            version: line.version,
            when: when(Some(line.saved_at)),
            who: line.saved_by.clone(),
            changes: crate::domain::settings::describe_changes(&line.changes),
        })
        .collect();
    let saved = match view.saved {
        Some((who, at)) => format!("Version {}, saved by {who} on {}.", view.version, when(Some(at))),
        None => "No one has changed them yet: these are the stack's parameters (version 0).".to_owned(),
    };
    let page = SettingsPage {
        notice: view.notice,
        conflict: view.conflict,
        problem: (!view.errors.is_empty()).then_some("Nothing was saved: see the reasons beside the fields."),
        version: view.version,
        saved,
        editable: view.editable,
        rows,
        confirm: if view.editable { confirm_field(view.confirm, view.errors) } else { None },
        history,
    };
    Page { wide: true, ..Page::new("Site settings", &page) }
}

#[derive(Template)]
#[template(path = "console/settings_restore.html")]
struct Restore<'a> {
    version: u64,
    restore: u64,
    changes: String,
    confirm: Option<ConfirmField<'a>>,
}

/// "Restore" on a kept version: what it brings back, and the confirmation.
pub fn settings_restore(
    version: u64,
    restore: u64,
    changes: &[(&'static str, String, String)],
    confirm: Option<AskFor>,
    errors: &FieldErrors,
) -> Page {
    let changes = crate::domain::settings::describe_changes(changes);
    let page = Restore { version, restore, changes, confirm: confirm_field(confirm, errors) };
    Page { wide: true, ..Page::new("Restore site settings", &page) }
}
