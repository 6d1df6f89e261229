//! Files as spreadsheets write them: the one set of rules by which a bulk registration file
//! and a deletion list are read, wherever they come from (the console's file field, the API's
//! `text/csv` body, `learnerctl`), over any `Read` (a body in memory, an object streamed).
//!
//! - Encoding: UTF-8, with or without a byte-order mark (Excel's "CSV UTF-8" writes one).
//!   UTF-16 with a byte-order mark (Excel's "Unicode text", LibreOffice's "Unicode") is decoded
//!   as it streams; UTF-16 without one cannot be told apart from binary data with certainty and
//!   is refused with "save it as CSV UTF-8".
//! - Separator: `,`, `;` (spreadsheets in locales whose decimal mark is a comma) or a tab
//!   ("Unicode text"), whichever the header line holds most of outside quotes; a file read with
//!   another separator than `,` says so in its notes.
//! - Columns: the header names them (case and spaces around them do not matter). A required
//!   column missing, or any known column named twice, refuses the file; other columns are read
//!   past, with a note naming them (a spreadsheet's "notes" or "cohort" column is no reason to
//!   refuse a file).
//! - Problems are said as a person reads the file in a spreadsheet: by row (the header is the
//!   first) and by column name. A quote that opens a cell and is never closed swallows the rest of
//!   the file into that cell: the file is refused, naming the row and column where it opened.

use std::collections::HashMap;
use std::io::{BufRead, Read};

/// The longest header line looked at for the separator (a longer one is parsed as it is).
const HEADER_SNIFF: usize = 4 * 1024 * 1024;

/// Why a whole file was refused, in the words the operator reads.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FileError {
    #[error("The file is empty: its first row must name the columns.")]
    Empty,
    #[error(
        "The file looks like UTF-16 text without a byte-order mark. Save it as UTF-8 (in a spreadsheet: \
         Save As, \"CSV UTF-8\") and send it again."
    )]
    Utf16WithoutBom,
    #[error(
        "Row {row}: the quote (\") that opens the {column} cell is not closed, so the rest of the file was read \
         into that cell. Close the quote (or remove it) and send the file again."
    )]
    UnclosedQuote { row: u64, column: String },
    #[error("{0}")]
    Columns(String),
    #[error(
        "Row {row}, column {column}: the text is not UTF-8. Save the file as UTF-8 (\"CSV UTF-8\") and send it again."
    )]
    NotUtf8 { row: u64, column: String },
    #[error("Row {row}: the text is not UTF-8. Save the file as UTF-8 (\"CSV UTF-8\") and send it again.")]
    NotUtf8Line { row: u64 },
    #[error("The file could not be read: {0}")]
    Read(String),
}

/// A file decoded to UTF-8 and its first line read: what comes next is either its lines or
/// its CSV records.
pub struct Opened<'r> {
    first_line: Vec<u8>,
    rest: Box<dyn Read + Send + 'r>,
    notes: Vec<String>,
}

/// Decodes `input` (see the module doc) and reads its first line.
pub fn open<'r>(input: impl Read + Send + 'r) -> Result<Opened<'r>, FileError> {
    let (text, notes) = decoded(input)?;
    let mut text = std::io::BufReader::new(text);
    let mut first_line = Vec::new();
    (&mut text)
        .take(HEADER_SNIFF as u64)
        .read_until(b'\n', &mut first_line)
        .map_err(|e| FileError::Read(e.to_string()))?;
    Ok(Opened { first_line, rest: Box::new(text), notes })
}

impl<'r> Opened<'r> {
    /// The first line, without its line end.
    pub fn first_line(&self) -> &[u8] {
        let line = self.first_line.strip_suffix(b"\n").unwrap_or(&self.first_line);
        line.strip_suffix(b"\r").unwrap_or(line)
    }

    /// The whole text as lines (a list of addresses, one a line).
    pub fn into_lines(self) -> (impl Iterator<Item = std::io::Result<String>> + 'r, Vec<String>) {
        let text = std::io::Cursor::new(self.first_line).chain(self.rest);
        (std::io::BufReader::new(text).lines(), self.notes)
    }

