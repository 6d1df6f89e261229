//! The layering of the domain crate, held against a written table. Every `crate::` path in
//! `shared/src` (grouped imports `use crate::{a, b}` and inline paths included, `super::`
//! resolved) is an edge from the file's top module to another; an edge the table does not allow
//! fails, and so does a top module the table does not name. Test modules (`#[cfg(test)]`, at the
//! end of a file) are left out: a unit test may build an in-memory `App`.
//!
//! The shape: `domain` knows nothing; `ports` are traits over the domain; `app` is a plain
//! bundle of ports; `mail`, `jobs` and `flows` work through it (`flows → jobs`, never back);
//! `oidc` (the OpenID Connect provider's flows) may use the flows; `http` is request plumbing
//! and pages; `handlers` turn requests into flows and flows' results
//! into replies; `adapters` implement the ports; `wiring` alone names adapters, and nothing but
//! the binaries, the gateway, the bench and the tests reach it. Within the crate the file-level
//! graph has no cycle, and a handler imports no other handler.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top module → the top modules it may use.
const ALLOWED: &[(&str, &[&str])] = &[
    ("domain", &[]),
    ("telemetry", &[]),
    ("ports", &["domain"]),
    ("look", &["domain"]),
    ("metrics", &["domain"]),
    ("config", &["domain", "look", "ports"]),
    // `look`: the settings reader builds the site's look from the settings in force.
    ("app", &["config", "domain", "look", "metrics", "ports"]),
    ("mail", &["app", "config", "domain", "look", "metrics", "ports"]),
    ("jobs", &["app", "config", "domain", "mail", "metrics", "ports"]),
    ("flows", &["app", "config", "domain", "jobs", "mail", "metrics", "ports"]),
    // The OpenID Connect provider's flows: above the others (its sign-out ends the site session).
    ("oidc", &["app", "config", "domain", "flows", "metrics", "ports"]),
    ("http", &["app", "config", "domain", "jobs", "look", "ports"]),
    ("handlers", &["app", "config", "domain", "flows", "http", "jobs", "look", "mail", "metrics", "oidc", "ports"]),
    ("adapters", &["config", "domain", "metrics", "ports"]),
    ("wiring", &["adapters", "app", "config", "domain", "handlers", "metrics", "ports", "telemetry"]),
    ("lib", &["app", "config"]),
];

/// Handler files other handlers may use (the module's own helpers, not another function).
const HANDLER_HELPERS: &[&str] = &["handlers", "handlers::sqs", "handlers::row_jobs"];

/// Items the crate root re-exports, and the module they come from.
const ROOT_ITEMS: &[(&str, &str)] = &[("App", "app"), ("Config", "config")];

fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/src")
}

/// `shared/src/a/b.rs` → `["a", "b"]`; `a/mod.rs` → `["a"]`; `lib.rs` → `["lib"]`.
fn module_path(root: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(root).unwrap().with_extension("");
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.len() > 1 && parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The code of a file without comments and without its test module.
fn code(source: &str) -> String {
    let mut kept = String::new();
    for line in source.lines() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let line = line.split("//").next().unwrap_or_default();
        kept.push_str(line);
        kept.push('\n');
    }
    kept
}

fn ident(text: &str) -> String {
    text.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

/// The paths (as module-path prefixes, up to three segments) that a piece of code names after
/// `crate::` or `super::`, resolved against the file's module path.
fn named_paths(code: &str, here: &[String]) -> BTreeSet<Vec<String>> {
    let mut found = BTreeSet::new();
    let bytes: Vec<char> = code.chars().collect();
    let text: String = bytes.iter().collect();
    let mut start = 0;
    while let Some(offset) = text[start..].find("::") {
        let at = start + offset;
        start = at + 2;
        // The segment before `::` must be `crate` or a chain of `super`s.
        let before: String =
            text[..at].chars().rev().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
        let before: String = before.chars().rev().collect();
        let anchor: Vec<&str> = before.split("::").collect();
        let base: Vec<String> = if anchor.first() == Some(&"crate") && anchor.len() == 1 {
            Vec::new()
        } else if !anchor.is_empty() && anchor.iter().all(|s| *s == "super") {
            // The item is in the parent of this file's module, `anchor.len()` times up; a
            // `super::` chain continued by another `super` is handled at the last `::`.
            if text[start..].starts_with("super") {
                continue;
            }
            let up = anchor.len();
            here[..here.len().saturating_sub(up)].to_vec()
        } else {
            continue;
        };
        let rest = &text[start..];
        let mut targets = Vec::new();
        if rest.starts_with('{') {
            // A group: its top-level items, each a path of its own.
            let mut depth = 0;
            let mut item = String::new();
            for c in rest.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        if depth == 1 {
                            continue;
                        }
                    }
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            targets.push(item.clone());
                            break;
                        }
                    }
                    ',' if depth == 1 => {
                        targets.push(std::mem::take(&mut item));
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
        } else {
            targets.push(rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect());
        }
        for target in targets {
            let mut path = base.clone();
            for segment in target.trim().split("::").map(ident).filter(|s| !s.is_empty()).take(3) {
                if segment == "self" {
                    continue;
                }
                path.push(segment);
            }
            if path.len() > base.len() {
                found.insert(path);
            }
        }
    }
    found
}

/// Every `.rs` file under `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn top(path: &[String]) -> String {
    let first = path.first().cloned().unwrap_or_default();
    ROOT_ITEMS.iter().find(|(item, _)| *item == first).map_or(first, |(_, module)| (*module).to_owned())
}

struct Edges {
    /// (file, line of the first use) per (from top module, to top module).
    top: BTreeMap<(String, String), String>,
    /// Module path → the paths it names (each at most three segments past its anchor).
    files: BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
}

