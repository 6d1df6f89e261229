//! The OpenID Connect ports under contract: `OidcStore` on the in-memory store and on DynamoDB
//! (moto), `Signer` as the local key and as a KMS key (moto). `COVERAGE` names the tests that
//! pin each method; a test holds it to `shared/src/ports.rs` (as `contract.rs` does for the
//! other ports, which lists these two as covered here).

use learners::adapters::aws::{provision, AwsClients, DynamoStore};
use learners::adapters::local_signer::LocalSigner;
use learners::adapters::memory::MemoryOidcStore;
use learners::domain::oidc::{ClientId, CodeChallenge, CodeRecord, CodeUse, GrantToken, OidcClient, RedirectUri};
use learners::domain::{AuthMethod, Timestamp, Token, UserId};
use learners::oidc::jws;
use learners::ports::{GrantTokenKind, OidcStore, Signer};
use learners_tests::{moto, oidc, unique};
use std::sync::Arc;

const NOW: Timestamp = Timestamp::from_unix(1_800_000_000);

async fn memory_store() -> Arc<dyn OidcStore> {
    Arc::new(MemoryOidcStore::new())
}

async fn dynamo_store() -> Arc<dyn OidcStore> {
    let clients = AwsClients::for_endpoint(moto::url()).await;
    let table = unique("contract-oidc-");
    provision::create_table(&clients.dynamodb, &table).await.expect("table on moto");
    Arc::new(DynamoStore::new(clients.dynamodb, table))
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn memory() {
                super::$name(super::memory_store().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn dynamodb() {
                super::$name(super::dynamo_store().await).await
            }
        }
    )*};
}

contract!(
    applications_are_registered_listed_given_new_secrets_and_deleted,
    a_code_is_consumed_once_under_concurrency,
    tokens_are_kept_apart_by_kind_and_read_back,
    a_refresh_token_rotates_once_under_concurrency,
    a_revoked_family_stays_revoked_until_its_time,
);

fn client(name: &str) -> OidcClient {
    OidcClient {
        id: ClientId::generate(),
        name: name.to_owned(),
        secret_hash: Some(Token::generate().hash()),
        redirect_uris: vec![RedirectUri::parse("https://lms.example.org/cb").unwrap()],
        post_logout_redirect_uris: vec![RedirectUri::parse("https://lms.example.org/bye").unwrap()],
        created_at: NOW,
    }
}

fn code(client: &OidcClient) -> (Token, CodeRecord) {
    let token = Token::generate();
    let record = CodeRecord {
        hash: token.hash(),
        family: uuid::Uuid::now_v7().to_string(),
        client_id: client.id.clone(),
        user_id: UserId::generate(),
        redirect_uri: client.redirect_uris[0].clone(),
        scope: "openid email".into(),
        nonce: Some("n-0S6_WzA2Mj".into()),
        code_challenge: Some(CodeChallenge::of("a-verifier-of-forty-three-characters-or-more-xx")),
        auth_time: NOW,
        methods: vec![AuthMethod::Password, AuthMethod::AuthenticatorCode],
        auth_epoch: 3,
        created_at: NOW,
        expires_at: NOW.plus_seconds(60),
        used_at: None,
    };
    (token, record)
}

fn grant(family: &str) -> GrantToken {
    GrantToken {
        hash: Token::generate().hash(),
        family: family.to_owned(),
        client_id: ClientId::generate(),
        user_id: UserId::generate(),
        scope: "openid offline_access".into(),
        auth_time: NOW,
        methods: vec![AuthMethod::Passkey],
        auth_epoch: 1,
        created_at: NOW,
        expires_at: NOW.plus_seconds(600),
        used_at: None,
    }
}