    /// The text as CSV: the separator taken from the first line, which is the header.
    pub fn into_sheet(self) -> Result<Sheet<'r>, FileError> {
        if self.first_line().iter().all(u8::is_ascii_whitespace) {
            return Err(FileError::Empty);
        }
        let separator = separator_of(self.first_line());
        let mut notes = self.notes;
        match separator {
            b';' => notes.push("The file is separated by semicolons (;); it was read so.".to_owned()),
            b'\t' => notes.push("The file is separated by tabs; it was read so.".to_owned()),
            _ => {}
        }
        let text: Box<dyn Read + Send + 'r> = Box::new(std::io::Cursor::new(self.first_line).chain(self.rest));
        let tracked = Tracked { inner: text, quoting: Quoting::new(separator) };
        let mut reader =
            csv::ReaderBuilder::new().has_headers(true).flexible(true).delimiter(separator).from_reader(tracked);
        let header = reader.byte_headers().map_err(|e| FileError::Read(e.to_string()))?.clone();
        if header.iter().all(|h| h.iter().all(u8::is_ascii_whitespace)) {
            return Err(FileError::Empty);
        }
        let names = header.iter().map(|h| String::from_utf8_lossy(h).trim().to_ascii_lowercase()).collect();
        let mut sheet = Sheet { reader, names, records: 0, notes, peeked: None };
        sheet.check_quotes(0)?;
        Ok(sheet)
    }
}

/// A whole file as UTF-8 text (the console sends a checked file back in a form field), and
/// what was done to read it; text that is not UTF-8 is refused, naming its line.
pub fn decode_whole(bytes: &[u8]) -> Result<(String, Vec<String>), FileError> {
    let (mut text, notes) = decoded(bytes)?;
    let mut out = Vec::with_capacity(bytes.len());
    text.read_to_end(&mut out).map_err(|e| FileError::Read(e.to_string()))?;
    match String::from_utf8(out) {
        Ok(text) => Ok((text, notes)),
        Err(e) => {
            let before = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            Err(FileError::NotUtf8Line { row: before.iter().filter(|b| **b == b'\n').count() as u64 + 1 })
        }
    }
}

/// `input` as UTF-8 text, and what was done to read it.
fn decoded<'r>(mut input: impl Read + Send + 'r) -> Result<(Box<dyn Read + Send + 'r>, Vec<String>), FileError> {
    let mut head = [0u8; 4];
    let mut got = 0;
    while got < head.len() {
        match input.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(FileError::Read(e.to_string())),
        }
    }
    let head = &head[..got];
    let again = |skip: usize| std::io::Cursor::new(head[skip..].to_vec()).chain(input);
    if head.starts_with(b"\xEF\xBB\xBF") {
        return Ok((Box::new(again(3)), Vec::new()));
    }
    let utf16 = || vec!["The file is UTF-16 text; it was read as such.".to_owned()];
    if head.starts_with(b"\xFF\xFE") {
        return Ok((Box::new(Utf16::new(again(2), false)), utf16()));
    }
    if head.starts_with(b"\xFE\xFF") {
        return Ok((Box::new(Utf16::new(again(2), true)), utf16()));
    }
    // "em" as UTF-16 without a mark: a zero byte beside each letter.
    if head.len() == 4
        && ((head[1] == 0 && head[3] == 0 && head[0] != 0) || (head[0] == 0 && head[2] == 0 && head[1] != 0))
    {
        return Err(FileError::Utf16WithoutBom);
    }
    Ok((Box::new(again(0)), Vec::new()))
}

