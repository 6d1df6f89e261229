//! Deletion lists longer than one check: `learnerctl delete` first asks the API what a list
//! would do (`POST /admin/v1/deletions?dry_run=true`), a request that takes at most 5.9 MB and
//! 10,000 addresses, so a longer list is checked in parts and the answers summed. (The deletion
//! itself, like every real run, sends the file whole by upload: see `upload`.) A part is whole
//! records of the original (cut where the `csv` crate says a record ends, never inside a
//! quoted field) behind the original header, so the API reads every row exactly as it would
//! have read it in the whole file; a list of one address a line goes as JSON lists. A list
//! within the limits is checked as it is, byte for byte.
//!
//! Row numbers: the API numbers a part's rows as it numbers a file's (a CSV's header is row 1;
//! a JSON list's first address is row 1). The original's row is the part's row plus the rows
//! of the parts before it (`offsets`), which is also how `job` and `report` read the jobs of a
//! file an older learnerctl sent in parts.

use crate::commands::UsageError;

/// The API's limits (`learners::flows::bulk::MAX_UPLOAD_BYTES`, `flows::removal::MAX_EMAILS`;
/// a unit test holds them equal).
pub const MAX_UPLOAD_BYTES: usize = 5_900_000;
pub const MAX_EMAILS: usize = 10_000;

/// The limits of one check (a dry run). The variables exist for the tests, which split small files;
/// they are not in `--help`, and can only lower a limit (above the API's it would only earn a
/// refusal).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub upload_bytes: usize,
    pub emails: usize,
}

impl Limits {
    pub fn from_env() -> Result<Self, UsageError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, UsageError> {
        let read = |name: &str, max: usize| match lookup(name).filter(|v| !v.is_empty()) {
            None => Ok(max),
            Some(value) => match value.parse::<usize>() {
                Ok(n) if n > 0 => Ok(n.min(max)),
                _ => Err(UsageError(format!("{name} must be a positive whole number, got {value:?}"))),
            },
        };
        Ok(Self {
            upload_bytes: read("LEARNERCTL_MAX_UPLOAD_BYTES", MAX_UPLOAD_BYTES)?,
            emails: read("LEARNERCTL_MAX_EMAILS", MAX_EMAILS)?,
        })
    }

    /// "5.9 MB", as the API says it; a lowered limit in bytes.
    pub fn upload_size(&self) -> String {
        if self.upload_bytes >= 1_000_000 && self.upload_bytes.is_multiple_of(100_000) {
            format!("{:.1} MB", self.upload_bytes as f64 / 1_000_000.0)
        } else {
            format!("{} bytes", self.upload_bytes)
        }
    }
}

/// One upload.
#[derive(Debug, PartialEq, Eq)]
pub struct Part {
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// Rows in it (records after the header, or addresses).
    pub rows: u64,
}

/// A deletion list: itself when it fits; else, as the API reads it, either a CSV file (parts
/// with the header repeated) or one address a line (parts as JSON lists, so that the API never
/// takes a part whose first line is not an address for a CSV header).
pub fn deletion_file(bytes: &[u8], limits: Limits) -> Result<Vec<Part>, UsageError> {
    let as_is = || Ok(vec![Part { content_type: "text/csv", body: bytes.to_vec(), rows: 0 }]);
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    // Not text: the API refuses it whole, and says why.
    let Ok(text) = std::str::from_utf8(text) else { return as_is() };
    let first = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default();
    if !looks_like_an_address(first) {
        if bytes.len() <= limits.upload_bytes && csv_rows(text.as_bytes()) <= limits.emails {
            return as_is();
        }
        return csv_parts(bytes, limits.upload_bytes, limits.emails);
    }
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if bytes.len() <= limits.upload_bytes && lines.len() <= limits.emails {
        return as_is();
    }
    let mut parts = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    // `{"emails":[]}` and, per address, its quotes and comma (escapes aside, counted below).
    let mut size = 13;
    for line in lines {
        let cost = serde_json::to_string(line).map(|s| s.len() + 1).unwrap_or(line.len() + 3);
        if !current.is_empty() && (current.len() == limits.emails || size + cost > limits.upload_bytes) {
            parts.push(json_part(&current));
            current.clear();
            size = 13;
        }
        current.push(line);
        size += cost;
    }
    if !current.is_empty() {
        parts.push(json_part(&current));
    }
    Ok(parts)
}