impl Edges {
    /// The file-level module a path names: the longest known module prefixing it.
    fn module_of(&self, path: &[String]) -> Option<Vec<String>> {
        (1..=path.len()).rev().map(|n| path[..n].to_vec()).find(|prefix| self.files.contains_key(prefix))
    }
}

/// Top modules that `lib.rs` declares under `#[cfg(test)]`: tests, not layers.
fn test_modules(root: &Path) -> BTreeSet<String> {
    let lib = std::fs::read_to_string(root.join("lib.rs")).unwrap();
    let lines: Vec<&str> = lib.lines().map(str::trim).collect();
    lines
        .windows(2)
        .filter(|pair| pair[0] == "#[cfg(test)]")
        .filter_map(|pair| pair[1].strip_prefix("mod ").and_then(|rest| rest.strip_suffix(';')))
        .map(str::to_owned)
        .collect()
}

fn edges() -> Edges {
    let root = source_dir();
    let tests = test_modules(&root);
    let mut edges = Edges { top: BTreeMap::new(), files: BTreeMap::new() };
    for file in files(&root) {
        let here = module_path(&root, &file);
        if here.first().is_some_and(|top| tests.contains(top)) {
            continue;
        }
        let code = code(&std::fs::read_to_string(&file).unwrap());
        let named = named_paths(&code, &here);
        for path in &named {
            let (from, to) = (top(&here), top(path));
            if from != to {
                edges.top.entry((from, to)).or_insert_with(|| file.strip_prefix(&root).unwrap().display().to_string());
            }
        }
        edges.files.insert(here, named);
    }
    edges
}

#[test]
fn every_module_edge_is_in_the_table() {
    let edges = edges();
    let table: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut wrong = Vec::new();
    for ((from, to), file) in &edges.top {
        match table.get(from.as_str()) {
            None => wrong.push(format!("{file}: module `{from}` is not in the layering table")),
            Some(allowed) if !allowed.contains(&to.as_str()) => {
                wrong.push(format!("{file}: `{from}` may not use `{to}`"))
            }
            Some(_) => {}
        }
    }
    assert!(wrong.is_empty(), "edges the layering table does not allow:\n{}", wrong.join("\n"));
    // The reader works: the edges it must see are there.
    for edge in [("flows", "jobs"), ("handlers", "flows"), ("wiring", "adapters"), ("adapters", "ports")] {
        assert!(edges.top.contains_key(&(edge.0.to_owned(), edge.1.to_owned())), "did not see {edge:?}");
    }
    let modules: BTreeSet<String> = edges.files.keys().map(|path| top(path)).collect();
    for module in &modules {
        assert!(table.contains_key(module.as_str()), "module `{module}` is not in the layering table");
    }
}

#[test]
fn no_handler_imports_another_handler() {
    let edges = edges();
    let mut wrong = Vec::new();
    for (from, named) in &edges.files {
        if from.first().map(String::as_str) != Some("handlers") || from.len() < 2 {
            continue;
        }
        for to in named.iter().filter_map(|path| edges.module_of(path)) {
            let name = to.join("::");
            if to.first().map(String::as_str) == Some("handlers")
                && to != *from
                // A handler's own parts (`operator_console/settings.rs`) use their function's module.
                && !from.starts_with(&to)
                && !HANDLER_HELPERS.contains(&name.as_str())
            {
                wrong.push(format!("{} uses {name}", from.join("::")));
            }
        }
    }
    assert!(wrong.is_empty(), "handlers that use another handler:\n{}", wrong.join("\n"));
}

#[test]
fn the_modules_of_the_crate_form_no_cycle() {
    let edges = edges();
    let mut graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (from, named) in &edges.files {
        for to in named.iter().filter_map(|path| edges.module_of(path)) {
            // A module's own `mod.rs` re-exporting its children is structure, not a use.
            let child_of_from = to.len() > from.len() && to.starts_with(from);
            if to != *from && !child_of_from {
                graph.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    // Depth-first search for a back edge.
    fn visit(
        node: &Vec<String>,
        graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, u8>,
        stack: &mut Vec<Vec<String>>,
    ) -> Option<Vec<String>> {
        state.insert(node.clone(), 1);
        stack.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            match state.get(next).copied().unwrap_or(0) {
                1 => {
                    let from = stack.iter().position(|n| n == next).unwrap_or(0);
                    let mut cycle: Vec<String> = stack[from..].iter().map(|n| n.join("::")).collect();
                    cycle.push(next.join("::"));
                    return Some(cycle);
                }
                0 => {
                    if let Some(cycle) = visit(next, graph, state, stack) {
                        return Some(cycle);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(node.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if state.get(node).copied().unwrap_or(0) == 0 {
            if let Some(cycle) = visit(node, &graph, &mut state, &mut Vec::new()) {
                panic!("an import cycle: {}", cycle.join(" → "));
            }
        }
    }
}

#[test]
fn the_reader_sees_grouped_inline_and_super_paths() {
    let here = vec!["flows".to_owned(), "bulk".to_owned()];
    let code = "use crate::{mail, jobs::{submit, X}};\nlet x = crate::http::pages::error();\nuse super::super::adapters::aws;\nuse super::signin;\nuse crate::App;";
    let named = named_paths(code, &here);
    let tops: BTreeSet<String> = named.iter().map(|p| top(p)).collect();
    for module in ["mail", "jobs", "http", "adapters", "flows", "app"] {
        assert!(tops.contains(module), "missed {module} in {named:?}");
    }
    assert!(named.contains(&vec!["flows".to_owned(), "signin".to_owned()]), "{named:?}");
}
