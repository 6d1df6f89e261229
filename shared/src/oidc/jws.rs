//! Compact JWS with RS256 (RFC 7515, 7518), assembled here over serde rather than by a JWT
//! crate: the crates that sign (jsonwebtoken, josekit) want the private key in the process,
//! and in AWS it never leaves KMS; the signer port only signs bytes. Verification (of our own
//! `id_token_hint`s) takes the published keys.

use crate::domain::oidc::PublicJwk;
use crate::ports::Signer;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rsa::signature::Verifier;
use serde_json::{json, Value};

/// `header.payload.signature`, signed by the signer's current key (named by `kid`).
pub async fn sign(signer: &dyn Signer, claims: &Value) -> anyhow::Result<String> {
    let key = signer.signing_key().await?;
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": key.kid});
    let input =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let signature = signer.sign_rs256(input.as_bytes()).await?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// The claims of a token signed with RS256 by one of `keys`; None for anything else (another
/// algorithm, `none` included, an unknown key, a bad signature, a malformed token).
pub fn verify(token: &str, keys: &[PublicJwk]) -> Option<Value> {
    let mut parts = token.split('.');
    let (header, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    if header["alg"] != "RS256" {
        return None;
    }
    let key = keys.iter().find(|key| header["kid"].as_str() == Some(key.kid.as_str()))?;
    let public =
        rsa::RsaPublicKey::new(rsa::BigUint::from_bytes_be(&key.n), rsa::BigUint::from_bytes_be(&key.e)).ok()?;
    let verifying = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(public);
    let signature = rsa::pkcs1v15::Signature::try_from(URL_SAFE_NO_PAD.decode(signature).ok()?.as_slice()).ok()?;
    let input = &token[..header_and_payload_len(token)?];
    verifying.verify(input.as_bytes(), &signature).ok()?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

fn header_and_payload_len(token: &str) -> Option<usize> {
    token.rfind('.')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::local_signer::LocalSigner;

    #[tokio::test]
    async fn a_signed_token_verifies_and_any_change_does_not() {
        let signer = LocalSigner::new();
        let token = sign(&signer, &json!({"sub": "a", "aud": "b"})).await.unwrap();
        let keys = signer.public_keys().await.unwrap();
        assert_eq!(verify(&token, &keys).unwrap()["sub"], "a");

        let parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(json!({"sub": "b", "aud": "b"}).to_string());
        assert!(verify(&format!("{}.{forged}.{}", parts[0], parts[2]), &keys).is_none(), "changed claims");
        let none = URL_SAFE_NO_PAD.encode(json!({"alg": "none", "kid": keys[0].kid}).to_string());
        assert!(verify(&format!("{none}.{}.", parts[1]), &keys).is_none(), "alg none");
        assert!(verify(&token, &LocalSigner::new().public_keys().await.unwrap()).is_none(), "another key");
        assert!(verify("a.b", &keys).is_none());
        assert!(verify(&format!("{token}.x"), &keys).is_none());
    }
}
