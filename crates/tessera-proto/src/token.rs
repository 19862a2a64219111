//! Token endpoint wire types: the grant types Entra accepts (with the aliases real clients
//! send) and the successful token response in Entra's field order.

use serde::{Deserialize, Serialize};

/// The grant types of the v2.0 token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantType {
    ClientCredentials,
    Password,
    RefreshToken,
    AuthorizationCode,
    DeviceCode,
    JwtBearer,
}

impl GrantType {
    /// Parses the `grant_type` value; msal-node 7 sends the short `device_code` alias.
    pub fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "client_credentials" => Self::ClientCredentials,
            "password" => Self::Password,
            "refresh_token" => Self::RefreshToken,
            "authorization_code" => Self::AuthorizationCode,
            "urn:ietf:params:oauth:grant-type:device_code" | "device_code" => Self::DeviceCode,
            "urn:ietf:params:oauth:grant-type:jwt-bearer" => Self::JwtBearer,
            _ => return None,
        })
    }

    /// A short stable label (metrics, logs).
    pub fn label(self) -> &'static str {
        match self {
            Self::ClientCredentials => "client_credentials",
            Self::Password => "password",
            Self::RefreshToken => "refresh_token",
            Self::AuthorizationCode => "authorization_code",
            Self::DeviceCode => "device_code",
            Self::JwtBearer => "jwt_bearer",
        }
    }
}

/// The assertion type of `private_key_jwt` client authentication.
pub const CLIENT_ASSERTION_TYPE_JWT: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A successful token response. Field order is Entra's; absent fields are omitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    pub token_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub expires_in: i64,
    #[serde(default)]
    pub ext_expires_in: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_in: Option<i64>,
    pub access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_info: Option<String>,
}

/// A successful response of the v1.0 token endpoint (`/{tenant}/oauth2/token`): the numbers
/// are strings, and `expires_on`, `not_before` (epoch seconds) and `resource` are added, as in
/// Entra's recorded v1 responses (research notes §3.1) and the classic PowerShell recipes that
/// print them. Field order is Entra's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct V1TokenResponse {
    pub token_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub expires_in: String,
    pub ext_expires_in: String,
    pub expires_on: String,
    pub not_before: String,
    pub resource: String,
    pub access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl V1TokenResponse {
    /// The JSON body as the v1 endpoint writes it: `/` escaped as `\/` (recorded; both forms
    /// are the same JSON to any parser, but scripts that grep the raw body see Entra's).
    pub fn to_json(&self) -> Vec<u8> {
        let text = serde_json::to_string(self).unwrap_or_default();
        text.replace('/', "\\/").into_bytes()
    }
}

/// `client_info`: identifies the account as `uid.utid` for client caches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientInfo {
    pub uid: String,
    pub utid: String,
}

impl ClientInfo {
    /// Unpadded base64url of the JSON, as Entra sends it.
    pub fn encode(&self) -> String {
        crate::b64::url_encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Reads `client_info` as a client receives it (base64url, padded or not).
    pub fn decode(text: &str) -> Option<Self> {
        serde_json::from_slice(&crate::b64::url_decode(text.trim_end_matches('='))?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_info_round_trip() {
        let c = ClientInfo {
            uid: "u".into(),
            utid: "t".into(),
        };
        assert_eq!(ClientInfo::decode(&c.encode()), Some(c));
        assert_eq!(ClientInfo::decode("!!"), None);
    }

    #[test]
    fn grant_aliases() {
        assert_eq!(GrantType::parse("device_code"), Some(GrantType::DeviceCode));
        assert_eq!(
            GrantType::parse("urn:ietf:params:oauth:grant-type:device_code"),
            Some(GrantType::DeviceCode)
        );
        assert_eq!(GrantType::parse("implicit"), None);
    }

    #[test]
    fn response_field_order_and_omissions() {
        let r = TokenResponse {
            token_type: "Bearer".into(),
            scope: None,
            expires_in: 3599,
            ext_expires_in: 3599,
            refresh_in: None,
            access_token: "a".into(),
            refresh_token: None,
            id_token: None,
            client_info: None,
        };
        let s = serde_json::to_string(&r).expect("serialises");
        assert_eq!(
            s,
            r#"{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"a"}"#
        );
    }

    #[test]
    fn v1_response_has_string_numbers_and_escaped_slashes() {
        let r = V1TokenResponse {
            token_type: "Bearer".into(),
            scope: None,
            expires_in: "3599".into(),
            ext_expires_in: "3599".into(),
            expires_on: "1740688710".into(),
            not_before: "1740684815".into(),
            resource: "https://graph.microsoft.com".into(),
            access_token: "a".into(),
            refresh_token: None,
            id_token: None,
        };
        let body = String::from_utf8(r.to_json()).expect("utf-8");
        assert_eq!(
            body,
            r#"{"token_type":"Bearer","expires_in":"3599","ext_expires_in":"3599","expires_on":"1740688710","not_before":"1740684815","resource":"https:\/\/graph.microsoft.com","access_token":"a"}"#
        );
        let back: V1TokenResponse = serde_json::from_slice(body.as_bytes()).expect("parses");
        assert_eq!(back, r);
    }

    #[test]
    fn client_info_is_unpadded_base64url_json() {
        let ci = ClientInfo {
            uid: "u".into(),
            utid: "t".into(),
        };
        let raw = crate::b64::url_decode(&ci.encode()).expect("b64");
        assert_eq!(raw, br#"{"uid":"u","utid":"t"}"#);
    }
}
