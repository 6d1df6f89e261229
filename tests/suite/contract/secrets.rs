//! The service's secrets as the AWS adapter reads them (SSM on moto).

use learners_tests::{moto, unique};

/// The retirement key comes from an SSM SecureString (on moto): read decrypted, refused when
/// shorter than 32 characters, missing, or a plain `String` (named in the refusal).
#[tokio::test]
async fn the_retirement_key_is_read_from_a_secure_parameter() {
    use aws_sdk_ssm::types::ParameterType;
    let credentials = aws_sdk_ssm::config::Credentials::new("test", "test", None, None, "emulator");
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto::url())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(credentials)
        .load()
        .await;
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let name = format!("/learners-test/{}", unique("secret-"));
    let value = "a retirement key of more than thirty-two characters";
    ssm.put_parameter().name(&name).value(value).r#type(ParameterType::SecureString).send().await.unwrap();
    assert_eq!(learners::adapters::aws::secret_parameter(&ssm, &name).await.unwrap(), value);
    let short = format!("{name}-short");
    ssm.put_parameter().name(&short).value("too short").r#type(ParameterType::SecureString).send().await.unwrap();
    assert!(learners::adapters::aws::secret_parameter(&ssm, &short).await.is_err());
    assert!(learners::adapters::aws::secret_parameter(&ssm, &format!("{name}-missing")).await.is_err());
    // Both secrets of a function in one call, in the order asked; a missing one is named.
    let second = format!("{name}-second");
    let counter = "a counter key of more than thirty-two characters";
    ssm.put_parameter().name(&second).value(counter).r#type(ParameterType::SecureString).send().await.unwrap();
    let both = learners::adapters::aws::secret_parameters(&ssm, &[&second, &name]).await.unwrap();
    assert_eq!(both, vec![counter.to_owned(), value.to_owned()]);
    let missing = format!("{name}-missing");
    let refused = learners::adapters::aws::secret_parameters(&ssm, &[&name, &missing]).await.unwrap_err().to_string();
    assert!(refused.contains(&missing), "{refused}");
    let plain = format!("{name}-plain");
    ssm.put_parameter().name(&plain).value(value).r#type(ParameterType::String).send().await.unwrap();
    let refused = learners::adapters::aws::secret_parameter(&ssm, &plain).await.unwrap_err().to_string();
    assert!(refused.contains(&plain) && refused.contains("must be a SecureString"), "{refused}");
}

/// A function's SDK configuration comes from the variables Lambda sets and nothing else
/// (`lambda_sdk_config`): on them (pointed at moto) it reads its secrets through its own wiring
/// and reaches DynamoDB; without credentials it refuses to start, naming them.
#[tokio::test]
async fn a_function_reads_its_secrets_and_reaches_aws_on_lambdas_variables_alone() {
    use aws_sdk_ssm::types::ParameterType;
    use learners::adapters::aws::sdk_config_from;
    use learners::wiring::functions;
    let lambda = |name: &str| {
        let value = match name {
            "AWS_REGION" => "us-east-1",
            "AWS_ACCESS_KEY_ID" => "test",
            "AWS_SECRET_ACCESS_KEY" => "test",
            "AWS_SESSION_TOKEN" => "a-session-token",
            "AWS_ENDPOINT_URL" => moto::url(),
            _ => return None,
        };
        Some(value.to_owned())
    };
    let sdk = sdk_config_from(lambda).unwrap();
    let name = format!("/learners-test/{}", unique("counter-"));
    let value = "a counter key of more than thirty-two characters";
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    ssm.put_parameter().name(&name).value(value).r#type(ParameterType::SecureString).send().await.unwrap();
    let read = functions::REGISTER.secrets.expect("register reads its counter key");
    assert_eq!(read(&sdk, &[name.as_str()]).await.unwrap(), vec![value.to_owned()]);
    aws_sdk_dynamodb::Client::new(&sdk).list_tables().send().await.unwrap();
    assert!(functions::MAIL_WORKER.secrets.is_none(), "the mail worker reads no parameter");

    let region_only = |name: &str| (name == "AWS_REGION").then(|| "us-east-1".to_owned());
    let refused = sdk_config_from(region_only).unwrap_err().to_string();
    assert!(refused.contains("AWS_ACCESS_KEY_ID") && refused.contains("AWS_SECRET_ACCESS_KEY"), "{refused}");
    let refused = sdk_config_from(|_: &str| None).unwrap_err().to_string();
    assert!(refused.contains("AWS_REGION"), "{refused}");
}

/// Sealed passwords open for their job and row only, hold no trace of the password, and differ
/// for one password sealed twice; an altered text or another key opens nothing. On the local
/// sealer (a key made at start) and the KMS one (moto); without a key, nothing is sealed.
#[tokio::test]
async fn sealed_secrets_open_for_their_scope_and_number_only() {
    use learners::adapters::aws::{KmsSealer, NoSealer};
    use learners::adapters::sealing::LocalSealer;
    use learners::ports::Sealer;
    use std::sync::Arc;
    let kms = learners_tests::oidc::moto_kms().await;
    let mut keys = Vec::new();
    for _ in 0..2 {
        keys.push(kms.create_key().send().await.unwrap().key_metadata.unwrap().key_id);
    }
    type Pair = (&'static str, Arc<dyn Sealer>, Arc<dyn Sealer>);
    let pairs: [Pair; 2] = [
        ("local", Arc::new(LocalSealer::new().unwrap()), Arc::new(LocalSealer::new().unwrap())),
        ("kms", Arc::new(KmsSealer::new(kms.clone(), &keys[0])), Arc::new(KmsSealer::new(kms.clone(), &keys[1]))),
    ];
    let password = "violet kettle drums 42";
    for (name, sealer, other) in pairs {
        let secrets = vec![(2, password.to_owned()), (3, password.to_owned()), (4, "a second long secret".to_owned())];
        let sealed = sealer.seal("job-a", &secrets).await.unwrap();
        assert_eq!(sealed.len(), 3, "{name}");
        assert!(sealed.iter().all(|s| !s.contains("violet") && !s.contains("kettle")), "{name}: {sealed:?}");
        assert_ne!(sealed[0], sealed[1], "{name}: one password sealed twice gives two texts");
        assert_eq!(sealer.open("job-a", 2, &sealed[0]).await.unwrap(), password, "{name}");
        assert_eq!(sealer.open("job-a", 3, &sealed[1]).await.unwrap(), password, "{name}");
        assert_eq!(sealer.open("job-a", 4, &sealed[2]).await.unwrap(), "a second long secret", "{name}");
        assert!(sealer.open("job-a", 3, &sealed[0]).await.is_err(), "{name}: moved to another row");
        assert!(sealer.open("job-b", 2, &sealed[0]).await.is_err(), "{name}: moved to another job");
        let mut altered = sealed[0].clone();
        let last = altered.pop().unwrap();
        altered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(sealer.open("job-a", 2, &altered).await.is_err(), "{name}: altered");
        assert!(sealer.open("job-a", 2, password).await.is_err(), "{name}: a password kept in clear");
        assert!(other.open("job-a", 2, &sealed[0]).await.is_err(), "{name}: under another key");
        assert!(sealer.seal("job-a", &[]).await.unwrap().is_empty(), "{name}");
    }
    let refused = NoSealer.seal("job-a", &[(2, password.to_owned())]).await.unwrap_err().to_string();
    assert!(refused.contains("LEARNERS_BULK_PASSWORD_KMS_KEY_ID"), "{refused}");
    assert!(NoSealer.open("job-a", 2, "v1.a.b").await.is_err());
}
