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
    let plain = format!("{name}-plain");
    ssm.put_parameter().name(&plain).value(value).r#type(ParameterType::String).send().await.unwrap();
    let refused = learners::adapters::aws::secret_parameter(&ssm, &plain).await.unwrap_err().to_string();
    assert!(refused.contains(&plain) && refused.contains("must be a SecureString"), "{refused}");
}
