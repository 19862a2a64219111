//! Reading a token without trusting it (`tessera decode`): header, claims, times and what
//! its lifetime matches; and, on request, checking its signature against the keys its issuer
//! publishes. Nothing here accepts a token for use: that is the resource's job.

use serde_json::Value;
use tessera_proto::discovery::{JwkSet, OpenIdConfiguration};
use tessera_proto::lifetime::{self, LifetimeMatch};

use crate::authority::Authority;
use crate::error::ClientError;
use crate::http::TokenHttp;

/// A token's header and claims, unverified.
#[derive(Clone)]
pub struct DecodedToken {
    pub header: Value,
    pub claims: Value,
    /// [`fingerprint`] of the token: names it in logs and listings without revealing it.
    pub fingerprint: String,
    signing_input: String,
    signature: Vec<u8>,
}

impl std::fmt::Debug for DecodedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Claims identify people; the signature is what makes the token usable.
        f.debug_struct("DecodedToken")
            .field("alg", &self.header.get("alg"))
            .finish_non_exhaustive()
    }
}

/// Splits and decodes a compact JWT (an access or ID token).
pub fn decode(token: &str) -> Result<DecodedToken, ClientError> {
    let token = token.trim();
    let token = token
        .strip_prefix("Authorization:")
        .map(str::trim)
        .unwrap_or(token);
    let token = tessera_proto::authorization::credentials(token, "Bearer")
        .unwrap_or(token)
        .trim();
    let parsed = tessera_proto::jwt::parse(token)
        .map_err(|e| ClientError::Invalid(format!("not a JWT: {e}")))?;
    let header_part = &token[..token.find('.').unwrap_or(0)];
    let header: Value = tessera_proto::b64::url_decode(header_part)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| ClientError::Invalid("not a JWT: the header is not JSON".into()))?;
    let claims: Value = serde_json::from_slice(&parsed.payload).map_err(|_| {
        ClientError::Invalid(
            "the token's payload is not JSON (an encrypted or opaque token cannot be decoded)"
                .into(),
        )
    })?;
    if !claims.is_object() {
        return Err(ClientError::Invalid(
            "the token's payload is not a JSON object".into(),
        ));
    }
    Ok(DecodedToken {
        fingerprint: fingerprint(token),
        header,
        signing_input: parsed.signing_input.to_owned(),
        signature: parsed.signature,
        claims,
    })
}

/// `sha256:` and the first 8 bytes of the token's SHA-256 in hex: enough to tell tokens
/// apart, useless to present to a resource.
pub fn fingerprint(token: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let hex: String = d.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Where a verified token's key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub kid: String,
    pub jwks_uri: String,
}

impl DecodedToken {
    fn claim_i64(&self, name: &str) -> Option<i64> {
        let v = self.claims.get(name)?;
        v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))
    }

    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    pub fn issued_at(&self) -> Option<i64> {
        self.claim_i64("iat")
    }

    pub fn not_before(&self) -> Option<i64> {
        self.claim_i64("nbf")
    }

    pub fn expires_at(&self) -> Option<i64> {
        self.claim_i64("exp")
    }

    /// An ID token: no scopes or roles and no client claim (`appid`/`azp`), which every
    /// access token carries.
    pub fn is_id_token(&self) -> bool {
        ["scp", "roles", "appid", "azp"]
            .iter()
            .all(|c| self.claims.get(*c).is_none())
    }

    /// The client declared CAE capability (`xms_cc` holds `cp1`).
    pub fn cae_capable(&self) -> bool {
        self.claims
            .get("xms_cc")
            .and_then(Value::as_array)
            .is_some_and(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .any(|v| v.eq_ignore_ascii_case("cp1"))
            })
    }

    /// What the token's lifetime matches: Entra's defaults, a policy, or nothing Entra issues.
    pub fn lifetime_match(&self) -> Option<LifetimeMatch> {
        let (iat, exp) = (self.issued_at()?, self.expires_at()?);
        Some(lifetime::classify(
            exp - iat,
            self.is_id_token(),
            self.cae_capable(),
        ))
    }

    /// Graph access tokens carry a header `nonce`: Graph signs a hash of it, so nobody else
    /// can check their signature (entra-protocol.md; by design, not an error).
    pub fn has_graph_nonce(&self) -> bool {
        self.header.get("nonce").is_some()
    }

    /// Checks the RS256 signature with the issuer's published keys. The keys come from
    /// `authority`'s OpenID configuration when given (for `tessera serve`, whose Graph tokens
    /// name sts.windows.net as their issuer), else from the issuer named in the token.
    pub async fn verify(
        &self,
        http: &TokenHttp,
        authority: Option<&Authority>,
    ) -> Result<Verified, ClientError> {
        if self.has_graph_nonce() {
            return Err(ClientError::Invalid(
                "this is a Microsoft Graph access token: Graph signs a hash of the nonce in its header, so only Graph can check the signature (call Graph with it instead)".into(),
            ));
        }
        let alg = self.header.get("alg").and_then(Value::as_str).unwrap_or("");
        if alg != "RS256" {
            return Err(ClientError::Invalid(format!(
                "the token is signed with '{alg}'; Entra signs with RS256"
            )));
        }
        let config_url = match authority {
            Some(a) => format!("{}/v2.0/.well-known/openid-configuration", a.url()),
            None => discovery_for_issuer(self.claim_str("iss").unwrap_or(""))?,
        };
        let config: OpenIdConfiguration = get_json(http, &config_url).await?;
        let keys: JwkSet = get_json(http, &config.jwks_uri).await?;
        let kid = self
            .header
            .get("kid")
            .or_else(|| self.header.get("x5t"))
            .and_then(Value::as_str)
            .ok_or_else(|| ClientError::Invalid("the token names no key (kid or x5t)".into()))?;
        let key = keys
            .keys
            .iter()
            .find(|k| k.kid == kid || k.x5t == kid)
            .ok_or_else(|| {
                ClientError::Invalid(format!(
                    "the issuer does not publish the key '{kid}' at {} (rotated out, or the token is from another issuer)",
                    config.jwks_uri
                ))
            })?;
        let (n, e) = (
            tessera_proto::b64::url_decode(&key.n),
            tessera_proto::b64::url_decode(&key.e),
        );
        let (Some(n), Some(e)) = (n, e) else {
            return Err(ClientError::Http(format!(
                "the key '{kid}' at {} is not a readable RSA key",
                config.jwks_uri
            )));
        };
        aws_lc_rs::signature::RsaPublicKeyComponents { n: &n, e: &e }
            .verify(
                &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
                self.signing_input.as_bytes(),
                &self.signature,
            )
            .map_err(|_| {
                ClientError::Invalid(format!(
                    "the signature does NOT match the key '{kid}' published at {}: the token was altered or not issued there",
                    config.jwks_uri
                ))
            })?;
        Ok(Verified {
            kid: kid.to_owned(),
            jwks_uri: config.jwks_uri,
        })
    }
}

