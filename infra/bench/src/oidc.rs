//! OpenID Connect: code exchanges per second through the token endpoint's handler (client
//! authentication, the code used once, two tokens stored, the ID token signed) against raw
//! RS256 signatures per second by the same signer, in the same run (in memory, local key). In
//! AWS the signature is a KMS call instead (about $0.15 per 10,000): see docs/connecting-an-lms.md.

use crate::harness::{active_user, memory_app, request, spread, Report};
use learners::domain::oidc::{ClientId, CodeRecord, OidcClient, RedirectUri, CODE_TTL_SECONDS};
use learners::domain::{Token, UserSource};
use learners::ports::Signer;
use std::sync::Arc;

const REDIRECT: &str = "https://lms.example.org/auth/complete/oidc/";

/// Raw RS256 signatures per second of an ID-token-sized message.
async fn raw_signature_rate(signer: Arc<dyn Signer>, total: usize, workers: usize) -> anyhow::Result<f64> {
    signer.sign_rs256(b"warm-up: the key is made on first use").await?;
    let message = Arc::new(vec![b'x'; 900]);
    spread(total, workers, move |_| {
        let (signer, message) = (signer.clone(), message.clone());
        async move {
            signer.sign_rs256(&message).await?;
            Ok(())
        }
    })
    .await
}

/// Code exchanges per second through `handlers::oidc_token`, codes made beforehand.
async fn exchange_rate(total: usize, workers: usize) -> anyhow::Result<(f64, f64)> {
    let app = memory_app();
    let now = app.clock.now();
    let user = active_user("learner@example.com", "learner", "Bench Learner", None, UserSource::SelfService, now)?;
    app.store.create_user(&user, None).await?;
    let secret = Token::generate();
    let client = OidcClient {
        id: ClientId::generate(),
        name: "LMS".into(),
        secret_hash: Some(secret.hash()),
        redirect_uris: vec![RedirectUri::parse(REDIRECT)?],
        post_logout_redirect_uris: vec![],
        created_at: now,
    };
    app.oidc.create_client(&client).await?;
    let mut codes = Vec::with_capacity(total);
    for _ in 0..total {
        let code = Token::generate();
        let record = CodeRecord {
            hash: code.hash(),
            family: uuid_like(),
            client_id: client.id.clone(),
            user_id: user.id.clone(),
            redirect_uri: client.redirect_uris[0].clone(),
            scope: "openid profile email".into(),
            nonce: Some("bench".into()),
            code_challenge: None,
            auth_time: now,
            methods: vec![learners::domain::AuthMethod::Password],
            auth_epoch: user.auth_epoch,
            created_at: now,
            // Long enough for the run: the bench measures the exchange, not the clock.
            expires_at: now.plus_seconds(CODE_TTL_SECONDS * 60),
            used_at: None,
        };
        app.oidc.put_code(&record).await?;
        codes.push(code.as_str().to_owned());
    }
    let raw = raw_signature_rate(app.signer.clone(), total, workers).await?;
    let codes = Arc::new(codes);
    let (id, secret) = (client.id.to_string(), secret.as_str().to_owned());
    let exchanges = spread(total, workers, move |i| {
        let (app, codes, id, secret) = (app.clone(), codes.clone(), id.clone(), secret.clone());
        async move {
            let body = url_form(&[
                ("grant_type", "authorization_code"),
                ("code", &codes[i]),
                ("redirect_uri", REDIRECT),
                ("client_id", &id),
                ("client_secret", &secret),
            ]);
            let mut req = request("POST /oauth2/token", body);
            req.headers_mut().insert("content-type", "application/x-www-form-urlencoded".parse()?);
            let response = learners::handlers::oidc_token::handle(&app, req).await;
            anyhow::ensure!(response.status() == 200, "exchange {i} answered {}", response.status());
            Ok(())
        }
    })
    .await?;
    Ok((exchanges, raw))
}

fn uuid_like() -> String {
    ClientId::generate().to_string()
}

fn url_form(pairs: &[(&str, &str)]) -> String {
    let encode = |s: &str| -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

pub async fn report(report: &mut Report, cores: usize) -> anyhow::Result<()> {
    let total = crate::env_number("BENCH_CODE_EXCHANGES", 500);
    let (exchanges, raw) = exchange_rate(total, cores).await?;
    report.ratio(&format!("code exchanges/s ({total}) / raw RS256 signatures/s"), exchanges, raw, ">= 0.5");
    Ok(())
}
