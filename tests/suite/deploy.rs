//! `make deploy`: no questions, the parameters `make deploy-guided` saved, and the architecture
//! `make build` built (whatever the saved one says). Run against a stand-in `sam` that prints
//! its arguments.

use std::path::Path;
use std::process::Command;

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// A directory shaped like the repository for `infra/tools/deploy.sh`: the script, a `.venv`
/// whose `python` is the machine's and whose `sam` echoes its arguments, one per line.
fn stage(dir: &Path, samconfig: Option<&str>, built: Option<&str>) {
    std::fs::create_dir_all(dir.join("infra/tools")).unwrap();
    std::fs::create_dir_all(dir.join(".venv/bin")).unwrap();
    std::fs::create_dir_all(dir.join("target/lambda")).unwrap();
    std::fs::copy(workspace().join("infra/tools/deploy.sh"), dir.join("infra/tools/deploy.sh")).unwrap();
    let python = ["python3.13", "python3.12", "python3.11", "python3"]
        .iter()
        .find_map(|name| {
            let out = Command::new("which").arg(name).output().ok()?;
            out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        })
        .expect("a python3");
    std::os::unix::fs::symlink(python, dir.join(".venv/bin/python")).unwrap();
    let sam = dir.join(".venv/bin/sam");
    std::fs::write(&sam, "#!/bin/sh\nfor a in \"$@\"; do echo \"[$a]\"; done\n").unwrap();
    Command::new("chmod").arg("+x").arg(&sam).status().unwrap();
    if let Some(config) = samconfig {
        std::fs::write(dir.join("samconfig.toml"), config).unwrap();
    }
    if let Some(arch) = built {
        std::fs::write(dir.join("target/lambda/ARCH"), format!("{arch}\n")).unwrap();
    }
}

