//! The two bindings a SAML message travels by: HTTP-Redirect (raw DEFLATE, then base64, in
//! the query, with an optional detached signature over the query's own octets) and
//! HTTP-POST (base64 in a form field). SAML Bindings 2.0 §3.4 and §3.5.

use crate::b64;

/// Inflated messages larger than this are refused (the deflate bomb stops here).
pub const MAX_INFLATED: usize = 256 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    #[error("the message is not base64")]
    NotBase64,
    #[error("the message is not DEFLATE-compressed")]
    NotDeflated,
    #[error("the message inflates to more than {MAX_INFLATED} bytes")]
    TooLarge,
    #[error("the message is not UTF-8")]
    NotUtf8,
}

/// The XML of a `SAMLRequest`/`SAMLResponse` query value (already URL-decoded).
pub fn decode_redirect(value: &str) -> Result<String, BindingError> {
    let compressed = b64::decode_lenient(value).ok_or(BindingError::NotBase64)?;
    let xml = miniz_oxide::inflate::decompress_to_vec_with_limit(&compressed, MAX_INFLATED)
        .map_err(|e| match e.status {
            miniz_oxide::inflate::TINFLStatus::HasMoreOutput => BindingError::TooLarge,
            _ => BindingError::NotDeflated,
        })?;
    String::from_utf8(xml).map_err(|_| BindingError::NotUtf8)
}

/// The XML of a `SAMLRequest`/`SAMLResponse` form field.
pub fn decode_post(value: &str) -> Result<String, BindingError> {
    let bytes = b64::decode_lenient(value).ok_or(BindingError::NotBase64)?;
    String::from_utf8(bytes).map_err(|_| BindingError::NotUtf8)
}

/// A message for the HTTP-Redirect binding (before URL encoding).
pub fn encode_redirect(xml: &str) -> String {
    b64::std_encode(miniz_oxide::deflate::compress_to_vec(xml.as_bytes(), 6))
}

/// A message for the HTTP-POST binding.
pub fn encode_post(xml: &str) -> String {
    b64::std_encode(xml.as_bytes())
}

/// A redirect-binding message's detached signature, as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectSignature {
    /// `SAMLRequest=…&RelayState=…&SigAlg=…` with the values exactly as they were encoded
    /// in the URL: what the signer signed.
    pub signed_octets: String,
    pub sig_alg: String,
    pub signature: Vec<u8>,
}

/// The detached signature of `message` (`SAMLRequest` or `SAMLResponse`) in a raw query
/// string, if the query carries one. `Err` when `Signature` is there but unreadable.
pub fn redirect_signature(
    raw_query: &str,
    message: &str,
) -> Result<Option<RedirectSignature>, BindingError> {
    let raw = |name: &str| {
        raw_query
            .split('&')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
    };
    let Some(signature) = raw("Signature") else {
        return Ok(None);
    };
    let decode = form_decode;
    let (Some(msg), Some(alg)) = (raw(message), raw("SigAlg")) else {
        return Err(BindingError::NotBase64);
    };
    let mut signed_octets = format!("{message}={msg}");
    if let Some(relay) = raw("RelayState") {
        signed_octets.push_str("&RelayState=");
        signed_octets.push_str(relay);
    }
    signed_octets.push_str("&SigAlg=");
    signed_octets.push_str(alg);
    Ok(Some(RedirectSignature {
        signed_octets,
        sig_alg: decode(alg),
        signature: b64::decode_lenient(&decode(signature)).ok_or(BindingError::NotBase64)?,
    }))
}

/// `application/x-www-form-urlencoded` value decoding (`+` is a space).
fn form_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_messages_round_trip_and_bombs_stop() {
        let xml =
            "<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"a\"/>";
        assert_eq!(decode_redirect(&encode_redirect(xml)).as_deref(), Ok(xml));
        assert_eq!(decode_post(&encode_post(xml)).as_deref(), Ok(xml));
        assert_eq!(
            decode_redirect("not base64 at all!"),
            Err(BindingError::NotBase64)
        );
        // Base64 of XML that was never deflated.
        assert_eq!(
            decode_redirect(&encode_post(xml)),
            Err(BindingError::NotDeflated)
        );
        let bomb = encode_redirect(&"a".repeat(10 * 1024 * 1024));
        assert!(bomb.len() < 20_000, "it compresses well: {}", bomb.len());
        assert_eq!(decode_redirect(&bomb), Err(BindingError::TooLarge));
    }

    #[test]
    fn the_detached_signature_covers_the_query_as_encoded() {
        let q = "SAMLRequest=fZBBa%2Bw&RelayState=%2Fapp%3Fa%3D1&SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256&Signature=AQID%2B%2F8%3D";
        let s = redirect_signature(q, "SAMLRequest")
            .expect("ok")
            .expect("signed");
        assert_eq!(
            s.signed_octets,
            "SAMLRequest=fZBBa%2Bw&RelayState=%2Fapp%3Fa%3D1&SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256"
        );
        assert_eq!(
            s.sig_alg,
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
        );
        assert_eq!(s.signature, vec![1, 2, 3, 0xfb, 0xff]);
        assert_eq!(redirect_signature("SAMLRequest=x", "SAMLRequest"), Ok(None));
        assert_eq!(form_decode("a+b%20c%zz"), "a b c%zz");
    }
}