/// The separator a header line uses: the most frequent of `,`, `;` and tab outside quotes
/// (a comma when it holds none: a file of one column).
pub fn separator_of(line: &[u8]) -> u8 {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for &b in line {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let candidates = [b',', b';', b'\t'];
    let (best, most) = counts.iter().enumerate().max_by_key(|(i, n)| (**n, std::cmp::Reverse(*i))).unwrap_or((0, &0));
    if *most == 0 {
        b','
    } else {
        candidates[best]
    }
}

/// A CSV file's records, numbered as a spreadsheet shows them (the header is row 1).
pub struct Sheet<'r> {
    reader: csv::Reader<Tracked<Box<dyn Read + Send + 'r>>>,
    /// The header's names, trimmed and lowercased.
    names: Vec<String>,
    records: u64,
    notes: Vec<String>,
    /// A record read ahead to learn whether the one before it was the last.
    peeked: Option<csv::ByteRecord>,
}

/// Where a file's columns are.
#[derive(Debug)]
pub struct Columns {
    positions: HashMap<&'static str, usize>,
}

impl Columns {
    /// The position of a known column the file has.
    pub fn at(&self, name: &str) -> Option<usize> {
        self.positions.get(name).copied()
    }
}

impl<'r> Sheet<'r> {
    /// The header's names (trimmed, lowercased), as the file has them.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Finds the `required` and `optional` columns. A required one missing, or a known one
    /// repeated, refuses the file (`expected` says what the header should name); the others
    /// are noted as not read.
    pub fn columns(
        &mut self,
        required: &[&'static str],
        optional: &[&'static str],
        expected: &str,
    ) -> Result<Columns, FileError> {
        let known = |name: &str| required.iter().chain(optional).find(|k| **k == name).copied();
        let mut positions = HashMap::new();
        let mut repeated: Vec<&str> = Vec::new();
        let mut ignored: Vec<&str> = Vec::new();
        for (i, name) in self.names.iter().enumerate() {
            match known(name) {
                Some(k) => {
                    if positions.insert(k, i).is_some() && !repeated.contains(&k) {
                        repeated.push(k);
                    }
                }
                None if name.is_empty() => {}
                None => ignored.push(name),
            }
        }
        let missing: Vec<&str> = required.iter().copied().filter(|k| !positions.contains_key(k)).collect();
        let mut problems = Vec::new();
        if !missing.is_empty() {
            problems.push(format!("it has no {} column", words(&missing)));
        }
        if !repeated.is_empty() {
            repeated.sort_unstable();
            problems.push(format!("it names the {} column more than once", words(&repeated)));
        }
        if !problems.is_empty() {
            return Err(FileError::Columns(format!(
                "The first row must name the columns {expected}: {}.",
                problems.join(", and ")
            )));
        }
        if !ignored.is_empty() {
            const SHOWN: usize = 10;
            let more = ignored.len().saturating_sub(SHOWN);
            let mut list = ignored.iter().take(SHOWN).copied().collect::<Vec<_>>().join(", ");
            if more > 0 {
                list.push_str(&format!(" and {more} more"));
            }
            let which = if ignored.len() == 1 { "This column was" } else { "These columns were" };
            self.notes.push(format!("{which} not read (only {expected} are): {list}."));
        }
        Ok(Columns { positions })
    }

    /// The next record, and its row; `None` at the end.
    pub fn next(&mut self, record: &mut csv::ByteRecord) -> Result<Option<u64>, FileError> {
        if let Some(peeked) = self.peeked.take() {
            *record = peeked;
        } else if !self.reader.read_byte_record(record).map_err(|e| FileError::Read(e.to_string()))? {
            return Ok(None);
        }
        self.records += 1;
        self.check_quotes(self.records + 1)?;
        Ok(Some(self.records + 1))
    }

    /// What was done to read the file (its encoding, separator, columns not read).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    pub fn into_notes(self) -> Vec<String> {
        self.notes
    }

    /// A field as text, or the row and column that is not UTF-8.
    pub fn text<'a>(&self, row: u64, record: &'a csv::ByteRecord, i: usize) -> Result<&'a str, FileError> {
        std::str::from_utf8(record.get(i).unwrap_or_default())
            .map_err(|_| FileError::NotUtf8 { row, column: self.column_name(i) })
    }

    fn column_name(&self, i: usize) -> String {
        match self.names.get(i) {
            Some(name) if !name.is_empty() => name.clone(),
            _ => format!("number {}", i + 1),
        }
    }

    /// Refuses the file when it ended inside a quoted cell (the csv crate ends the record
    /// there without a word).
    /// `row`: the record just read (1: the header). The text may have been read past it: only
    /// when no record follows is it the one the open quote swallowed the rest into.
    fn check_quotes(&mut self, row: u64) -> Result<(), FileError> {
        let quoting = &self.reader.get_ref().quoting;
        if !(quoting.ended && quoting.state == State::Quoted) || self.peeked.is_some() {
            return Ok(());
        }
        let opened_in = quoting.opened_in;
        let mut next = csv::ByteRecord::new();
        if self.reader.read_byte_record(&mut next).map_err(|e| FileError::Read(e.to_string()))? {
            self.peeked = Some(next);
            return Ok(());
        }
        Err(FileError::UnclosedQuote { row, column: self.column_name(opened_in) })
    }
}

