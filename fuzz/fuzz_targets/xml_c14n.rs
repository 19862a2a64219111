//! Any text: the XML reader never panics, and what it accepts canonicalizes to a document it
//! reads back to the same canonical form (exclusive c14n is idempotent), with any element
//! left out as the enveloped-signature transform would.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_proto::xml::{self, Limits, c14n};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let limits = Limits {
        max_bytes: 64 * 1024,
        max_depth: 32,
        max_nodes: 2_000,
    };
    let Ok(doc) = xml::parse(text, limits) else {
        return;
    };
    let once = c14n::exclusive(&doc, None, &["#default"]);
    let again = xml::parse(&once, Limits::default()).expect("canonical XML reads back");
    assert_eq!(c14n::exclusive(&again, None, &["#default"]), once, "c14n is idempotent");
    let omitted = doc.elements().next();
    let _ = c14n::exclusive(&doc, omitted, &[]);
    let _ = doc.find_by_id("_x");
});