/// The API's test is `Email::parse`; this one only has to tell a list of addresses from a CSV
/// header (`email`, `mail,name`...), which never has an `@` alone between two words. Where
/// they differ (a long list whose first line is a malformed address, `ada@example`), the parts
/// read it as a list and report that row as failed; the API, given the file whole, would
/// refuse it as a CSV without an `email` column.
fn looks_like_an_address(line: &str) -> bool {
    let mut halves = line.split('@');
    let (Some(local), Some(domain), None) = (halves.next(), halves.next(), halves.next()) else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !line.chars().any(|c| c.is_whitespace() || c.is_control() || c == ',' || c == '"')
}

fn json_part(emails: &[&str]) -> Part {
    Part {
        content_type: "application/json",
        body: serde_json::json!({ "emails": emails }).to_string().into_bytes(),
        rows: emails.len() as u64,
    }
}

fn reader(bytes: &[u8]) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(bytes)
}

/// Records after the header, as the API counts them.
fn csv_rows(bytes: &[u8]) -> usize {
    let mut reader = reader(bytes);
    let mut record = csv::ByteRecord::new();
    let mut rows = 0;
    while reader.read_byte_record(&mut record).unwrap_or(true) {
        rows += 1;
    }
    rows
}

/// Cuts after whole records, where the reader's position says one ends: each part is the
/// original header's bytes and a run of the original records' bytes, at most `max_bytes` and
/// `max_rows` rows.
fn csv_parts(bytes: &[u8], max_bytes: usize, max_rows: usize) -> Result<Vec<Part>, UsageError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = reader(bytes);
    let mut record = csv::ByteRecord::new();
    if reader.byte_headers().is_err() {
        // No header to repeat: sent whole, the API says what is wrong with it.
        return Ok(vec![Part { content_type: "text/csv", body: bytes.to_vec(), rows: 0 }]);
    }
    let mut header = bytes[..reader.position().byte() as usize].to_vec();
    if !header.ends_with(b"\n") && !header.ends_with(b"\r") {
        header.push(b'\n');
    }
    let mut parts = Vec::new();
    let mut start = reader.position().byte() as usize;
    let (mut end, mut rows, mut row) = (start, 0, 1);
    // A read error is a row too (the API reports it as `malformed_row`); the reader moves on.
    while reader.read_byte_record(&mut record).unwrap_or(true) {
        row += 1;
        let next = reader.position().byte() as usize;
        if header.len() + (next - end) > max_bytes {
            return Err(UsageError(format!(
                "row {row} alone is larger than one check ({max_bytes} bytes with the header)"
            )));
        }
        if rows > 0 && (rows == max_rows || header.len() + (next - start) > max_bytes) {
            parts.push(csv_part(&header, &bytes[start..end], rows as u64));
            (start, rows) = (end, 0);
        }
        end = next;
        rows += 1;
    }
    if rows > 0 {
        parts.push(csv_part(&header, &bytes[start..end], rows as u64));
    }
    if parts.is_empty() {
        return Ok(vec![Part { content_type: "text/csv", body: bytes.to_vec(), rows: 0 }]);
    }
    Ok(parts)
}

fn csv_part(header: &[u8], records: &[u8], rows: u64) -> Part {
    let mut body = header.to_vec();
    body.extend_from_slice(records);
    Part { content_type: "text/csv", body, rows }
}

