//! JWT claim sets of Entra's tokens (v1.0 and v2.0 access tokens, v2.0 ID tokens) and of the
//! client assertions clients send. One struct per kind; absent claims are omitted.

use serde::{Deserialize, Deserializer, Serialize};

/// Access token claims. v1.0 tokens use `appid`/`appidacr`/`upn`/`unique_name`, v2.0 tokens
/// `azp`/`azpacr`/`preferred_username`; the issuer fills in the set its version needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccessTokenClaims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    pub aio: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_displayname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appidacr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azpacr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idtyp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub oid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    pub rh: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    pub sub: String,
    pub tid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unique_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    pub uti: String,
    pub ver: String,
    /// Directory role template ids the user holds (users with roles only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wids: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xms_cc: Option<Vec<String>>,
}

/// v2.0 ID token claims.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IdTokenClaims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// Hash of the authorization code, in ID tokens returned from /authorize.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub c_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    pub rh: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    pub sub: String,
    pub tid: String,
    pub uti: String,
    pub ver: String,
    /// Directory role template ids the user holds (users with roles only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wids: Option<Vec<String>>,
}

/// A v1.0 ID token, as the v1 token endpoint returns it (unsigned: `alg` `none`, because it
/// comes straight from the token endpoint over TLS; go-oidc issue 350 and ADAL for Java issue
/// 117, "by design"). Claims as in Microsoft's ID token reference for v1.0.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct V1IdTokenClaims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub amr: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    pub name: String,
    pub oid: String,
    pub sub: String,
    pub tid: String,
    pub unique_name: String,
    pub upn: String,
    pub ver: String,
}

/// The claims of a client assertion (`private_key_jwt`). Times may be floats (MSAL Python
/// sends `time.time()` values) and `aud` a string or an array.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct AssertionClaims {
    pub iss: Option<String>,
    pub sub: Option<String>,
    #[serde(deserialize_with = "string_or_array")]
    pub aud: Vec<String>,
    #[serde(deserialize_with = "numeric_date")]
    pub exp: Option<i64>,
    #[serde(deserialize_with = "numeric_date")]
    pub nbf: Option<i64>,
    #[serde(deserialize_with = "numeric_date")]
    pub iat: Option<i64>,
    pub jti: Option<String>,
}

fn string_or_array<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v,
    })
}

fn numeric_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let v = Option::<f64>::deserialize(d)?;
    match v {
        None => Ok(None),
        Some(f) if f.is_finite() && f.abs() < 1e15 => Ok(Some(f.floor() as i64)),
        Some(_) => Err(serde::de::Error::custom("NumericDate out of range")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assertion_accepts_floats_and_array_aud() {
        let c: AssertionClaims = serde_json::from_str(
            r#"{"aud":["https://h/t/oauth2/v2.0/token"],"iss":"c","sub":"c","exp":1795360872.12,"iat":1795360272.12,"jti":"j"}"#,
        )
        .expect("parses");
        assert_eq!(c.exp, Some(1_795_360_872));
        assert_eq!(c.aud.len(), 1);
        assert_eq!(c.nbf, None);
        let c: AssertionClaims = serde_json::from_str(r#"{"aud":"x","exp":10}"#).expect("parses");
        assert_eq!(c.aud, vec!["x"]);
        assert!(serde_json::from_str::<AssertionClaims>(r#"{"exp":1e300}"#).is_err());
        assert!(serde_json::from_str::<AssertionClaims>(r#"{"exp":"soon"}"#).is_err());
    }

    #[test]
    fn absent_claims_are_omitted() {
        let c = AccessTokenClaims {
            roles: Some(vec!["User.Read.All".into()]),
            ..Default::default()
        };
        let v = serde_json::to_value(&c).expect("serialises");
        assert!(v.get("scp").is_none());
        assert_eq!(v["roles"][0], "User.Read.All");
    }
}
