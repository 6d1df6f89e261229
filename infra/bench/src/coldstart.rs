//! Cold start of every function against a `lambda_http` hello world on the system allocator
//! (`src/bin/hello-lambda.rs`): the time from spawning the binary to its first
//! `GET /2018-06-01/runtime/invocation/next`, which is where its init phase ends (billed, and
//! waited for by whoever made the cold request), and its resident memory (VmRSS) at that moment.
//! Target: each function's median init at most 1.5 times the hello world's. The functions run on
//! the system allocator, as the hello world does; the same hello world on mimalloc
//! (`src/bin/hello-lambda-mimalloc.rs`) is shown beside it, under mimalloc's defaults and without
//! its transparent huge pages: what that allocator alone would cost at start.
//!
//! Each binary is first copied into a fresh directory, and started from there: a file the
//! linker has just written sits in the page cache in the pieces it was written in, and the same
//! bytes copied (written in order, as a deployment package is read) started up to 0.6 ms sooner
//! (`bulk-worker`, 2026-12-06: 3.1 ms as linked, 2.5 ms copied), which made a function's figure
//! depend on how its last link happened to write it.
//!
//! Each binary (built with the bench profile, next to this one) runs under a loopback Runtime
//! API that records the request and never answers it: the child is killed once measured. Its
//! environment is Lambda's plus the template's `Globals` (read from `template.yaml`; the values
//! the template takes from parameters and resources get realistic stand-ins here), in place of
//! the bench's own (which `make bench` points at moto); the counter and retirement keys are
//! given directly, so no SSM call is made. Runs are interleaved, so a drift in the machine's
//! speed hits every binary alike.

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use learners::ports::Queue;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio::sync::mpsc;

const BASELINE: &str = "hello-lambda";
const MIMALLOC_HELLO: &str = "hello-lambda-mimalloc";
/// mimalloc's setting for a short-lived process, beside its defaults in the evidence rows:
/// no transparent huge pages (they cost 0.5 ms and 6 MiB at start).
pub const MIMALLOC_WITHOUT_THP: (&str, &str) = ("MIMALLOC_ALLOW_THP", "0");
const NEXT: &str = "GET /2018-06-01/runtime/invocation/next";
const TARGET: f64 = 1.5;
/// Far above any init we expect: a function that takes this long is reported as failing.
const TIMEOUT: Duration = Duration::from_secs(10);

struct Sample {
    init: Duration,
    rss_kib: u64,
}

/// One row of the table: a binary, and variables set for it beyond the functions' own.
struct Probe {
    label: String,
    binary: String,
    settings: Vec<(String, String)>,
}