/// "email, username and name".
fn words(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Where the text is in CSV's quoting, as csv-core reads it: a quote opens a cell only at the
/// cell's start; `""` inside is a quote; a quote followed by anything else closes it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    CellStart,
    Unquoted,
    Quoted,
    QuoteInQuoted,
}

struct Quoting {
    separator: u8,
    state: State,
    /// The cell's column in the record.
    cell: usize,
    /// The column of the last quote that opened a cell.
    opened_in: usize,
    /// The text has no more bytes.
    ended: bool,
}

impl Quoting {
    fn new(separator: u8) -> Self {
        Self { separator, state: State::CellStart, cell: 0, opened_in: 0, ended: false }
    }

    fn see(&mut self, bytes: &[u8]) {
        let (mut state, mut cell) = (self.state, self.cell);
        for &b in bytes {
            let end_of_cell = b == self.separator;
            let end_of_record = b == b'\n' || b == b'\r';
            state = match (state, b) {
                (State::Quoted, b'"') => State::QuoteInQuoted,
                (State::Quoted, _) => State::Quoted,
                (State::QuoteInQuoted, b'"') => State::Quoted,
                (State::CellStart, b'"') => {
                    self.opened_in = cell;
                    State::Quoted
                }
                _ if end_of_cell => {
                    cell += 1;
                    State::CellStart
                }
                _ if end_of_record => {
                    cell = 0;
                    State::CellStart
                }
                _ => State::Unquoted,
            };
        }
        self.state = state;
        self.cell = cell;
    }
}

/// A reader that keeps `Quoting` up to date with what passes through it.
struct Tracked<R> {
    inner: R,
    quoting: Quoting,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.quoting.ended = true;
        }
        self.quoting.see(&buf[..n]);
        Ok(n)
    }
}

/// UTF-16 (after its byte-order mark) as UTF-8, decoded as it is read; a lone surrogate
/// becomes U+FFFD, as a spreadsheet shows it.
struct Utf16<R> {
    inner: R,
    big_endian: bool,
    /// Decoded bytes not yet handed out.
    out: Vec<u8>,
    at: usize,
    /// An odd byte, or a high surrogate, waiting for the rest of its character.
    odd: Option<u8>,
    high: Option<u16>,
    done: bool,
}

impl<R: Read> Utf16<R> {
    fn new(inner: R, big_endian: bool) -> Self {
        Self { inner, big_endian, out: Vec::new(), at: 0, odd: None, high: None, done: false }
    }

    fn fill(&mut self) -> std::io::Result<()> {
        let mut raw = vec![0u8; 8192];
        let n = loop {
            match self.inner.read(&mut raw) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                other => break other?,
            }
        };
        self.out.clear();
        self.at = 0;
        if n == 0 {
            self.done = true;
            if self.odd.take().is_some() || self.high.take().is_some() {
                self.out.extend_from_slice("\u{FFFD}".as_bytes());
            }
            return Ok(());
        }
        let mut bytes: Vec<u8> = self.odd.take().into_iter().chain(raw[..n].iter().copied()).collect();
        if bytes.len() % 2 == 1 {
            self.odd = bytes.pop();
        }
        let mut units: Vec<u16> = self.high.take().into_iter().collect();
        units.extend(bytes.chunks_exact(2).map(|pair| {
            let pair = [pair[0], pair[1]];
            if self.big_endian {
                u16::from_be_bytes(pair)
            } else {
                u16::from_le_bytes(pair)
            }
        }));
        if let Some(&last) = units.last() {
            if (0xD800..0xDC00).contains(&last) {
                self.high = units.pop();
            }
        }
        let mut buf = [0u8; 4];
        for c in char::decode_utf16(units) {
            self.out.extend_from_slice(c.unwrap_or('\u{FFFD}').encode_utf8(&mut buf).as_bytes());
        }
        Ok(())
    }
}

