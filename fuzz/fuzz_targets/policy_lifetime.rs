//! Any lifetime a token lifetime policy definition carries (.NET TimeSpan text): refused or
//! read, never a panic, and what is read writes back to text that reads the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_proto::lifetime::{format_timespan, parse_policy_lifetime, parse_timespan};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(seconds) = parse_timespan(text) {
        assert_eq!(parse_timespan(&format_timespan(seconds)), Ok(seconds), "{text:?}");
    }
    let _ = parse_policy_lifetime(text);
});