/// Probes the hello world and every function `runs` times each and prints the table.
pub async fn run(runs: usize) -> anyhow::Result<()> {
    if runs == 0 {
        println!("cold start: skipped (BENCH_COLDSTART_RUNS=0)");
        return Ok(());
    }
    let dir = binary_dir()?;
    let template = template_environment()?;
    let mut probes = Vec::new();
    // Other binaries of the same directory to compare (say, a function built on another
    // allocator and copied there under another name), probed like the functions.
    let extra = std::env::var("BENCH_COLDSTART_EXTRA").unwrap_or_default();
    let extra = extra.split(',').filter(|name| !name.is_empty()).map(str::to_owned);
    let names = [BASELINE.to_owned(), MIMALLOC_HELLO.to_owned()].into_iter().chain(function_names()?).chain(extra);
    for name in names {
        if !dir.join(&name).is_file() {
            println!("cold start of {name}: skipped, {} is not built", dir.join(&name).display());
            continue;
        }
        if name == MIMALLOC_HELLO {
            let (key, value) = MIMALLOC_WITHOUT_THP;
            let without_thp = vec![(key.to_owned(), value.to_owned())];
            probes.push(Probe { label: format!("{name} (defaults)"), binary: name.clone(), settings: Vec::new() });
            probes.push(Probe { label: format!("{name} (no THP)"), binary: name, settings: without_thp });
            continue;
        }
        probes.push(Probe { label: name.clone(), binary: name, settings: Vec::new() });
    }
    if probes.first().map(|p| p.label.as_str()) != Some(BASELINE) {
        println!("cold start: skipped, no baseline (`make bench` builds every binary first)");
        return Ok(());
    }
    let binaries: std::collections::BTreeSet<&str> = probes.iter().map(|p| p.binary.as_str()).collect();
    let staged = Staged::copy(&dir, binaries.into_iter())?;
    let mut samples: BTreeMap<&str, Vec<Sample>> = BTreeMap::new();
    for _ in 0..runs {
        for probe in &probes {
            let mut environment = environment(&probe.binary, &template)?;
            environment.extend(probe.settings.iter().cloned());
            let sample = measure(&staged.0.join(&probe.binary), &probe.binary, environment).await?;
            samples.entry(probe.label.as_str()).or_default().push(sample);
        }
    }

    let (key, value) = MIMALLOC_WITHOUT_THP;
    println!("\ncold start, {runs} runs each: spawn to the first /invocation/next (ms), VmRSS then");
    println!("(the functions and the hello world on the system allocator; no THP: {key}={value})");
    println!(
        "{:<34} {:>9} {:>7} {:>9} {:>8} {:>8}  target <= {TARGET}x",
        "function", "median", "min", "x hello", "RSS MiB", "size MB"
    );
    let baseline = median(samples[BASELINE].iter().map(|s| s.init.as_secs_f64() * 1000.0));
    for probe in &probes {
        let runs = &samples[probe.label.as_str()];
        let init = median(runs.iter().map(|s| s.init.as_secs_f64() * 1000.0));
        let min = runs.iter().map(|s| s.init).min().unwrap_or_default().as_secs_f64() * 1000.0;
        let rss = median(runs.iter().map(|s| s.rss_kib as f64 / 1024.0));
        let size = std::fs::metadata(dir.join(&probe.binary))?.len() as f64 / 1e6;
        let ratio = init / baseline;
        // The hello worlds are references, not functions: no target.
        let met = match (probe.label.starts_with(BASELINE), ratio <= TARGET) {
            (true, _) => "",
            (false, true) => "MET",
            (false, false) => "NOT MET",
        };
        let label = &probe.label;
        println!("{label:<34} {init:>9.1} {min:>7.1} {ratio:>9.2} {rss:>8.1} {size:>8.1}  {met}");
    }
    Ok(())
}

/// A fresh directory holding a copy of each binary probed; removed when dropped.
struct Staged(std::path::PathBuf);

impl Staged {
    fn copy<'a>(from: &Path, binaries: impl Iterator<Item = &'a str>) -> anyhow::Result<Self> {
        let staged = Self(std::env::temp_dir().join(format!("learners-coldstart-{}", std::process::id())));
        std::fs::create_dir_all(&staged.0)?;
        for binary in binaries {
            std::fs::copy(from.join(binary), staged.0.join(binary))?;
        }
        Ok(staged)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Where cargo put this binary and its siblings (the bench profile's binaries).
pub fn binary_dir() -> anyhow::Result<std::path::PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().ok_or_else(|| anyhow::anyhow!("{} has no directory", exe.display()))?;
    Ok(dir.to_owned())
}

/// The function binaries: one per directory under `functions/`, named after it.
fn function_names() -> anyhow::Result<Vec<String>> {
    let functions = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../functions");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&functions).map_err(|e| anyhow::anyhow!("{}: {e}", functions.display()))? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// One cold start of `binary` as function `name`.
async fn measure(binary: &Path, name: &str, environment: Vec<(String, String)>) -> anyhow::Result<Sample> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let (seen, mut requests) = mpsc::unbounded_channel();
    let server = tokio::spawn(serve(listener, seen));

    let start = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .envs(environment)
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().ok_or_else(|| anyhow::anyhow!("{name} exited at once"))?;
    let first = tokio::select! {
        request = requests.recv() => request,
        _ = child.wait() => None,
        _ = tokio::time::sleep(TIMEOUT) => None,
    };
    // Read while the child waits for its event, before the kill.
    let rss_kib = match &first {
        Some((_, request)) if request == NEXT => Some(vm_rss_kib(pid)?),
        _ => None,
    };
    let _ = child.kill().await;
    server.abort();
    if let (Some((at, _)), Some(rss_kib)) = (&first, rss_kib) {
        return Ok(Sample { init: *at - start, rss_kib });
    }
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        pipe.read_to_string(&mut stderr).await?;
    }
    let what = first.map_or("exited or timed out".to_owned(), |(_, request)| format!("sent {request}"));
    anyhow::bail!("cold start of {name}: {what} before asking for an invocation; its stderr:\n{stderr}")
}