fn run(dir: &Path) -> (i32, String, String) {
    let out = Command::new("bash").arg(dir.join("infra/tools/deploy.sh")).output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

const SAVED: &str = r#"version = 0.1
[default.deploy.parameters]
stack_name = "learners"
resolve_s3 = true
parameter_overrides = "Architecture=\"x86_64\" SiteUrl=\"https://learn.example.org\" SiteName=\"My School\" MailFrom=\"no-reply@learn.example.org\""
"#;

#[test]
fn make_deploy_uses_the_saved_parameters_and_the_built_architecture() {
    let dir = std::env::temp_dir().join(learners_tests::unique("deploy-"));
    stage(&dir, Some(SAVED), Some("arm64"));
    let (code, out, err) = run(&dir);
    assert_eq!(code, 0, "{err}");
    for expected in ["[--no-confirm-changeset]", "[--template-file]", "[template.yaml]"] {
        assert!(out.contains(expected), "{out}");
    }
    assert!(!out.contains("--guided"), "{out}");
    let overrides = out.lines().skip_while(|l| *l != "[--parameter-overrides]").nth(1).expect("overrides");
    assert!(overrides.contains(r#"SiteName="My School""#), "{overrides}");
    assert!(overrides.contains(r#"Architecture="arm64""#) && !overrides.contains("x86_64"), "{overrides}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn make_deploy_refuses_before_a_guided_deploy_or_a_build() {
    let dir = std::env::temp_dir().join(learners_tests::unique("deploy-"));
    stage(&dir, None, Some("arm64"));
    let (code, _, err) = run(&dir);
    assert_eq!(code, 2);
    assert!(err.contains("make deploy-guided"), "{err}");
    std::fs::write(dir.join("samconfig.toml"), SAVED).unwrap();
    std::fs::remove_file(dir.join("target/lambda/ARCH")).unwrap();
    let (code, _, err) = run(&dir);
    assert_eq!(code, 2);
    assert!(err.contains("make build"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

fn template() -> yaml_rust2::Yaml {
    yaml_rust2::YamlLoader::load_from_str(learners_gateway::routes::TEMPLATE).unwrap().remove(0)
}

/// The strings of a YAML value (one string or a list of them; CloudFormation's tags are dropped
/// by the parser, so `!GetAtt Queue.Arn` reads `Queue.Arn`).
fn strings(value: &yaml_rust2::Yaml) -> Vec<String> {
    match value {
        yaml_rust2::Yaml::Array(items) => items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect(),
        other => other.as_str().map(|s| vec![s.to_owned()]).unwrap_or_default(),
    }
}

/// A dead-letter redrive sends to the queue as its caller (`StartMessageMoveTask`, the console's
/// "Start DLQ redrive"): every queue's Deny of other senders excepts `RedrivePrincipals`, and
/// the `RedrivePolicy` output grants what the task needs, on every dead-letter queue and the
/// queue it came from.
#[test]
fn every_dead_letter_queue_can_be_redriven_by_the_redrive_principals() {
    let doc = template();
    let resources = doc["Resources"].as_hash().unwrap();
    assert_eq!(doc["Parameters"]["RedrivePrincipals"]["Default"].as_str(), Some(""), "nobody unless named");
    let grants = &doc["Resources"]["RedrivePolicy"]["Properties"]["PolicyDocument"]["Statement"];
    let granted = |action: &str, resource: &str| {
        grants.as_vec().unwrap().iter().any(|s| {
            s["Effect"].as_str() == Some("Allow")
                && strings(&s["Action"]).iter().any(|a| a == action)
                && strings(&s["Resource"]).iter().any(|r| r == resource)
        })
    };
    let mut queues = 0;
    for (name, resource) in resources {
        let name = name.as_str().unwrap();
        if resource["Type"].as_str() != Some("AWS::SQS::Queue") || name.ends_with("DeadLetterQueue") {
            continue;
        }
        queues += 1;
        let dlq = resource["Properties"]["RedrivePolicy"]["deadLetterTargetArn"].as_str().unwrap();
        for action in [
            "sqs:StartMessageMoveTask",
            "sqs:ListMessageMoveTasks",
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
        ] {
            assert!(granted(action, dlq), "{action} on {dlq}");
        }
        assert!(granted("sqs:SendMessage", &format!("{name}.Arn")), "sqs:SendMessage on {name}");
        let policy = resources
            .values()
            .find(|r| {
                r["Type"].as_str() == Some("AWS::SQS::QueuePolicy")
                    && strings(&r["Properties"]["Queues"]).contains(&name.to_owned())
            })
            .unwrap_or_else(|| panic!("{name} has no queue policy"));
        let statements = policy["Properties"]["PolicyDocument"]["Statement"].as_vec().unwrap();
        let denies: Vec<_> = statements
            .iter()
            .filter(|s| {
                s["Effect"].as_str() == Some("Deny") && strings(&s["Action"]).contains(&"sqs:SendMessage".into())
            })
            .collect();
        assert_eq!(denies.len(), 1, "{name}");
        // !If [HasRedrivePrincipals, {aws:PrincipalArn: !Split [",", !Ref RedrivePrincipals]}, NoValue]
        let exception = &denies[0]["Condition"]["ArnNotLike"];
        assert_eq!(exception[0].as_str(), Some("HasRedrivePrincipals"), "{name}: {exception:?}");
        assert_eq!(strings(&exception[1]["aws:PrincipalArn"]), vec![",", "RedrivePrincipals"], "{name}");
        assert_eq!(exception[2].as_str(), Some("AWS::NoValue"), "{name}");
    }
    assert_eq!(queues, 4);
    assert_eq!(doc["Outputs"]["RedrivePolicyArn"]["Value"].as_str(), Some("RedrivePolicy"));
}

/// The stuck-job steps on moto, as far as moto goes: a message that fails `maxReceiveCount`
/// receives lands in the dead-letter queue, and moving it back (what `StartMessageMoveTask`
/// does; moto 5.2.5 does not implement that call, so the test moves it by receive, send,
/// delete, the guide's fallback) puts it on the queue again for its worker.
#[tokio::test]
async fn a_dead_lettered_message_goes_back_to_its_queue_on_moto() {
    use aws_sdk_sqs::types::QueueAttributeName as Name;
    let clients = learners::adapters::aws::AwsClients::for_endpoint(learners_tests::moto::url()).await;
    let sqs = &clients.sqs;
    let name = learners_tests::unique("stuck");
    let dlq = sqs.create_queue().queue_name(format!("{name}-dlq")).send().await.unwrap().queue_url.unwrap();
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq)
        .attribute_names(Name::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&Name::QueueArn]
        .clone();
    let redrive = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}).to_string();
    let queue = sqs
        .create_queue()
        .queue_name(&name)
        .attributes(Name::RedrivePolicy, redrive)
        .attributes(Name::VisibilityTimeout, "0")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    sqs.send_message().queue_url(&queue).message_body(r#"{"job":"j1","block":7}"#).send().await.unwrap();
    // Five receives that the worker does not delete (it failed), then the sixth finds nothing.
    for receive in 1..=5 {
        let got = sqs.receive_message().queue_url(&queue).send().await.unwrap().messages.unwrap_or_default();
        assert_eq!(got.len(), 1, "receive {receive}");
    }
    let got = sqs.receive_message().queue_url(&queue).send().await.unwrap().messages.unwrap_or_default();
    assert!(got.is_empty(), "the message went to the dead-letter queue");
    // The redrive: every dead letter back to its queue, then gone from the dead-letter queue.
    let dead = sqs.receive_message().queue_url(&dlq).max_number_of_messages(10).send().await.unwrap();
    let dead = dead.messages.unwrap_or_default();
    assert_eq!(dead.len(), 1);
    for message in &dead {
        sqs.send_message().queue_url(&queue).message_body(message.body().unwrap()).send().await.unwrap();
        sqs.delete_message().queue_url(&dlq).receipt_handle(message.receipt_handle().unwrap()).send().await.unwrap();
    }
    let back = sqs.receive_message().queue_url(&queue).send().await.unwrap().messages.unwrap_or_default();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].body(), Some(r#"{"job":"j1","block":7}"#), "the worker gets the same message again");
    let left = sqs.receive_message().queue_url(&dlq).send().await.unwrap().messages.unwrap_or_default();
    assert!(left.is_empty());
    sqs.delete_queue().queue_url(&queue).send().await.ok();
    sqs.delete_queue().queue_url(&dlq).send().await.ok();
}

/// In the SES sandbox a send is authorised against the recipient's identity too: the mail
/// worker may send to the verified identities `SandboxRecipients` names (no wildcard), still
/// only from `MailFrom`, and to no recipient identity when it is empty (production access).
#[test]
fn in_the_ses_sandbox_mail_reaches_the_verified_recipients_named() {
    let doc = template();
    let parameter = &doc["Parameters"]["SandboxRecipients"];
    assert_eq!(parameter["Default"].as_str(), Some(""));
    let pattern = parameter["AllowedPattern"].as_str().unwrap();
    assert!(pattern.starts_with("^$|^arn:") && pattern.contains(":identity/[^,*?]+"), "{pattern}");
    let statements = doc["Resources"]["MailWorkerFunction"]["Properties"]["Policies"][0]["Statement"].as_vec().unwrap();
    let sandbox: Vec<_> = statements.iter().filter(|s| s[0].as_str() == Some("HasSandboxRecipients")).collect();
    assert_eq!(sandbox.len(), 1, "one statement for the sandbox's recipients");
    let statement = &sandbox[0][1];
    assert_eq!(strings(&statement["Action"]), vec!["ses:SendEmail"]);
    assert_eq!(strings(&statement["Resource"]), vec![",", "SandboxRecipients"]);
    assert_eq!(statement["Condition"]["StringEquals"]["ses:FromAddress"].as_str(), Some("MailFrom"));
    assert_eq!(sandbox[0][2].as_str(), Some("AWS::NoValue"), "nothing more once out of the sandbox");
    assert_eq!(doc["Conditions"]["HasSandboxRecipients"][0][0].as_str(), Some("SandboxRecipients"));
}

/// The write units a row costs, as measured: a bulk row's account (`create_bulk_user` in the
/// capacity contract's pinned table, index writes included) plus its block's tally (one write
/// per 25 rows); a deletion's from the benchmarks' table (per account, base table) plus its
/// audit entry's and its row's index entries.
fn write_units_per_row() -> (f64, f64) {
    let pinned = include_str!("contract/capacity.rs");
    let units = |step: &str| -> f64 {
        let line = pinned.lines().find(|l| l.trim_start().starts_with(&format!("(\"{step}\","))).unwrap();
        line.split(',').nth(2).unwrap().trim().parse().unwrap()
    };
    let bulk = units("create_bulk_user") + units("record_tally x2") / 2.0 / 25.0;
    let benchmarks = include_str!("../../docs/benchmarks.md");
    let line = benchmarks.lines().find(|l| l.starts_with("| deletion (operator list, per account) |")).unwrap();
    let deletion: f64 = line.split('|').nth(3).unwrap().trim().parse().unwrap();
    (bulk, deletion + 2.0)
}

/// A first import must not throttle the table: the row jobs' peak write rate, computed from the
/// template's numbers (each worker's event source concurrency x batch size x rows a second a
/// message, from `LEARNERS_ROW_MIN_MILLIS`) and the measured write units per row, stays under
/// three quarters of the table's warm write throughput (the rest for sign-ins and the like),
/// and their audit entries under 1,000 writes a second in each partition of the `feed` index
/// (a day's entries over `FEED_SHARDS` partitions).
#[test]
fn bulk_and_deletion_peaks_stay_under_the_tables_warm_throughput() {
    let doc = template();
    let warm = doc["Resources"]["Table"]["Properties"]["WarmThroughput"]["WriteUnitsPerSecond"].as_i64().unwrap();
    assert!(warm >= 4_000, "a new on-demand table's warm throughput is 4,000 WRU/s");
    let (bulk_wru, deletion_wru) = write_units_per_row();
    assert!(bulk_wru >= 16.0 && deletion_wru >= 17.0, "{bulk_wru} {deletion_wru}");
    let rows_per_second = |function: &str| -> f64 {
        let properties = &doc["Resources"][function]["Properties"];
        let events: Vec<_> = properties["Events"].as_hash().unwrap().values().collect();
        assert_eq!(events.len(), 1, "{function}");
        let concurrency = events[0]["Properties"]["ScalingConfig"]["MaximumConcurrency"].as_i64().unwrap();
        let batch = events[0]["Properties"]["BatchSize"].as_i64().unwrap();
        let pace = properties["Environment"]["Variables"]["LEARNERS_ROW_MIN_MILLIS"].as_i64().unwrap_or(0);
        assert!(pace > 0, "{function}: no pace, so no bound");
        // The messages of a batch run side by side, a message's rows one after another.
        (concurrency * batch) as f64 * 1000.0 / pace as f64
    };
    let bulk = rows_per_second("BulkWorkerFunction");
    let deletion = rows_per_second("DeletionWorkerFunction");
    let peak = bulk * bulk_wru + deletion * deletion_wru;
    println!("bulk {bulk} rows/s x {bulk_wru} WRU + deletion {deletion} rows/s x {deletion_wru} WRU = {peak} WRU/s");
    assert!(peak <= 0.75 * warm as f64, "peak {peak} WRU/s against a warm {warm} WRU/s");
    // The entries of a day spread over the feed's shards (by their ids): each takes 1,000.
    let shards = learners::adapters::aws::FEED_SHARDS as f64;
    assert!(
        (bulk + deletion) / shards <= 1_000.0,
        "audit entries {} a second over {shards} feed partitions",
        bulk + deletion
    );
}

/// The meter's indexes are the table's: the attribute that puts an item in each, and whether
/// the index holds the whole item.
#[test]
fn the_capacity_meter_knows_the_tables_indexes() {
    let doc = template();
    let indexes = doc["Resources"]["Table"]["Properties"]["GlobalSecondaryIndexes"].as_vec().unwrap();
    let from_template: std::collections::BTreeSet<(String, Option<String>, bool)> = indexes
        .iter()
        .map(|index| {
            let key = |kind: &str| {
                index["KeySchema"]
                    .as_vec()
                    .unwrap()
                    .iter()
                    .find(|k| k["KeyType"].as_str() == Some(kind))
                    .map(|k| k["AttributeName"].as_str().unwrap().to_owned())
            };
            (key("HASH").unwrap(), key("RANGE"), index["Projection"]["ProjectionType"].as_str() == Some("ALL"))
        })
        .collect();
    assert_eq!(from_template.len(), indexes.len(), "two indexes with the same keys");
    let meter: std::collections::BTreeSet<(String, Option<String>, bool)> = learners::adapters::capacity::INDEXES
        .iter()
        .map(|(hash, range, whole)| (hash.to_string(), range.map(str::to_owned), *whole))
        .collect();
    assert_eq!(meter, from_template);
}

/// Point 9 of issue 24, each in the template: a redrive only after at least 5 receives (AWS's
/// advice for a Lambda consumer), the throttle alarm on the indexes too, SES reputation alarms,
/// one origin with a domain, a failed first create leaves no table, a sender that is an address.
#[test]
fn the_edges_of_aws_are_in_the_template() {
    let doc = template();
    let resources = &doc["Resources"];
    // MaxReceiveCount: at least 5, and every redrive policy uses it.
    let receives = &doc["Parameters"]["MaxReceiveCount"];
    assert!(receives["Default"].as_i64().unwrap() >= 5 && receives["MinValue"].as_i64().unwrap() >= 5);
    let mut redriven = 0;
    for (name, resource) in resources.as_hash().unwrap() {
        if resource["Type"].as_str() == Some("AWS::SQS::Queue") && !name.as_str().unwrap().ends_with("DeadLetterQueue")
        {
            assert_eq!(resource["Properties"]["RedrivePolicy"]["maxReceiveCount"].as_str(), Some("MaxReceiveCount"));
            redriven += 1;
        }
    }
    assert_eq!(redriven, 4);
    // The throttle alarm: the table's reads and writes and every index's, all summed.
    // Several alarms (CloudWatch takes at most 10 metrics an alarm), each summing all of its own.
    let mut metrics = Vec::new();
    for name in ["TableThrottlesAlarm", "UserIndexThrottlesAlarm", "LockJobIndexThrottlesAlarm"] {
        let own = resources[name]["Properties"]["Metrics"].as_vec().unwrap();
        assert!(own.len() <= 10, "{name}: {} metrics", own.len());
        let expression = own.iter().find_map(|m| m["Expression"].as_str()).unwrap();
        for metric in own.iter().filter(|m| !m["MetricStat"].is_badvalue()) {
            assert!(expression.contains(metric["Id"].as_str().unwrap()), "{expression}");
        }
        metrics.extend(own.iter().cloned());
    }
    let watched = |index: &str, name: &str| {
        metrics.iter().any(|m| {
            let metric = &m["MetricStat"]["Metric"];
            metric["MetricName"].as_str() == Some(name)
                && metric["Dimensions"].as_vec().unwrap().iter().any(|d| {
                    d["Name"].as_str() == Some("GlobalSecondaryIndexName") && d["Value"].as_str() == Some(index)
                })
        })
    };
    let indexes = resources["Table"]["Properties"]["GlobalSecondaryIndexes"].as_vec().unwrap();
    assert!(!indexes.is_empty());
    for index in indexes {
        let index = index["IndexName"].as_str().unwrap();
        assert!(watched(index, "WriteThrottleEvents") && watched(index, "ReadThrottleEvents"), "{index}");
    }
    // SES reputation, at the rates where SES reviews an account.
    for (metric, threshold) in [("Reputation.BounceRate", 0.05), ("Reputation.ComplaintRate", 0.001)] {
        let alarm = resources
            .as_hash()
            .unwrap()
            .values()
            .find(|r| r["Properties"]["MetricName"].as_str() == Some(metric))
            .unwrap_or_else(|| panic!("no alarm on {metric}"));
        assert_eq!(alarm["Properties"]["Namespace"].as_str(), Some("AWS/SES"));
        assert_eq!(alarm["Properties"]["Threshold"].as_f64(), Some(threshold), "{metric}");
        assert_eq!(strings(&alarm["Properties"]["AlarmActions"]), vec!["AlarmTopic"]);
    }
    // With a domain, the execute-api address is off.
    let disable = &resources["HttpApi"]["Properties"]["DisableExecuteApiEndpoint"];
    assert_eq!(
        (disable[0].as_str(), disable[1].as_bool(), disable[2].as_bool()),
        (Some("HasDomain"), Some(true), Some(false))
    );
    // The table: kept on delete and replacement, removed when its own first create fails.
    assert_eq!(resources["Table"]["DeletionPolicy"].as_str(), Some("RetainExceptOnCreate"));
    assert_eq!(resources["Table"]["UpdateReplacePolicy"].as_str(), Some("Retain"));
}

/// `MailFrom` must be a plain address: the mail worker's policy takes its domain after the `@`
/// and pins `ses:FromAddress` to it, so a display name or a list would break both.
#[test]
fn mail_from_is_a_plain_address() {
    let doc = template();
    let pattern = doc["Parameters"]["MailFrom"]["AllowedPattern"].as_str().unwrap().to_owned();
    let check = |value: &str| {
        let status = Command::new("python3")
            .args([
                "-c",
                "import re, sys; sys.exit(0 if re.fullmatch(sys.argv[1], sys.argv[2]) else 1)",
                &pattern,
                value,
            ])
            .status()
            .unwrap();
        status.success()
    };
    for good in ["no-reply@learn.example.org", "ops+learners@mail.example.co.uk"] {
        assert!(check(good), "{good}");
    }
    for bad in ["", "no-reply", "Learners <no-reply@learn.example.org>", "a@b", "a@b.org,c@d.org", "a b@c.org"] {
        assert!(!check(bad), "{bad:?}");
    }
}

/// `make smoke URL=...` against the local gateway (a site on its own loopback address): every
/// check answers, and the registration it makes really mails its address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn make_smoke_passes_against_a_running_site_and_its_registration_is_mailed() {
    let app = learners_tests::TestApp::spawn_site(learners_tests::Backend::Memory, &[]).await;
    let address = learners_tests::email("smoke-");
    let script = workspace().join("infra/tools/smoke.sh");
    let url = app.url("");
    let out = tokio::process::Command::new("bash")
        .arg(&script)
        .arg(&url)
        .env("SMOKE_EMAIL", &address)
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    for line in ["ok    page /register (200)", "ok    OIDC discovery", "ok    registration of", "smoke: all answered"] {
        assert!(text.contains(line), "{line}: {text}");
    }
    app.settle().await;
    assert_eq!(app.mail_to(&address).await.len(), 1, "the registration's activation mail");
    // Against an address that is not the site: it fails, saying what.
    let out = tokio::process::Command::new("bash").arg(&script).arg("http://127.0.0.1:9").output().await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("FAIL  page /register"));
}

/// `make deploy-guided` and `make deploy` call SAM as the guide says, run with a stand-in `sam`
/// (`-o build`: nothing is built). `make deploy` takes the architecture `make build` built
/// and `PARAMS` changes a saved parameter and saves it.
#[test]
fn make_deploy_targets_call_sam_as_documented() {
    let dir = std::env::temp_dir().join(learners_tests::unique("make-deploy-"));
    stage(&dir, Some(SAVED), Some("x86_64"));
    std::fs::copy(workspace().join("Makefile"), dir.join("Makefile")).unwrap();
    let make = |args: &[&str]| {
        let out = Command::new("make").arg("-C").arg(&dir).arg("-o").arg("build").args(args).output().unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
    };
    let (code, out, err) = make(&["deploy-guided"]);
    assert_eq!(code, 0, "{err}");
    for expected in ["[deploy]", "[--guided]", "[--capabilities]", "[CAPABILITY_IAM]", "[Architecture=x86_64]"] {
        assert!(out.contains(expected), "{expected}: {out}");
    }
    let (code, out, err) = make(&["deploy"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(r#"Architecture="x86_64""#) && !out.contains("[--save-params]"), "{out}");
    let (code, out, err) = make(&["deploy", r#"PARAMS=SiteName="Our School" SandboxRecipients="#]);
    assert_eq!(code, 0, "{err}");
    let overrides = out.lines().skip_while(|l| *l != "[--parameter-overrides]").nth(1).expect("overrides");
    assert!(overrides.contains(r#"SiteName="Our School""#) && !overrides.contains("My School"), "{overrides}");
    assert!(overrides.contains(r#"SandboxRecipients="""#), "{overrides}");
    assert!(out.contains("[--save-params]"), "{out}");
    std::fs::remove_dir_all(&dir).ok();
}

/// `make deploy` with a Python older than 3.11 in the virtualenv stops, saying what to do.
#[test]
fn make_deploy_needs_python_3_11_and_says_so() {
    let dir = std::env::temp_dir().join(learners_tests::unique("deploy-py-"));
    stage(&dir, Some(SAVED), Some("arm64"));
    let python = dir.join(".venv/bin/python");
    std::fs::remove_file(&python).unwrap();
    std::fs::write(&python, "#!/bin/sh\n[ \"$1\" = --version ] && echo 'Python 3.9.2' && exit 0\nexit 1\n").unwrap();
    Command::new("chmod").arg("+x").arg(&python).status().unwrap();
    let (code, out, err) = run(&dir);
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("Python 3.11 or later") && err.contains("Python 3.9.2"), "{err}");
    assert!(!out.contains("[deploy]"), "sam was not called");
    std::fs::remove_dir_all(&dir).ok();
}

/// The deployment guide answers what a newcomer meets: every function SAM asks about ("has no
/// authentication. Is this okay?") by name, the account's Lambda quota, the certificate's
/// validation, the first operator without mail, and a teardown that writes the table's name
/// down before the stack (and its outputs) is gone and says how to remove SAM's own stack.
#[test]
fn the_deployment_guide_answers_the_first_deployment() {
    let guide = std::fs::read_to_string(workspace().join("docs/deploying.md")).unwrap();
    let doc = template();
    let mut public = 0;
    for (name, resource) in doc["Resources"].as_hash().unwrap() {
        let events = resource["Properties"]["Events"].as_hash().into_iter().flat_map(|e| e.values());
        if events.into_iter().any(|e| e["Type"].as_str() == Some("HttpApi") && e["Properties"]["Auth"].is_badvalue()) {
            let name = name.as_str().unwrap();
            let asked = [format!("`{name}`"), format!("`{name} has no authentication")];
            assert!(asked.iter().any(|a| guide.contains(a)), "the guide does not answer SAM's question about {name}");
            public += 1;
        }
    }
    assert!(guide.contains(&format!(
        "`y` for each of the {}",
        ["", "", "", "", "", "", "", "", "", "", "", "eleven", "twelve", "thirteen"][public]
    )));
    for needed in [
        "L-B99A9384",
        "aws acm wait certificate-validated",
        "learnerctl activate",
        "learnerctl operators grant",
        "make deploy PARAMS=",
        "make smoke URL=",
        "Python 3.11",
        "rustup",
        "aws-sam-cli-managed-default",
    ] {
        assert!(guide.contains(needed), "the guide lacks {needed}");
    }
    let teardown = &guide[guide.find("## Teardown").unwrap()..];
    let recorded = teardown.find("learners-table-name.txt").unwrap();
    assert!(recorded < teardown.find("sam delete --stack-name").unwrap(), "the table's name is written down first");
    let gitignore = std::fs::read_to_string(workspace().join(".gitignore")).unwrap();
    assert!(gitignore.lines().any(|l| l.trim() == "samconfig.toml"));
}
