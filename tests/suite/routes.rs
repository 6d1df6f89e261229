//! The gateway, `template.yaml` and `openapi.yaml` cannot drift apart.

use learners::handlers::{self, HTTP_HANDLERS, WORKER_HANDLERS};
use learners_gateway::routes::TEMPLATE;
use learners_gateway::RouteTable;
use learners_tests::{fake_request, memory_app};
use std::collections::BTreeSet;
use yaml_rust2::YamlLoader;

fn template_routes() -> RouteTable {
    RouteTable::from_template(TEMPLATE).expect("template.yaml parses")
}

#[test]
fn every_template_route_has_a_handler_and_every_handler_a_route() {
    let routes = template_routes();
    let binaries: BTreeSet<&str> = routes.routes.iter().map(|r| r.binary.as_str()).collect();
    for binary in &binaries {
        assert!(handlers::by_binary(binary).is_some(), "template binary {binary} has no handler");
    }
    let known: BTreeSet<&str> = HTTP_HANDLERS.iter().map(|(name, _)| *name).collect();
    assert_eq!(binaries, known, "handlers without a template route, or the reverse");
    for binary in &known {
        let crate_dir = format!("{}/../functions/{binary}/Cargo.toml", env!("CARGO_MANIFEST_DIR"));
        assert!(std::path::Path::new(&crate_dir).exists(), "no function crate for {binary}");
    }
}

#[test]
fn every_template_queue_has_a_worker_and_every_worker_a_queue() {
    let routes = template_routes();
    let workers =
        learners_gateway::Workers::from_routes(&routes).expect("every SQS event names a known queue and worker");
    let bound: BTreeSet<&str> = routes.workers.iter().map(|w| w.binary.as_str()).collect();
    let known: BTreeSet<&str> = WORKER_HANDLERS.iter().map(|(name, _)| *name).collect();
    assert_eq!(bound, known);
    for binary in &known {
        assert!(handlers::worker_by_binary(binary).is_some());
        let crate_dir = format!("{}/../functions/{binary}/Cargo.toml", env!("CARGO_MANIFEST_DIR"));
        assert!(std::path::Path::new(&crate_dir).exists(), "no function crate for {binary}");
    }
    assert!(workers.queues().any(|q| q == learners::ports::Queue::Mail));
}