impl<R: Read> Read for Utf16<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at >= self.out.len() {
            if self.done {
                return Ok(0);
            }
            self.fill()?;
        }
        let n = buf.len().min(self.out.len() - self.at);
        buf[..n].copy_from_slice(&self.out[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const REQUIRED: [&str; 3] = ["email", "username", "name"];
    const OPTIONAL: [&str; 1] = ["password"];
    const EXPECTED: &str = "email, username, name and optionally password";

    /// Every record of `bytes` as strings with its row, the notes, or the file's refusal.
    type Rows = (Vec<(u64, Vec<String>)>, Vec<String>);

    fn read(bytes: &[u8]) -> Result<Rows, FileError> {
        let mut sheet = open(bytes)?.into_sheet()?;
        let columns = sheet.columns(&REQUIRED, &OPTIONAL, EXPECTED)?;
        let mut rows = Vec::new();
        let mut record = csv::ByteRecord::new();
        while let Some(row) = sheet.next(&mut record)? {
            let email = sheet.text(row, &record, columns.at("email").unwrap_or(0))?.to_owned();
            let name = sheet.text(row, &record, columns.at("name").unwrap_or(0))?.to_owned();
            rows.push((row, vec![email, name]));
        }
        Ok((rows, sheet.into_notes()))
    }

    fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
        let mut bytes = if big_endian { vec![0xFE, 0xFF] } else { vec![0xFF, 0xFE] };
        for unit in text.encode_utf16() {
            bytes.extend(if big_endian { unit.to_be_bytes() } else { unit.to_le_bytes() });
        }
        bytes
    }

    const FILE: &str = "email,username,name\nada@example.org,ada,Ada Lovelace\n";

    fn ada() -> Vec<(u64, Vec<String>)> {
        vec![(2, vec!["ada@example.org".to_owned(), "Ada Lovelace".to_owned()])]
    }

    #[test]
    fn a_utf8_byte_order_mark_is_read_past() {
        let bytes = [b"\xEF\xBB\xBF".as_slice(), FILE.as_bytes()].concat();
        assert_eq!(read(&bytes).unwrap(), (ada(), vec![]));
    }

    #[test]
    fn utf16_with_a_byte_order_mark_is_decoded_and_said() {
        for big_endian in [false, true] {
            let (rows, notes) =
                read(&utf16("email\tusername\tname\r\nada@example.org\tada\tAda Lovelace\r\n", big_endian)).unwrap();
            assert_eq!(rows, ada());
            assert!(notes[0].contains("UTF-16"), "{notes:?}");
            assert!(notes[1].contains("tabs"), "{notes:?}");
        }
        // Beyond the first plane, split across reads: one character, whole.
        let (rows, _) =
            read(&utf16(&format!("email,username,name\nada@example.org,ada,{}\n", "𝔄da ".repeat(5000)), false))
                .unwrap();
        assert_eq!(rows[0].1[1], "𝔄da ".repeat(5000));
    }

    #[test]
    fn utf16_without_a_mark_is_refused_with_what_to_do() {
        let bytes: Vec<u8> = FILE.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let error = read(&bytes).unwrap_err();
        assert_eq!(error, FileError::Utf16WithoutBom);
        assert!(error.to_string().contains("Save it as UTF-8"));
    }

    #[test]
    fn semicolons_and_tabs_are_found_in_the_header() {
        let (rows, notes) = read(b"email;username;name\nada@example.org;ada;Ada Lovelace\n").unwrap();
        assert_eq!(rows, ada());
        assert_eq!(notes, vec!["The file is separated by semicolons (;); it was read so.".to_owned()]);
        // A comma inside a quoted cell of a semicolon file is text.
        let (rows, _) = read(b"email;username;name\nada@example.org;ada;\"Lovelace, Ada\"\n").unwrap();
        assert_eq!(rows[0].1[1], "Lovelace, Ada");
        assert_eq!(separator_of(b"email;username;\"name, full\""), b';');
        assert_eq!(separator_of(b"email"), b',');
        assert_eq!(separator_of(b"a\tb\tc"), b'\t');
    }

    #[test]
    fn extra_columns_are_read_past_and_named() {
        let (rows, notes) =
            read(b"Cohort,email,username,name,Notes,,\nB,ada@example.org,ada,Ada Lovelace,hi,,\n").unwrap();
        assert_eq!(rows, ada());
        assert_eq!(
            notes,
            vec![
                "These columns were not read (only email, username, name and optionally password are): cohort, notes."
                    .to_owned()
            ]
        );
    }

    #[test]
    fn a_missing_or_repeated_column_refuses_the_file_in_words() {
        let error = read(b"email,name\nada@example.org,Ada\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "The first row must name the columns email, username, name and optionally password: it has no username column."
        );
        let error = read(b"email,username,name,Email,Name\n").unwrap_err();
        assert!(error.to_string().ends_with("it names the email and name column more than once."), "{error}");
    }

    #[test]
    fn an_unclosed_quote_names_its_row_and_column() {
        let file =
            b"email,username,name\nada@example.org,ada,Ada\nbob@example.org,bob,\"Bob\nchen@example.org,chen,Chen\n";
        let error = read(file).unwrap_err();
        assert_eq!(error, FileError::UnclosedQuote { row: 3, column: "name".to_owned() });
        assert!(error.to_string().starts_with("Row 3: the quote (\") that opens the name cell is not closed"));
        // Closed quotes, doubled quotes inside, a quote inside an unquoted cell: all fine.
        let (rows, _) = read(b"email,username,name\nada@example.org,ada,\"Ada \"\"the\"\" first\nline two\"\nbob@example.org,bob,5\" disk\n").unwrap();
        assert_eq!(rows[0].1[1], "Ada \"the\" first\nline two");
        assert_eq!(rows[1], (3, vec!["bob@example.org".to_owned(), "5\" disk".to_owned()]));
    }

    #[test]
    fn text_that_is_not_utf8_names_its_row_and_column() {
        let error = read(b"email,username,name\nada@example.org,ada,Ren\xE9e\n").unwrap_err();
        assert_eq!(error, FileError::NotUtf8 { row: 2, column: "name".to_owned() });
    }

    #[test]
    fn a_whole_file_is_decoded_or_its_bad_line_named() {
        let (text, notes) = decode_whole(&utf16("email\nada@example.org\n", false)).unwrap();
        assert_eq!((text.as_str(), notes.len()), ("email\nada@example.org\n", 1));
        assert_eq!(decode_whole(b"\xEF\xBB\xBFemail\n").unwrap(), ("email\n".to_owned(), vec![]));
        assert_eq!(decode_whole(b"email\na@x\nRen\xE9e\n").unwrap_err(), FileError::NotUtf8Line { row: 3 });
    }

    #[test]
    fn an_empty_file_says_so() {
        assert_eq!(read(b"").unwrap_err(), FileError::Empty);
        assert_eq!(read(b"\xEF\xBB\xBF\r\n").unwrap_err(), FileError::Empty);
        assert_eq!(read(b"\xFF\xFE").unwrap_err(), FileError::Empty);
    }

    proptest! {
        /// Whatever the bytes, reading them ends (in rows or a refusal), never in a panic.
        #[test]
        fn any_bytes_are_read_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = read(&bytes);
            let mut file = b"email;username;name\n".to_vec();
            file.extend(&bytes);
            let _ = read(&file);
        }
    }
}