async fn applications_are_registered_listed_given_new_secrets_and_deleted(store: Arc<dyn OidcStore>) {
    let lms = client("LMS");
    let mut public = client("App");
    public.secret_hash = None;
    public.post_logout_redirect_uris = vec![];
    store.create_client(&lms).await.unwrap();
    store.create_client(&public).await.unwrap();
    assert!(store.create_client(&lms).await.is_err(), "an id is registered once");
    assert_eq!(store.client(&lms.id).await.unwrap(), Some(lms.clone()));
    assert_eq!(store.client(&public.id).await.unwrap(), Some(public.clone()));
    assert_eq!(store.client(&ClientId::generate()).await.unwrap(), None);
    let mut listed = store.clients().await.unwrap();
    listed.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(listed, vec![lms.clone(), public.clone()]);

    let secret = Token::generate().hash();
    assert!(store.set_client_secret(&lms.id, &secret).await.unwrap());
    assert!(!store.set_client_secret(&ClientId::generate(), &secret).await.unwrap());
    assert_eq!(store.client(&lms.id).await.unwrap().unwrap().secret_hash, Some(secret.clone()));
    let listed = store.clients().await.unwrap();
    assert_eq!(listed.iter().find(|c| c.id == lms.id).unwrap().secret_hash, Some(secret), "the list agrees");

    assert!(store.delete_client(&lms.id).await.unwrap());
    assert!(!store.delete_client(&lms.id).await.unwrap(), "gone already");
    assert_eq!(store.client(&lms.id).await.unwrap(), None);
    assert_eq!(store.clients().await.unwrap(), vec![public]);
}

async fn a_code_is_consumed_once_under_concurrency(store: Arc<dyn OidcStore>) {
    let lms = client("LMS");
    let (_, record) = code(&lms);
    store.put_code(&record).await.unwrap();
    let attempts = (0..8).map(|_| {
        let store = store.clone();
        let hash = record.hash.clone();
        tokio::spawn(async move { store.consume_code(&hash, NOW.plus_seconds(1)).await.unwrap() })
    });
    let uses = futures_join(attempts).await;
    let consumed: Vec<_> = uses.iter().filter(|u| matches!(u, CodeUse::Consumed(_))).collect();
    assert_eq!(consumed.len(), 1, "{uses:?}");
    let expected = CodeRecord { used_at: Some(NOW.plus_seconds(1)), ..record.clone() };
    assert_eq!(consumed[0], &CodeUse::Consumed(expected.clone()));
    assert!(uses.iter().all(|u| matches!(u, CodeUse::Consumed(_)) || *u == CodeUse::AlreadyUsed(expected.clone())));
    assert_eq!(store.consume_code(&Token::generate().hash(), NOW).await.unwrap(), CodeUse::Unknown);
    // A code without nonce and challenge reads back the same.
    let (_, mut bare) = code(&lms);
    bare.nonce = None;
    bare.code_challenge = None;
    store.put_code(&bare).await.unwrap();
    assert_eq!(
        store.consume_code(&bare.hash, NOW).await.unwrap(),
        CodeUse::Consumed(CodeRecord { used_at: Some(NOW), ..bare })
    );
}

async fn futures_join<T: Send + 'static>(tasks: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut results = Vec::new();
    for task in tasks.collect::<Vec<_>>() {
        results.push(task.await.unwrap());
    }
    results
}

async fn tokens_are_kept_apart_by_kind_and_read_back(store: Arc<dyn OidcStore>) {
    let access = grant("family-a");
    store.put_token(GrantTokenKind::Access, &access).await.unwrap();
    assert_eq!(store.grant_token(GrantTokenKind::Access, &access.hash).await.unwrap(), Some(access.clone()));
    assert_eq!(
        store.grant_token(GrantTokenKind::Refresh, &access.hash).await.unwrap(),
        None,
        "an access token refreshes nothing"
    );
    let refresh = grant("family-a");
    store.put_token(GrantTokenKind::Refresh, &refresh).await.unwrap();
    assert_eq!(store.grant_token(GrantTokenKind::Refresh, &refresh.hash).await.unwrap(), Some(refresh.clone()));
    assert_eq!(store.grant_token(GrantTokenKind::Access, &refresh.hash).await.unwrap(), None);
}

