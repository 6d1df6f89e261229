//! The documents hold together: every relative link in `README.md`, `CHANGELOG.md` and
//! `docs/*.md` reaches a file, and a heading when it names one (as GitHub makes a heading's
//! anchor); the README stays a front door (under 300 lines) that links every guide in `docs/`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The README, the changelog and every Markdown file directly in `docs/`.
fn documents(root: &Path) -> Vec<PathBuf> {
    let mut files = vec![root.join("README.md"), root.join("CHANGELOG.md")];
    let mut guides: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ is readable")
        .map(|entry| entry.expect("a docs/ entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    guides.sort();
    files.extend(guides);
    files
}

/// The text with fenced code blocks and inline code spans blanked out, so that a `[x](y)` shown
/// as code is not taken for a link.
fn prose(markdown: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            out.push('\n');
            continue;
        }
        if fenced {
            out.push('\n');
            continue;
        }
        let mut in_code = false;
        for c in line.chars() {
            if c == '`' {
                in_code = !in_code;
            }
            out.push(if in_code || c == '`' { ' ' } else { c });
        }
        out.push('\n');
    }
    out
}

/// The targets of `[text](target)` and `![alt](target)` links, in order.
fn link_targets(markdown: &str) -> Vec<String> {
    let text = prose(markdown);
    let mut targets = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        match after.find(')') {
            Some(end) => {
                targets.push(after[..end].trim().to_string());
                rest = &after[end..];
            }
            None => break,
        }
    }
    targets
}

/// The anchor GitHub gives a heading: lower case, characters other than letters, digits,
/// spaces, `-` and `_` dropped, spaces made `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Every anchor of a document's headings (a repeated heading gets `-1`, `-2`, as on GitHub).
fn anchors(markdown: &str) -> HashSet<String> {
    let mut seen = HashSet::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced || !line.starts_with('#') {
            continue;
        }
        let heading = line.trim_start_matches('#');
        if !heading.starts_with(' ') {
            continue;
        }
        let base = slug(heading);
        let mut anchor = base.clone();
        let mut n = 0;
        while seen.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        seen.insert(anchor);
    }
    seen
}

/// The broken relative links of the document at `file` (whose text is `markdown`), each
/// described for a failure message.
fn broken_links(file: &Path, markdown: &str) -> Vec<String> {
    let dir = file.parent().expect("a document has a folder");
    let mut broken = Vec::new();
    for target in link_targets(markdown) {
        if target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        let (path, anchor) = match target.split_once('#') {
            Some((path, anchor)) => (path, Some(anchor)),
            None => (target.as_str(), None),
        };
        let text = if path.is_empty() {
            markdown.to_string()
        } else {
            let resolved = dir.join(path);
            if !resolved.exists() {
                broken.push(format!("{}: {target}: no such file", file.display()));
                continue;
            }
            if anchor.is_none() || resolved.extension().is_none_or(|ext| ext != "md") {
                continue;
            }
            std::fs::read_to_string(&resolved).expect("a linked document is readable")
        };
        if let Some(anchor) = anchor {
            if !anchors(&text).contains(anchor) {
                broken.push(format!("{}: {target}: no such heading", file.display()));
            }
        }
    }
    broken
}

#[test]
fn every_relative_link_in_the_documents_resolves() {
    let root = root();
    let mut broken = Vec::new();
    let mut links = 0;
    for file in documents(&root) {
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        links += link_targets(&text).len();
        broken.extend(broken_links(&file, &text));
    }
    assert!(links > 100, "only {links} links found: the link reader is broken");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_readme_is_a_front_door_that_links_every_guide() {
    let root = root();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let lines = readme.lines().count();
    assert!(lines < 300, "README.md has {lines} lines; a guide in docs/ is the place for more");
    let linked: HashSet<String> =
        link_targets(&readme).into_iter().map(|t| t.split('#').next().unwrap_or("").to_string()).collect();
    let guides: Vec<PathBuf> =
        documents(&root).into_iter().filter(|path| path.starts_with(root.join("docs"))).collect();
    assert!(guides.len() >= 8, "docs/ holds {} guides", guides.len());
    for guide in guides {
        let name = guide.file_name().and_then(|n| n.to_str()).expect("a guide's name");
        let link = format!("docs/{name}");
        assert!(linked.contains(&link), "README.md does not link {link}");
    }
}

#[test]
fn the_link_check_finds_a_missing_file_and_a_missing_heading() {
    let root = root();
    let file = root.join("docs").join("example.md");
    let markdown = "# A title\n\n## Second part, (with) `code`\n\n[ok](#a-title) [ok](#second-part-with-code) \
                    [gone](missing.md) [no heading](#nowhere) [readme](../README.md#the-two-commands) \
                    `[shown](not-a-link.md)` [web](https://example.org/x)\n\n```\n[in a block](nor-this.md)\n```\n";
    let broken = broken_links(&file, markdown);
    assert_eq!(broken.len(), 2, "{broken:?}");
    assert!(broken[0].ends_with("missing.md: no such file"), "{broken:?}");
    assert!(broken[1].ends_with("#nowhere: no such heading"), "{broken:?}");
    assert_eq!(slug("The console (`/operator`)"), "the-console-operator");
    assert_eq!(slug("Quick start, against `make dev`"), "quick-start-against-make-dev");
    assert_eq!(slug("1. The sender (SES)"), "1-the-sender-ses");
}
