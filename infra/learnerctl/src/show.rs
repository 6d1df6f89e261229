//! What people read: the API's answers as aligned, labelled text and small tables. (`--json`
//! prints the answers themselves, for programs.) Text that came from a file or an account
//! passes through `clean`, so a crafted cell cannot move the cursor or recolour a terminal.

use crate::jobs::Summary;
use serde_json::Value;

/// Control characters (escape sequences, line breaks) as spaces.
fn clean(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// A field as text: a string as it is, a number, or `missing` for null or absent.
fn field(value: &Value, missing: &str) -> String {
    match value {
        Value::String(s) => clean(s),
        Value::Null => missing.to_owned(),
        other => other.to_string(),
    }
}

/// `Label: value` lines, the values aligned; a value's further lines under its first.
pub fn labelled(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(label, _)| label.chars().count() + 1).max().unwrap_or(0);
    let mut out = String::new();
    for (label, value) in pairs {
        for (i, line) in value.split('\n').enumerate() {
            let label = if i == 0 { format!("{label}:") } else { String::new() };
            out.push_str(format!("{label:width$} {line}").trim_end());
            out.push('\n');
        }
    }
    out
}

/// Columns left-aligned, two spaces apart; the last one not padded.
pub fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut text = String::new();
        for (i, (cell, width)) in cells.into_iter().zip(&widths).enumerate() {
            if i == last {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:width$}  "));
            }
        }
        text.trim_end().to_owned() + "\n"
    };
    let mut out = line(head.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// An account (`GET /admin/v1/users?email=`).
pub fn user(user: &Value) -> String {
    let yes_no = |v: &Value| if v.as_bool() == Some(true) { "yes" } else { "no" }.to_owned();
    let refused = match &user["mail_refused"] {
        Value::Null => "no".to_owned(),
        refusal => format!(
            "{} from {} at {}",
            field(&refusal["kind"], "?"),
            field(&refusal["address"], "?"),
            field(&refusal["at"], "?")
        ),
    };
    labelled(&[
        ("Email", field(&user["email"], "")),
        ("Username", field(&user["username"], "")),
        ("Name", field(&user["name"], "")),
        ("User id", field(&user["user_id"], "")),
        ("Status", field(&user["status"], "")),
        ("Source", field(&user["source"], "")),
        ("Created", field(&user["created_at"], "")),
        ("Activated", field(&user["activated_at"], "not yet")),
        ("Failed sign-ins", field(&user["failed_logins"], "0")),
        ("Locked until", field(&user["locked_until"], "not locked")),
        (
            "Known devices",
            format!(
                "{}, with {} failed sign-ins",
                field(&user["known_devices"], "0"),
                field(&user["known_device_failed_logins"], "0")
            ),
        ),
        ("Operator", yes_no(&user["operator"])),
        ("Mail refused", refused),
    ])
}

/// One job, or the jobs of one split file as one: labelled counts, then the problem rows.
pub fn job(summary: &Summary) -> String {
    let ids = if summary.ids.len() == 1 { "Job" } else { "Jobs" };
    let mut pairs = vec![
        (ids, summary.ids.join("\n")),
        ("Kind", summary.kind.name().to_owned()),
        ("Status", summary.status.clone()),
    ];
    let rows = capitalised(summary.kind.rows());
    pairs.push((rows.as_str(), summary.total.to_string()));
    let words: Vec<String> = summary.kind.counts().iter().map(|(_, word)| capitalised(word)).collect();
    for (word, count) in words.iter().zip(summary.counts) {
        pairs.push((word, count.to_string()));
    }
    let mut out = labelled(&pairs);
    if !summary.problems.is_empty() {
        out.push('\n');
        out.push_str(&problems(&summary.problems));
    }
    out
}

/// The line a wait ends with: `Completed: 2 created, 0 skipped, 1 failed of 3 rows.`
pub fn completed(summary: &Summary) -> String {
    let counts: Vec<String> =
        summary.kind.counts().iter().zip(summary.counts).map(|((_, word), n)| format!("{n} {word}")).collect();
    let of = match summary.kind {
        crate::jobs::Kind::BulkRegistration => format!("{} rows", summary.total),
        crate::jobs::Kind::Deletion => summary.total.to_string(),
    };
    format!("Completed: {} of {of}.", counts.join(", "))
}

/// Problem rows (a job's, a dry run's) as a table.
pub fn problems(errors: &[Value]) -> String {
    let rows: Vec<Vec<String>> = errors
        .iter()
        .map(|e| ["row", "email", "result", "code", "message"].map(|k| field(&e[k], "")).to_vec())
        .collect();
    table(&["row", "email", "result", "code", "message"], &rows)
}

/// The operator actions on an account, newest first.
pub fn audit(answer: &Value) -> String {
    let entries = answer["entries"].as_array().cloned().unwrap_or_default();
    if entries.is_empty() {
        return "No operator action on this account.\n".to_owned();
    }
    let rows: Vec<Vec<String>> =
        entries.iter().map(|e| ["at", "action", "outcome", "operator"].map(|k| field(&e[k], "")).to_vec()).collect();
    table(&["at", "action", "outcome", "operator"], &rows)
}

/// The accounts with the operator role.
pub fn operators(answer: &Value) -> String {
    let operators = answer["operators"].as_array().cloned().unwrap_or_default();
    if operators.is_empty() {
        return "No account has the operator role.\n".to_owned();
    }
    let rows: Vec<Vec<String>> =
        operators.iter().map(|o| ["email", "username", "name"].map(|k| field(&o[k], "")).to_vec()).collect();
    table(&["email", "username", "name"], &rows)
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_columns_line_up() {
        let text = labelled(&[("Email", "a@x.org".into()), ("Failed sign-ins", "0".into()), ("Jobs", "a\nb".into())]);
        assert_eq!(text, "Email:           a@x.org\nFailed sign-ins: 0\nJobs:            a\n                 b\n");
        let rows = vec![vec!["4".into(), "failed".into(), "bad".into()], vec!["10".into(), "ok".into(), "".into()]];
        assert_eq!(table(&["row", "result", "message"], &rows), "row  result  message\n4    failed  bad\n10   ok\n");
    }

    #[test]
    fn a_cell_cannot_drive_the_terminal() {
        let problem = serde_json::json!({"row": 2, "email": "\u{1b}[2Jx@y.org\nrow 9", "code": "c", "message": "m"});
        let text = problems(&[problem]);
        assert!(!text.contains('\u{1b}') && text.lines().count() == 2, "{text:?}");
    }
}