async fn a_refresh_token_rotates_once_under_concurrency(store: Arc<dyn OidcStore>) {
    let first = grant("family-r");
    store.put_token(GrantTokenKind::Refresh, &first).await.unwrap();
    let attempts = (0..6).map(|_| {
        let store = store.clone();
        let used = first.hash.clone();
        let next = GrantToken { hash: Token::generate().hash(), ..first.clone() };
        tokio::spawn(async move {
            let rotated = store.rotate_refresh_token(&used, &next, NOW.plus_seconds(5)).await.unwrap();
            (rotated, next)
        })
    });
    let results = futures_join(attempts).await;
    let winners: Vec<_> = results.iter().filter(|(rotated, _)| *rotated).collect();
    assert_eq!(winners.len(), 1, "exactly one rotation");
    let used = store.grant_token(GrantTokenKind::Refresh, &first.hash).await.unwrap().unwrap();
    assert_eq!(used.used_at, Some(NOW.plus_seconds(5)));
    let next = &winners[0].1;
    assert_eq!(store.grant_token(GrantTokenKind::Refresh, &next.hash).await.unwrap().as_ref(), Some(next));
    for (_, loser) in results.iter().filter(|(rotated, _)| !*rotated) {
        assert_eq!(
            store.grant_token(GrantTokenKind::Refresh, &loser.hash).await.unwrap(),
            None,
            "a loser stored nothing"
        );
    }
    let unknown = grant("family-r");
    assert!(!store.rotate_refresh_token(&Token::generate().hash(), &unknown, NOW).await.unwrap());
}

async fn a_revoked_family_stays_revoked_until_its_time(store: Arc<dyn OidcStore>) {
    assert!(!store.family_revoked("family-x", NOW).await.unwrap());
    store.revoke_family("family-x", NOW.plus_seconds(100)).await.unwrap();
    assert!(store.family_revoked("family-x", NOW).await.unwrap());
    assert!(store.family_revoked("family-x", NOW.plus_seconds(100)).await.unwrap());
    assert!(!store.family_revoked("family-x", NOW.plus_seconds(101)).await.unwrap(), "forgotten after");
    assert!(!store.family_revoked("family-y", NOW).await.unwrap(), "only that family");
}

// ---- Signer: the local key and a KMS key ----

async fn local_signer() -> Arc<dyn Signer> {
    Arc::new(LocalSigner::new())
}

async fn kms_signer() -> Arc<dyn Signer> {
    Arc::new(oidc::moto_signer().await)
}

macro_rules! signer_contract {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn local() {
                super::$name(super::local_signer().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn kms() {
                super::$name(super::kms_signer().await).await
            }
        }
    )*};
}

signer_contract!(signatures_verify_with_the_published_key_and_only_it);

async fn signatures_verify_with_the_published_key_and_only_it(signer: Arc<dyn Signer>) {
    let key = signer.signing_key().await.unwrap();
    let published = signer.public_keys().await.unwrap();
    assert_eq!(published.first(), Some(&key), "the signing key is published");
    assert_eq!(key.e, vec![1, 0, 1]);
    assert_eq!(key.n.len(), 256, "RSA 2048");
    let signature = signer.sign_rs256(b"header.payload").await.unwrap();
    assert_eq!(signature.len(), 256);
    let token = jws::sign(signer.as_ref(), &serde_json::json!({"sub": "x"})).await.unwrap();
    assert_eq!(jws::verify(&token, &published).unwrap()["sub"], "x");
    let parts: Vec<&str> = token.split('.').collect();
    use base64::Engine;
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"sub":"y"}"#);
    assert!(jws::verify(&format!("{}.{forged}.{}", parts[0], parts[2]), &published).is_none(), "claims changed");
    // Signatures of the same bytes by PKCS#1 v1.5 are deterministic: the raw one is the JWS's.
    let input = &token[..token.rfind('.').unwrap()];
    let raw = signer.sign_rs256(input.as_bytes()).await.unwrap();
    assert_eq!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw), &token[token.rfind('.').unwrap() + 1..]);
}