#[tokio::test]
async fn every_handler_answers_its_template_routes() {
    let (app, _parts, _clock) = memory_app();
    for route in template_routes().routes {
        let handler = handlers::by_binary(&route.binary).unwrap();
        let request = fake_request(&route.key(), Some("application/json"), b"{}".to_vec());
        let response = handlers::answer(&app, handler, request).await;
        let body = String::from_utf8_lossy(response.body().as_ref()).into_owned();
        assert!(!body.contains(r#""code":"not_found""#), "{} is not dispatched by {}", route.key(), route.binary);
        assert!(response.status().as_u16() < 500, "{} answered {}", route.key(), response.status());
    }
}

#[test]
fn admin_routes_and_only_they_are_iam_authorised() {
    for route in template_routes().routes {
        assert_eq!(route.iam, route.path.starts_with("/admin/"), "{}", route.key());
    }
}

#[test]
fn openapi_lists_exactly_the_template_routes() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.yaml")).unwrap();
    let doc = &YamlLoader::load_from_str(&text).unwrap()[0];
    let mut documented = BTreeSet::new();
    for (path, operations) in doc["paths"].as_hash().expect("openapi paths") {
        for (method, _) in operations.as_hash().unwrap() {
            documented.insert(format!("{} {}", method.as_str().unwrap().to_uppercase(), path.as_str().unwrap()));
        }
    }
    // `$default` (the catch-all not-found) is no path of the API.
    let deployed: BTreeSet<String> =
        template_routes().routes.iter().filter(|r| !r.is_default()).map(|r| r.key()).collect();
    assert_eq!(documented, deployed);
}

/// Each queue's policy lets exactly the functions whose own policy sends to it send (a
/// template test: adding a sender without its queue policy, or the reverse, fails here).
#[test]
fn every_queue_takes_messages_only_from_the_functions_that_send_to_it() {
    use std::collections::BTreeMap;
    let doc = &YamlLoader::load_from_str(TEMPLATE).unwrap()[0];
    let resources = doc["Resources"].as_hash().unwrap();
    let strings = |value: &yaml_rust2::Yaml| -> Vec<String> {
        match value {
            yaml_rust2::Yaml::Array(items) => items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect(),
            other => other.as_str().map(|s| vec![s.to_owned()]).unwrap_or_default(),
        }
    };
    let mut senders: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut allowed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, resource) in resources {
        let name = name.as_str().unwrap();
        match resource["Type"].as_str() {
            Some("AWS::Serverless::Function") => {
                for policy in resource["Properties"]["Policies"].as_vec().into_iter().flatten() {
                    for statement in policy["Statement"].as_vec().into_iter().flatten() {
                        if strings(&statement["Action"]).iter().any(|a| a == "sqs:SendMessage") {
                            for queue in strings(&statement["Resource"]) {
                                let queue = queue.trim_end_matches(".Arn").to_owned();
                                senders.entry(queue).or_default().insert(format!("{name}Role.Arn"));
                            }
                        }
                    }
                }
            }
            Some("AWS::SQS::QueuePolicy") => {
                let queue = strings(&resource["Properties"]["Queues"]).concat();
                let statements = resource["Properties"]["PolicyDocument"]["Statement"].as_vec().unwrap();
                if queue == "MailEventsQueue" {
                    // SES events arrive through SNS: the one sender is the stack's own topic (its
                    // explicit Deny of every other: policies::the_mail_events_topic_and_queue_...).
                    let allows: Vec<_> = statements.iter().filter(|s| s["Effect"].as_str() == Some("Allow")).collect();
                    assert_eq!(allows.len(), 1);
                    assert_eq!(allows[0]["Principal"]["Service"].as_str(), Some("sns.amazonaws.com"));
                    assert_eq!(allows[0]["Condition"]["ArnEquals"]["aws:SourceArn"].as_str(), Some("MailEventsTopic"));
                    continue;
                }
                let deny = statements
                    .iter()
                    .find(|s| s["Effect"].as_str() == Some("Deny") && s["Action"].as_str() == Some("sqs:SendMessage"))
                    .unwrap_or_else(|| panic!("{name} denies no sender"));
                let roles = strings(&deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]);
                allowed.insert(queue, roles.into_iter().collect());
            }
            _ => {}
        }
    }
    assert_eq!(senders.keys().collect::<Vec<_>>(), vec!["BulkQueue", "DeletionQueue", "MailQueue"]);
    assert_eq!(senders, allowed);
}

/// One function sends mail (the mail worker), and only from the site's sender: the SES identity
/// of `MailFrom` (or its domain), with `ses:FromAddress` pinned to it; never `identity/*`.
#[test]
fn mail_may_go_out_only_from_the_sender_identity() {
    let doc = &YamlLoader::load_from_str(TEMPLATE).unwrap()[0];
    let mut senders = 0;
    for (name, resource) in doc["Resources"].as_hash().unwrap() {
        for policy in resource["Properties"]["Policies"].as_vec().into_iter().flatten() {
            for statement in policy["Statement"].as_vec().into_iter().flatten() {
                let actions = format!("{:?}", statement["Action"]);
                if !actions.contains("ses:") {
                    continue;
                }
                senders += 1;
                let resources = format!("{:?}", statement["Resource"]);
                assert!(!resources.contains("identity/*"), "{name:?}: {resources}");
                assert!(resources.contains("identity/${MailFrom}"), "{name:?}: {resources}");
                let condition = &statement["Condition"]["StringEquals"]["ses:FromAddress"];
                assert!(format!("{condition:?}").contains("MailFrom"), "{name:?} has no ses:FromAddress condition");
            }
        }
    }
    assert_eq!(senders, 1, "every mail leaves through the mail worker alone");
}

/// No secret sits in any function's environment; the retirement key is a parameter only the
/// deletion worker may read.
#[test]
fn no_secret_is_in_an_environment_and_each_secret_parameter_is_read_only_where_needed() {
    let doc = &YamlLoader::load_from_str(TEMPLATE).unwrap()[0];
    let globals = format!("{:?}", doc["Globals"]["Function"]["Environment"]);
    assert!(!globals.contains("LEARNERS_RETIREMENT_SECRET\""), "{globals}");
    assert!(doc["Parameters"]["RetirementSecret"].is_badvalue(), "no secret as a stack parameter");
    for (name, resource) in doc["Resources"].as_hash().unwrap() {
        let name = name.as_str().unwrap();
        let environment = format!("{:?}", resource["Properties"]["Environment"]);
        assert!(!environment.contains("SECRET\""), "{name} has a secret in its environment");
        let policies = format!("{:?}", resource["Properties"]["Policies"]);
        // Whoever may read a secret parameter is told its name, and the other way round.
        for (variable, parameter) in [
            ("LEARNERS_RETIREMENT_SECRET_PARAMETER", "RetirementSecretParameter"),
            ("LEARNERS_COUNTER_KEY_PARAMETER", "CounterKeyParameter"),
        ] {
            let told = environment.contains(variable);
            let may_read =
                policies.contains("ssm:GetParameter") && policies.contains(&format!("parameter${{{parameter}}}"));
            assert_eq!(told, may_read, "{name}: {variable} and ssm:GetParameter on {parameter}");
        }
        let retirement = policies.contains("parameter${RetirementSecretParameter}");
        assert_eq!(retirement, name == "DeletionWorkerFunction", "only the deletion worker reads the retirement key");
    }
}