/// Where each part's rows start in the original: the rows of the parts before it.
pub fn offsets(rows: impl IntoIterator<Item = u64>) -> Vec<u64> {
    let mut before = 0;
    rows.into_iter()
        .map(|n| {
            let offset = before;
            before += n;
            offset
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn limits(upload_bytes: usize, emails: usize) -> Limits {
        Limits { upload_bytes, emails }
    }

    fn records(bytes: &[u8]) -> Vec<csv::ByteRecord> {
        reader(bytes).byte_records().map(|r| r.unwrap()).collect()
    }

    #[test]
    fn the_limits_are_the_apis() {
        assert_eq!(MAX_UPLOAD_BYTES, learners::flows::bulk::MAX_UPLOAD_BYTES);
        assert_eq!(MAX_EMAILS, learners::flows::removal::MAX_EMAILS);
    }

    #[test]
    fn the_variables_only_lower_the_limits() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            Limits::from_lookup(move |name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string()))
        };
        let lowered = env(&[("LEARNERCTL_MAX_UPLOAD_BYTES", "300"), ("LEARNERCTL_MAX_EMAILS", "3")]).unwrap();
        assert_eq!((lowered.upload_bytes, lowered.emails), (300, 3));
        let raised = env(&[("LEARNERCTL_MAX_UPLOAD_BYTES", "99999999999")]).unwrap();
        assert_eq!((raised.upload_bytes, raised.emails), (MAX_UPLOAD_BYTES, MAX_EMAILS));
        assert_eq!(raised.upload_size(), "5.9 MB");
        let bad = env(&[("LEARNERCTL_MAX_EMAILS", "0")]).unwrap_err();
        assert!(bad.0.contains("LEARNERCTL_MAX_EMAILS"), "{bad}");
    }

    #[test]
    fn a_list_within_the_limits_is_checked_as_it_is() {
        let file = b"\xEF\xBB\xBFname,email\r\nA,a@x.org\r\n";
        let parts = deletion_file(file, limits(1000, 10)).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].body, file);
    }

    #[test]
    fn a_quoted_field_with_line_breaks_is_never_cut() {
        let file = "name,email\n\"A\nwith, two\nlines\",a@x.org\nB,b@x.org\n\"C \"\"q\"\"\",c@x.org\n";
        let parts = deletion_file(file.as_bytes(), limits(40, 10)).unwrap();
        assert_eq!(parts.len(), 2, "{parts:?}");
        for part in &parts {
            assert!(part.body.starts_with(b"name,email\n"));
            assert!(part.body.len() <= 40);
            assert_eq!(records(&part.body).len() as u64, part.rows);
        }
        let names: Vec<Vec<u8>> =
            parts.iter().flat_map(|p| records(&p.body)).map(|r| r.get(0).unwrap().to_vec()).collect();
        assert_eq!(names, [b"A\nwith, two\nlines".to_vec(), b"B".to_vec(), b"C \"q\"".to_vec()]);
    }

    #[test]
    fn a_row_larger_than_a_check_is_refused_by_name() {
        let file = format!("name,email\nA,a@x.org\n{},b@x.org\n", "B".repeat(100));
        let error = deletion_file(file.as_bytes(), limits(60, 10)).unwrap_err();
        assert!(error.0.starts_with("row 3 alone"), "{error}");
    }

    #[test]
    fn a_long_list_of_lines_becomes_json_lists() {
        let file = "a@x.org\n\n  b@x.org \nnot an address\nc@x.org\n";
        let parts = deletion_file(file.as_bytes(), limits(1000, 2)).unwrap();
        let lists: Vec<serde_json::Value> = parts
            .iter()
            .map(|p| serde_json::from_slice::<serde_json::Value>(&p.body).unwrap()["emails"].clone())
            .collect();
        assert_eq!(
            lists,
            [serde_json::json!(["a@x.org", "b@x.org"]), serde_json::json!(["not an address", "c@x.org"])]
        );
        assert!(parts.iter().all(|p| p.content_type == "application/json" && p.rows == 2));
        assert_eq!(deletion_file(file.as_bytes(), limits(1000, 4)).unwrap()[0].body, file.as_bytes());
    }

    #[test]
    fn a_long_csv_list_keeps_its_header_in_every_part() {
        let file = "name,email\nA,a@x.org\nB,b@x.org\nC,c@x.org\n";
        let parts = deletion_file(file.as_bytes(), limits(1000, 2)).unwrap();
        let bodies: Vec<&[u8]> = parts.iter().map(|p| p.body.as_slice()).collect();
        assert_eq!(bodies, [b"name,email\nA,a@x.org\nB,b@x.org\n".as_slice(), b"name,email\nC,c@x.org\n"]);
        assert_eq!(offsets(parts.iter().map(|p| p.rows)), [0, 2]);
    }

    proptest! {
        /// Whatever the file and the limit, the parts read back to the original's records, in
        /// order, each part within the limit and behind the original header.
        #[test]
        fn parts_read_back_to_the_original_records(
            cells in prop::collection::vec(prop::collection::vec("[a-c,\"\n\r ]{0,6}", 1..4), 0..12),
            limit in 40usize..120,
        ) {
            let mut writer = csv::WriterBuilder::new().flexible(true).from_writer(Vec::new());
            writer.write_record(["email", "username", "name"]).unwrap();
            for row in &cells {
                writer.write_record(row).unwrap();
            }
            let file = writer.into_inner().unwrap();
            let original = records(&file);
            match csv_parts(&file, limit, usize::MAX) {
                Ok(parts) => {
                    let mut read = Vec::new();
                    for part in &parts {
                        prop_assert!(part.body.starts_with(b"email,username,name\n"));
                        let got = records(&part.body);
                        if parts.len() > 1 {
                            prop_assert!(part.body.len() <= limit);
                            prop_assert_eq!(got.len() as u64, part.rows);
                        }
                        read.extend(got);
                    }
                    prop_assert_eq!(read, original);
                }
                Err(e) => prop_assert!(e.0.contains("alone is larger")),
            }
        }
    }
}
