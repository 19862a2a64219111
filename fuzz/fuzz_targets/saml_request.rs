//! Any query value or form field a browser can deliver to `/{tenant}/saml2`: the bindings
//! decode or refuse it (the deflate bomb stops at the limit), the reader reads or refuses the
//! XML, and an `AuthnRequest`/`LogoutRequest` is read or refused; no panic anywhere, and the
//! redirect signature's octets are found or refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_proto::saml::{AuthnRequest, LogoutRequest, binding};
use tessera_proto::xml::{self, Limits};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = binding::redirect_signature(text, "SAMLRequest");
    for decoded in [binding::decode_redirect(text), binding::decode_post(text)] {
        if let Ok(xml_text) = decoded {
            assert!(xml_text.len() <= binding::MAX_INFLATED);
            read(&xml_text);
        }
    }
    read(text);
});

fn read(text: &str) {
    if let Ok(doc) = xml::parse(text, Limits::default()) {
        let _ = AuthnRequest::read(&doc);
        let _ = LogoutRequest::read(&doc);
    }
}