/// What an AWS reviewer asks of the stack before production: logs that expire, a table that
/// survives a delete, visibility timeouts of at least 6x the consumer's timeout, bounded worker
/// concurrency, an alarm on every dead-letter queue, tracing.
#[test]
fn the_stack_is_run_able_in_production() {
    let doc = &YamlLoader::load_from_str(TEMPLATE).unwrap()[0];
    let resources = doc["Resources"].as_hash().unwrap();
    let global_timeout = doc["Globals"]["Function"]["Timeout"].as_i64().unwrap();
    assert_eq!(doc["Globals"]["Function"]["Tracing"].as_str(), Some("PassThrough"), "no X-Ray segments are sent");
    let table = &doc["Resources"]["Table"];
    assert_eq!(table["DeletionPolicy"].as_str(), Some("RetainExceptOnCreate"));
    assert_eq!(table["UpdateReplacePolicy"].as_str(), Some("Retain"));
    assert_eq!(table["Properties"]["DeletionProtectionEnabled"].as_bool(), Some(true));
    assert_eq!(
        table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
        Some(true)
    );
    let log_groups: Vec<String> = resources
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::Logs::LogGroup"))
        .map(|r| {
            assert!(!r["Properties"]["RetentionInDays"].is_badvalue(), "a log group without retention");
            r["Properties"]["LogGroupName"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    let alarmed: Vec<String> = resources
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::CloudWatch::Alarm"))
        .map(|r| format!("{:?} {:?}", r["Properties"]["MetricName"], r["Properties"]["Dimensions"]))
        .collect();
    let alarmed_on = |metric: &str, name: &str| alarmed.iter().any(|a| a.contains(metric) && a.contains(name));
    let mut queues_checked = 0;
    for (name, resource) in resources {
        let name = name.as_str().unwrap();
        match resource["Type"].as_str() {
            Some("AWS::Serverless::Function") => {
                assert!(log_groups.iter().any(|g| g.contains(&format!("${{{name}}}"))), "{name} has no log group");
                assert!(alarmed_on("Errors", name), "no alarm on the errors of {name}");
                assert!(alarmed_on("Throttles", name), "no alarm on the throttles of {name}");
                let memory =
                    resource["Properties"]["MemorySize"].as_str().or(doc["Globals"]["Function"]["MemorySize"].as_str());
                assert!(
                    matches!(memory, Some("FunctionMemory" | "ComputeFunctionMemory")),
                    "{name}: memory is not one of the two measured parameters ({memory:?})"
                );
                let timeout = resource["Properties"]["Timeout"].as_i64().unwrap_or(global_timeout);
                for event in resource["Properties"]["Events"].as_hash().into_iter().flat_map(|e| e.values()) {
                    if event["Type"].as_str() != Some("SQS") {
                        continue;
                    }
                    let props = &event["Properties"];
                    assert!(
                        !props["ScalingConfig"]["MaximumConcurrency"].is_badvalue(),
                        "{name}: no MaximumConcurrency"
                    );
                    let queue = props["Queue"].as_str().unwrap().trim_end_matches(".Arn");
                    let visibility = doc["Resources"][queue]["Properties"]["VisibilityTimeout"].as_i64().unwrap();
                    assert!(
                        visibility >= 6 * timeout,
                        "{queue}: visibility {visibility} s < 6 x {timeout} s of {name}"
                    );
                    queues_checked += 1;
                }
            }
            Some("AWS::SQS::Queue") if name.ends_with("DeadLetterQueue") => {
                assert!(alarmed_on("ApproximateNumberOfMessagesVisible", name), "no alarm on {name}");
            }
            Some("AWS::SQS::Queue") => {
                // One receive limit, the parameter the workers also read (LEARNERS_MAX_RECEIVES).
                let redrive = &resource["Properties"]["RedrivePolicy"];
                assert_eq!(redrive["maxReceiveCount"].as_str(), Some("MaxReceiveCount"), "{name}");
            }
            _ => {}
        }
    }
    assert_eq!(queues_checked, 4);
    let globals = &doc["Globals"]["Function"]["Environment"]["Variables"];
    assert_eq!(globals["LEARNERS_MAX_RECEIVES"].as_str(), Some("MaxReceiveCount"));
    // The API: 5xx rate and table throttles alarmed, access logs without query strings, stage
    // throttling from parameters.
    let math_alarm = |metric: &str| {
        resources.values().any(|r| {
            r["Type"].as_str() == Some("AWS::CloudWatch::Alarm")
                && format!("{:?}", r["Properties"]["Metrics"]).contains(metric)
        })
    };
    assert!(math_alarm("5xx") && math_alarm("WriteThrottleEvents") && math_alarm("ReadThrottleEvents"));
    let api = &doc["Resources"]["HttpApi"]["Properties"];
    let format = api["AccessLogSettings"]["Format"].as_str().expect("HTTP API access logs");
    assert!(serde_json::from_str::<serde_json::Value>(format).is_ok(), "access log lines are JSON: {format}");
    for leaky in ["$context.path", "requestUri", "querystring", "$context.routeKey"] {
        let allowed = leaky == "$context.routeKey";
        assert_eq!(format.contains(leaky), allowed, "access log format and {leaky}");
    }
    assert_eq!(api["DefaultRouteSettings"]["ThrottlingBurstLimit"].as_str(), Some("ApiThrottlingBurstLimit"));
    assert_eq!(api["DefaultRouteSettings"]["ThrottlingRateLimit"].as_str(), Some("ApiThrottlingRateLimit"));
    assert!(!doc["Resources"]["Dashboard"].is_badvalue(), "a dashboard");
    assert!(!doc["Outputs"]["OperatorPolicyArn"].is_badvalue(), "the operators' managed policy is an output");
}

/// Every `LEARNERS_*` variable the service reads is set by the template (from a parameter, or
/// a resource of the stack), so nothing can be configured locally and not in AWS.
#[test]
fn every_variable_the_code_reads_is_set_by_the_template() {
    let doc = &YamlLoader::load_from_str(TEMPLATE).unwrap()[0];
    let sources = [include_str!("../../shared/src/config.rs"), include_str!("../../shared/src/ports.rs")];
    let read: BTreeSet<&str> = sources
        .iter()
        .flat_map(|source| source.split('"'))
        .filter(|s| s.starts_with("LEARNERS_") && s.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .collect();
    assert!(read.len() > 20, "found the variables: {read:?}");
    // Not set in AWS, on purpose: the secrets (their *_PARAMETER names an SSM SecureString),
    // and the mail events queue, which SNS fills and nothing in the service sends to.
    let local_only = ["LEARNERS_COUNTER_KEY", "LEARNERS_RETIREMENT_SECRET", "LEARNERS_MAIL_EVENTS_QUEUE_URL"];
    let parameters = doc["Parameters"].as_hash().unwrap();
    let resources = doc["Resources"].as_hash().unwrap();
    let mut set = std::collections::BTreeMap::new();
    let environments = std::iter::once(&doc["Globals"]["Function"]["Environment"]["Variables"])
        .chain(resources.values().map(|r| &r["Properties"]["Environment"]["Variables"]));
    for variables in environments {
        for (name, value) in variables.as_hash().into_iter().flatten() {
            set.insert(name.as_str().unwrap().to_owned(), value.clone());
        }
    }
    for variable in read.iter().filter(|v| !local_only.contains(v)) {
        let value =
            set.get(*variable).unwrap_or_else(|| panic!("{variable} is read by the code but not set by the template"));
        // `!Ref X` reads as "X": a parameter or a resource; `!Sub`/`!If` are built from them.
        if let Some(reference) = value.as_str() {
            let known = parameters.keys().chain(resources.keys()).any(|k| k.as_str() == Some(reference))
                || reference.contains("${");
            assert!(known, "{variable} = {reference:?} is neither a parameter nor a resource");
        }
    }
    for variable in local_only {
        assert!(!set.contains_key(variable), "{variable} must not be in a function's environment");
    }
}