/// The OpenID configuration URL for a token's issuer. v1.0 tokens name
/// `https://sts.windows.net/{tenant}/`, whose keys Entra serves at the login host.
fn discovery_for_issuer(iss: &str) -> Result<String, ClientError> {
    let url = url::Url::parse(iss).map_err(|_| {
        ClientError::Invalid(format!(
            "the token's issuer '{iss}' is not a URL; give --authority to say where its keys are"
        ))
    })?;
    if url.scheme() != "https" {
        return Err(ClientError::Invalid(format!(
            "the token's issuer '{iss}' is not https; give --authority to say where its keys are"
        )));
    }
    let tenant = url
        .path_segments()
        .and_then(|mut s| s.next())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ClientError::Invalid(format!("the token's issuer '{iss}' names no tenant"))
        })?;
    let login = match url.host_str() {
        Some("sts.windows.net") => "login.microsoftonline.com".to_owned(),
        Some("sts.chinacloudapi.cn") => "login.chinacloudapi.cn".to_owned(),
        Some(h) => match url.port() {
            Some(p) => format!("{h}:{p}"),
            None => h.to_owned(),
        },
        None => {
            return Err(ClientError::Invalid(format!(
                "the token's issuer '{iss}' has no host"
            )));
        }
    };
    Ok(format!(
        "https://{login}/{tenant}/v2.0/.well-known/openid-configuration"
    ))
}

async fn get_json<T: serde::de::DeserializeOwned>(
    http: &TokenHttp,
    url: &str,
) -> Result<T, ClientError> {
    let response = http
        .reqwest()?
        .get(url)
        .send()
        .await
        .map_err(|e| ClientError::Http(format!("fetching {url}: {e}")))?;
    let status = response.status();
    if !status.is_success() {
        return Err(ClientError::Http(format!("fetching {url}: HTTP {status}")));
    }
    response
        .json()
        .await
        .map_err(|e| ClientError::Http(format!("reading {url}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_map_to_their_keys() {
        assert_eq!(
            discovery_for_issuer("https://sts.windows.net/t1/").ok(),
            Some(
                "https://login.microsoftonline.com/t1/v2.0/.well-known/openid-configuration".into()
            )
        );
        assert_eq!(
            discovery_for_issuer("https://login.microsoftonline.com/t1/v2.0").ok(),
            Some(
                "https://login.microsoftonline.com/t1/v2.0/.well-known/openid-configuration".into()
            )
        );
        assert_eq!(
            discovery_for_issuer("https://127.0.0.1:8443/t1/v2.0").ok(),
            Some("https://127.0.0.1:8443/t1/v2.0/.well-known/openid-configuration".into())
        );
        assert!(discovery_for_issuer("http://evil/t1/").is_err());
        assert!(discovery_for_issuer("nope").is_err());
    }

    #[test]
    fn decodes_and_refuses_garbage() {
        let h = tessera_proto::b64::url_encode(br#"{"alg":"RS256","typ":"JWT","nonce":"x"}"#);
        let c = tessera_proto::b64::url_encode(br#"{"iat":1000,"exp":4900,"scp":"User.Read"}"#);
        let token = format!("{h}.{c}.c2ln");
        let d = decode(&format!("Authorization: Bearer {token}")).expect("decodes");
        assert_eq!(d.expires_at(), Some(4900));
        assert!(d.has_graph_nonce());
        assert!(!d.is_id_token());
        assert!(decode("a.b").is_err());
        assert!(decode(&format!("{h}.bm90IGpzb24.c2ln")).is_err());
        assert!(!format!("{d:?}").contains("User.Read"));
    }
}