/// Key rotation in AWS: the stack's signing key becomes a new KMS key and the old one's id is
/// listed in `OidcPreviousKeyIds`. Tokens signed before still verify against the JWKS (the old
/// public key stays published beside the new one); new tokens are signed by the new key only.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_a_key_rotation_the_jwks_verifies_old_and_new_tokens() {
    use learners::adapters::aws::KmsSigner;
    let kms = oidc::moto_kms().await;
    let (old_key, new_key) = (oidc::moto_signing_key(&kms).await, oidc::moto_signing_key(&kms).await);
    let before = KmsSigner::new(kms.clone(), &old_key, &[]);
    let old_token = jws::sign(&before, &serde_json::json!({"sub": "before"})).await.unwrap();
    let after = KmsSigner::new(kms, &new_key, std::slice::from_ref(&old_key));
    let published = after.public_keys().await.unwrap();
    assert_eq!(published.len(), 2, "the new key and the previous one");
    assert_eq!(published[0], after.signing_key().await.unwrap(), "the new key signs");
    assert_ne!(published[0].kid, published[1].kid);
    assert_eq!(jws::verify(&old_token, &published).unwrap()["sub"], "before", "an old token still verifies");
    let new_token = jws::sign(&after, &serde_json::json!({"sub": "after"})).await.unwrap();
    assert_eq!(jws::verify(&new_token, &published).unwrap()["sub"], "after");
    assert!(jws::verify(&new_token, &published[1..]).is_none(), "new tokens are not signed by the old key");
}

/// Which tests pin each method of the OIDC ports (held to `ports.rs` below).
const COVERAGE: &[(&str, &[&str])] = &[
    ("OidcStore::create_client", &["applications_are_registered_listed_given_new_secrets_and_deleted"]),
    ("OidcStore::client", &["applications_are_registered_listed_given_new_secrets_and_deleted"]),
    ("OidcStore::clients", &["applications_are_registered_listed_given_new_secrets_and_deleted"]),
    ("OidcStore::delete_client", &["applications_are_registered_listed_given_new_secrets_and_deleted"]),
    ("OidcStore::set_client_secret", &["applications_are_registered_listed_given_new_secrets_and_deleted"]),
    ("OidcStore::put_code", &["a_code_is_consumed_once_under_concurrency"]),
    ("OidcStore::consume_code", &["a_code_is_consumed_once_under_concurrency"]),
    ("OidcStore::put_token", &["tokens_are_kept_apart_by_kind_and_read_back"]),
    (
        "OidcStore::grant_token",
        &["tokens_are_kept_apart_by_kind_and_read_back", "a_refresh_token_rotates_once_under_concurrency"],
    ),
    ("OidcStore::rotate_refresh_token", &["a_refresh_token_rotates_once_under_concurrency"]),
    ("OidcStore::revoke_family", &["a_revoked_family_stays_revoked_until_its_time"]),
    ("OidcStore::family_revoked", &["a_revoked_family_stays_revoked_until_its_time"]),
    ("Signer::signing_key", &["signatures_verify_with_the_published_key_and_only_it"]),
    ("Signer::sign_rs256", &["signatures_verify_with_the_published_key_and_only_it"]),
    ("Signer::public_keys", &["signatures_verify_with_the_published_key_and_only_it"]),
];

#[test]
fn every_oidc_port_method_is_under_contract_on_both_adapters() {
    let ports = include_str!("../../shared/src/ports.rs");
    let source = include_str!("contract_oidc.rs");
    let mut methods = Vec::new();
    let mut current = None;
    for line in ports.lines() {
        if let Some(rest) = line.strip_prefix("pub trait ") {
            current = Some(rest.split(':').next().unwrap().trim().to_owned());
        } else if line == "}" {
            current = None;
        } else if let Some(port @ ("OidcStore" | "Signer")) = current.as_deref() {
            let line = line.trim_start();
            if let Some(rest) = line.strip_prefix("async ").unwrap_or(line).strip_prefix("fn ") {
                let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                methods.push(format!("{port}::{name}"));
            }
        }
    }
    assert_eq!(methods.len(), COVERAGE.len(), "{methods:?}");
    for (method, tests) in COVERAGE {
        assert!(methods.contains(&method.to_string()), "{method} is not in ports.rs");
        let call = format!(".{}(", method.split("::").nth(1).unwrap());
        for test in *tests {
            let start = source.find(&format!("async fn {test}(")).unwrap_or_else(|| panic!("no test {test}"));
            let end = start + source[start..].find("\n}\n").unwrap();
            assert!(source[start..end].contains(&call), "{test} never calls {method}");
            let listed = source.find(&format!("    {test},\n")).is_some()
                || source.contains(&format!("signer_contract!({test});"));
            assert!(listed, "{test} does not run on both adapters");
        }
    }
}
