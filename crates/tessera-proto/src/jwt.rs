//! Compact JWS parsing and assembly without cryptography: splitting, base64url decoding and
//! header parsing. Signing and verification belong to whoever holds the keys.

use serde::{Deserialize, Serialize};

/// Longest token we parse at all; hostile inputs stop here.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JwsHeader {
    pub alg: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x5t: Option<String>,
    #[serde(rename = "x5t#S256", skip_serializing_if = "Option::is_none")]
    pub x5t_s256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x5c: Option<Vec<String>>,
}

/// A parsed compact JWS: header, raw payload and signature, and the signed input.
#[derive(Debug, Clone)]
pub struct ParsedJws<'a> {
    pub header: JwsHeader,
    pub payload: Vec<u8>,
    pub signing_input: &'a str,
    pub signature: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("the token is longer than {MAX_TOKEN_BYTES} bytes")]
    TooLong,
    #[error("the token is not three base64url segments separated by dots")]
    Shape,
    #[error("the token's {0} is not valid base64url JSON")]
    Segment(&'static str),
}

/// Splits and decodes a compact JWS. The payload is returned raw for the caller's claim type.
pub fn parse(token: &str) -> Result<ParsedJws<'_>, JwtError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(JwtError::TooLong);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Shape);
    };
    if h.is_empty() || p.is_empty() || s.is_empty() {
        return Err(JwtError::Shape);
    }
    let header_bytes = crate::b64::url_decode(h).ok_or(JwtError::Segment("header"))?;
    let header: JwsHeader =
        serde_json::from_slice(&header_bytes).map_err(|_| JwtError::Segment("header"))?;
    let payload = crate::b64::url_decode(p).ok_or(JwtError::Segment("payload"))?;
    let signature = crate::b64::url_decode(s).ok_or(JwtError::Segment("signature"))?;
    let signing_input = &token[..h.len() + 1 + p.len()];
    Ok(ParsedJws {
        header,
        payload,
        signing_input,
        signature,
    })
}

/// Builds `base64url(header).base64url(claims)`, the input to sign.
pub fn signing_input(
    header: &impl Serialize,
    claims: &impl Serialize,
) -> Result<String, serde_json::Error> {
    let h = serde_json::to_vec(header)?;
    let c = serde_json::to_vec(claims)?;
    let mut out = crate::b64::url_encode(h);
    out.push('.');
    out.push_str(&crate::b64::url_encode(c));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_shape() {
        let header = JwsHeader {
            alg: "RS256".into(),
            typ: Some("JWT".into()),
            ..Default::default()
        };
        let input = signing_input(&header, &serde_json::json!({"a":1})).expect("json");
        let token = format!("{input}.c2ln");
        let parsed = parse(&token).expect("parses");
        assert_eq!(parsed.header.alg, "RS256");
        assert_eq!(parsed.payload, br#"{"a":1}"#);
        assert_eq!(parsed.signing_input, input);
        assert_eq!(parsed.signature, b"sig");
    }

    #[test]
    fn hostile_inputs_are_errors() {
        assert_eq!(parse("a.b").err(), Some(JwtError::Shape));
        assert_eq!(parse("a.b.c.d").err(), Some(JwtError::Shape));
        assert_eq!(parse("..").err(), Some(JwtError::Shape));
        assert_eq!(
            parse("!!!.e30.c2ln").err(),
            Some(JwtError::Segment("header"))
        );
        // `{}` is valid JSON: it parses with an empty `alg`, which verifiers then refuse.
        assert_eq!(
            parse("e30.e30.c2ln").map(|j| j.header.alg).ok().as_deref(),
            Some("")
        );
        let long = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(parse(&long).err(), Some(JwtError::TooLong));
    }
}
