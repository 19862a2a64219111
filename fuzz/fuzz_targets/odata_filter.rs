//! Any `$filter`, `$orderby`, `$select` or `$top` text a Graph caller sends: parsed or
//! refused with Graph's error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_proto::odata;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = odata::parse_filter(text);
    let _ = odata::parse_orderby(text);
    let _ = odata::parse_select(text);
    let _ = odata::parse_top(text);
});
