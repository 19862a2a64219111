//! Base64 helpers in the variants the identity platform uses: unpadded base64url for JWTs,
//! PKCE and thumbprints, and tolerant decoding because real clients send padded values.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// Unpadded base64url, as in JWT segments and `x5t`.
pub fn url_encode(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Standard base64 with padding, as in `x5c`.
pub fn std_encode(bytes: impl AsRef<[u8]>) -> String {
    STANDARD.encode(bytes)
}

/// Decodes base64url or standard base64, padded or not, ignoring ASCII white space.
/// MSAL Python pads `x5t` and wraps `x5c` lines; both must be accepted.
pub fn decode_lenient(input: &str) -> Option<Vec<u8>> {
    let cleaned: String = input
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && *c != '=')
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            other => other,
        })
        .collect();
    URL_SAFE_NO_PAD.decode(cleaned.as_bytes()).ok()
}

/// Strict unpadded base64url decoding (JWT segments we issued or that clients produce).
pub fn url_decode(input: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(input.trim_end_matches('=')).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_accepts_padding_and_standard_alphabet() {
        let bytes = [0xfb_u8, 0xff, 0x01, 0x02];
        let url = url_encode(bytes);
        assert_eq!(url, "-_8BAg");
        assert_eq!(decode_lenient("-_8BAg==").as_deref(), Some(&bytes[..]));
        assert_eq!(decode_lenient("+/8BAg==").as_deref(), Some(&bytes[..]));
        assert_eq!(decode_lenient("+/8B\nAg").as_deref(), Some(&bytes[..]));
        assert!(decode_lenient("!!").is_none());
    }
}