/// The loopback Runtime API: notes when each request arrives and never answers it.
async fn serve(listener: TcpListener, seen: mpsc::UnboundedSender<(Instant, String)>) {
    while let Ok((stream, _)) = listener.accept().await {
        let seen = seen.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let _ = seen.send((Instant::now(), format!("{} {}", request.method(), request.uri().path())));
                std::future::pending::<Result<Response<String>, std::convert::Infallible>>()
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// What Lambda sets, and the template's `Globals` (`template`) with realistic stand-ins for
/// the values it takes from parameters and resources. The Runtime API's address is added by
/// `measure`.
pub fn environment(name: &str, template: &[(String, Option<String>)]) -> anyhow::Result<Vec<(String, String)>> {
    let stand_ins = [
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "1"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "2025/01/01/[1]0123456789abcdef"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "AKIDBENCHCOLDSTART00"),
        ("AWS_SECRET_ACCESS_KEY", "bench-cold-start-secret-access-key-000000"),
        ("AWS_SESSION_TOKEN", "bench-cold-start-session-token"),
        ("LEARNERS_SITE_URL", "https://learn.example.org"),
        ("LEARNERS_OPERATOR_PRINCIPALS", "arn:aws:iam::000000000000:role/learner-ops"),
        ("LEARNERS_SITE_NAME", "Learners"),
        ("LEARNERS_BRAND_COLOR", "#1d4ed8"),
        ("LEARNERS_SITE_LOGO_URL", ""),
        ("LEARNERS_MAIL_FROM", "no-reply@learn.example.org"),
        ("LEARNERS_TABLE_NAME", "learners-Table-0123456789AB"),
        ("LEARNERS_ACTIVATION_TTL_SECONDS", "259200"),
        ("LEARNERS_PASSWORD_MIN_LENGTH", "8"),
        ("LEARNERS_SESSION_TTL_SECONDS", "1209600"),
        ("LEARNERS_OPERATOR_SESSION_TTL_SECONDS", "28800"),
        ("LEARNERS_MAX_FAILED_LOGINS", "6"),
        ("LEARNERS_LOCKOUT_SECONDS", "1800"),
        ("LEARNERS_MAX_FAILED_LOGINS_PER_IP", "100"),
        ("LEARNERS_RESET_TTL_SECONDS", "3600"),
        ("LEARNERS_RESET_MAILS_PER_HOUR", "2"),
        ("LEARNERS_SELF_REMOVAL_ENABLED", "false"),
        ("LEARNERS_RESEND_INTERVAL_SECONDS", "60"),
        ("LEARNERS_MAX_RECEIVES", "3"),
        ("LEARNERS_METRICS_NAMESPACE", "Learners/learners"),
        ("LEARNERS_SES_CONFIGURATION_SET", "learners-mail"),
        ("LEARNERS_COUNTER_KEY", "bench-counter-key-0123456789abcdef0123456789"),
        ("LEARNERS_RETIREMENT_SECRET", "bench-retirement-secret-0123456789abcdef"),
        ("LEARNERS_UPLOAD_BUCKET", "learners-uploads-0123456789ab"),
    ];
    let queues = Queue::ALL.map(|queue| {
        let url = format!("https://sqs.us-east-1.amazonaws.com/000000000000/learners-{}", queue.suffix());
        (queue.url_variable().to_owned(), url)
    });
    let runtime = [
        ("AWS_LAMBDA_FUNCTION_NAME".to_owned(), name.to_owned()),
        ("AWS_LAMBDA_LOG_GROUP_NAME".to_owned(), format!("/aws/lambda/{name}")),
    ];
    let stand_ins: BTreeMap<String, String> = stand_ins
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .into_iter()
        .chain(queues)
        .chain(runtime)
        .collect();
    let mut environment = stand_ins.clone();
    for (key, value) in template {
        if stand_ins.contains_key(key) {
            continue;
        }
        let value = value.as_ref().ok_or_else(|| {
            anyhow::anyhow!(
                "template.yaml's Globals variable {key} comes from the stack: give it a stand-in in coldstart.rs"
            )
        })?;
        environment.insert(key.clone(), value.clone());
    }
    Ok(environment.into_iter().collect())
}

/// The template's `Globals.Function.Environment.Variables`: a literal value as written, a
/// parameter's `Default` for `!Ref` that parameter, `None` for a value only the stack supplies
/// (`!Ref` a resource or a parameter without a default, `!Sub`, `!If`, `!Join`), which
/// `environment` replaces with its stand-in. (The YAML loader drops custom tags, so a reference
/// is known by what it names.)
pub fn template_environment() -> anyhow::Result<Vec<(String, Option<String>)>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml");
    let text = std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let docs = yaml_rust2::YamlLoader::load_from_str(&text)?;
    let template = docs.first().ok_or_else(|| anyhow::anyhow!("{} is empty", path.display()))?;
    let variables = &template["Globals"]["Function"]["Environment"]["Variables"];
    let variables = variables.as_hash().ok_or_else(|| anyhow::anyhow!("no Globals.Function.Environment.Variables"))?;
    let names = |section: &str| -> Vec<String> {
        let keys = template[section].as_hash().into_iter().flat_map(|hash| hash.keys());
        keys.filter_map(|key| key.as_str().map(str::to_owned)).collect()
    };
    let referable = [names("Parameters"), names("Resources")].concat();
    let literal = |value: &yaml_rust2::Yaml| match value {
        yaml_rust2::Yaml::String(text) | yaml_rust2::Yaml::Real(text) => Some(text.clone()),
        yaml_rust2::Yaml::Integer(number) => Some(number.to_string()),
        yaml_rust2::Yaml::Boolean(flag) => Some(flag.to_string()),
        _ => None,
    };
    let mut pairs = Vec::new();
    for (key, value) in variables {
        let key = key.as_str().ok_or_else(|| anyhow::anyhow!("a variable name is not a string"))?;
        let value = match value {
            // `!Ref` a parameter: the stack's default, as a deployment that keeps it has.
            yaml_rust2::Yaml::String(text) if referable.contains(text) => {
                literal(&template["Parameters"][text.as_str()]["Default"])
            }
            yaml_rust2::Yaml::String(text) if text.contains("${") => None,
            other => literal(other),
        };
        pairs.push((key.to_owned(), value));
    }
    Ok(pairs)
}

/// Resident memory of process `pid` now, in KiB (Linux).
fn vm_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).ok_or_else(|| anyhow::anyhow!("no VmRSS"))?;
    Ok(line.split_whitespace().nth(1).unwrap_or("0").parse()?)
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A variable added to the template's `Globals` without a default or a stand-in here would
    /// stop `make bench` at the cold start: `make test` says so first.
    #[test]
    fn every_variable_of_the_template_gets_a_value() {
        let template = template_environment().unwrap();
        let environment = environment("register", &template).unwrap();
        for (key, _) in &template {
            assert!(environment.iter().any(|(name, _)| name == key), "{key} is missing");
        }
        let value = |key: &str| environment.iter().find(|(name, _)| name == key).map(|(_, v)| v.as_str());
        // A parameter's default, and a stand-in for what only the stack knows.
        assert_eq!(value("LEARNERS_OPERATOR_SECOND_FACTOR"), Some("required"));
        assert_eq!(value("LEARNERS_UPLOAD_BUCKET"), Some("learners-uploads-0123456789ab"));
        assert_eq!(value("AWS_LAMBDA_FUNCTION_NAME"), Some("register"));
    }
}
