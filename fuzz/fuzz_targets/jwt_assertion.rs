//! Any client assertion or bearer token text a stranger sends: split and decoded as a JWS, its
//! claims read as a client assertion's and as an access token's, refused or read, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_proto::claims::{AccessTokenClaims, AssertionClaims};
use tessera_proto::jwt;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(parsed) = jwt::parse(text) {
        let _ = serde_json::from_slice::<AssertionClaims>(&parsed.payload);
        let _ = serde_json::from_slice::<AccessTokenClaims>(&parsed.payload);
    }
});
