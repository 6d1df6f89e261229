//! Routes as `template.yaml` declares them: every `HttpApi` event of every function.

use anyhow::{anyhow, bail, Context};
use yaml_rust2::YamlLoader;

/// The template, compiled in: the gateway serves exactly what gets deployed.
pub const TEMPLATE: &str = include_str!("../../../template.yaml");

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub method: String,
    /// As in the template, e.g. `/activate/{token}`.
    pub path: String,
    /// The function's binary (its `CodeUri`, `target/lambda/<binary>/`, names it).
    pub binary: String,
    /// `Auth.Authorizer: AWS_IAM` on the event.
    pub iam: bool,
}

/// API Gateway's catch-all route: an `HttpApi` event with neither `Path` nor `Method`.
pub const DEFAULT_ROUTE: &str = "$default";

impl Route {
    pub fn key(&self) -> String {
        if self.is_default() {
            DEFAULT_ROUTE.to_owned()
        } else {
            format!("{} {}", self.method, self.path)
        }
    }

    /// The `$default` route, which takes every request no other route matches.
    pub fn is_default(&self) -> bool {
        self.path == DEFAULT_ROUTE
    }

    /// Matches a concrete path; returns the path parameters and how many segments were
    /// literal (the most literal match wins, as in API Gateway).
    fn matches(&self, path: &str) -> Option<(Vec<(String, String)>, usize)> {
        let pattern: Vec<&str> = self.path.trim_matches('/').split('/').collect();
        let actual: Vec<&str> = path.trim_matches('/').split('/').collect();
        if pattern.len() != actual.len() {
            return None;
        }
        let mut params = Vec::new();
        let mut literal = 0;
        for (p, a) in pattern.iter().zip(&actual) {
            if let Some(name) = p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                if a.is_empty() {
                    return None;
                }
                params.push((name.to_owned(), (*a).to_owned()));
            } else if p == a {
                literal += 1;
            } else {
                return None;
            }
        }
        Some((params, literal))
    }
}

/// An SQS event source: which binary consumes which queue (by its template resource).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerBinding {
    pub queue: String,
    pub binary: String,
}

#[derive(Clone, Debug)]
pub struct RouteTable {
    pub routes: Vec<Route>,
    pub workers: Vec<WorkerBinding>,
}

/// A matched route and its path parameters.
pub struct Matched<'a> {
    pub route: &'a Route,
    pub params: Vec<(String, String)>,
}

pub enum Lookup<'a> {
    Found(Matched<'a>),
    /// The path exists with other methods: these (`HEAD` included wherever `GET` is).
    MethodNotAllowed(Vec<String>),
    NotFound,
}

impl RouteTable {
    pub fn from_template(template: &str) -> anyhow::Result<Self> {
        let docs = YamlLoader::load_from_str(template).context("template.yaml is not valid YAML")?;
        let doc = docs.first().context("template.yaml is empty")?;
        let resources = doc["Resources"].as_hash().context("template.yaml has no Resources")?;
        let mut routes = Vec::new();
        let mut workers = Vec::new();
        for (name, resource) in resources {
            if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
                continue;
            }
            let name = name.as_str().unwrap_or("?");
            let Some(events) = resource["Properties"]["Events"].as_hash() else {
                continue;
            };
            for (event_name, event) in events {
                let binary = resource["Properties"]["CodeUri"]
                    .as_str()
                    .and_then(|uri| uri.strip_prefix("target/lambda/"))
                    .map(|binary| binary.trim_end_matches('/'))
                    .with_context(|| format!("{name} has events but no CodeUri target/lambda/<binary>/"))?;
                if event["Type"].as_str() == Some("SQS") {
                    // `Queue: !GetAtt <Resource>.Arn`
                    let queue = event["Properties"]["Queue"].as_str().unwrap_or_default();
                    let queue = queue
                        .strip_suffix(".Arn")
                        .with_context(|| format!("{name}: SQS Queue must be !GetAtt <Queue>.Arn"))?;
                    workers.push(WorkerBinding { queue: queue.to_owned(), binary: binary.to_owned() });
                    continue;
                }
                if event["Type"].as_str() != Some("HttpApi") {
                    continue;
                }
                let props = &event["Properties"];
                let field = |key: &str| {
                    props[key].as_str().map(str::to_owned).ok_or_else(|| anyhow!("{name}.{event_name:?} has no {key}"))
                };
                let default = props["Path"].is_badvalue() && props["Method"].is_badvalue();
                routes.push(Route {
                    method: if default { "ANY".to_owned() } else { field("Method")?.to_ascii_uppercase() },
                    path: if default { DEFAULT_ROUTE.to_owned() } else { field("Path")? },
                    binary: binary.to_owned(),
                    iam: props["Auth"]["Authorizer"].as_str() == Some("AWS_IAM"),
                });
            }
        }
        if routes.is_empty() {
            bail!("template.yaml declares no HttpApi routes");
        }
        routes.sort_by(|a, b| (&a.path, &a.method).cmp(&(&b.path, &b.method)));
        Ok(Self { routes, workers })
    }

    /// The route for a request. `HEAD` is answered by the `GET` route (RFC 9110: HEAD goes
    /// wherever GET does; the caller drops the body).
    pub fn lookup(&self, method: &str, path: &str) -> Lookup<'_> {
        let method = if method == "HEAD" { "GET" } else { method };
        let mut best: Option<(Matched<'_>, usize)> = None;
        let mut allowed: Vec<String> = Vec::new();
        for route in self.routes.iter().filter(|r| !r.is_default()) {
            let Some((params, literal)) = route.matches(path) else {
                continue;
            };
            allowed.push(route.method.clone());
            if route.method != method {
                continue;
            }
            if best.as_ref().is_none_or(|(_, l)| literal > *l) {
                best = Some((Matched { route, params }, literal));
            }
        }
        if allowed.iter().any(|m| m == "GET") {
            allowed.push("HEAD".to_owned());
        }
        allowed.sort();
        allowed.dedup();
        let default = self.routes.iter().find(|r| r.is_default());
        match (best, default) {
            (Some((matched, _)), _) => Lookup::Found(matched),
            (None, _) if !allowed.is_empty() => Lookup::MethodNotAllowed(allowed),
            (None, Some(route)) => Lookup::Found(Matched { route, params: Vec::new() }),
            (None, None) => Lookup::NotFound,
        }
    }
}
