//! The server's persisted MAC key for opaque values it hands out and must trust back:
//! sign-in flow tokens, Graph skip tokens. It signs bytes; what the bytes mean (and when
//! they expire) is the caller's business.

use aws_lc_rs::hmac;
use tessera_proto::b64;
use tessera_proto::clock::Random;

use crate::error::ServerError;
use crate::store::Store;

/// The store's `meta` key under which the secret is kept, so values issued before a
/// restart (or by another server on the same database) still verify.
const META_KEY: &str = "flow_key";

pub(crate) struct FlowKey(hmac::Key);

impl std::fmt::Debug for FlowKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FlowKey([redacted])")
    }
}

impl FlowKey {
    pub(crate) fn new(secret: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    /// Loads the key from the store, creating it on first start.
    pub(crate) async fn load(store: &dyn Store, random: &dyn Random) -> Result<Self, ServerError> {
        let secret = match store.meta(META_KEY).await? {
            Some(s) => b64::url_decode(&s)
                .ok_or_else(|| ServerError::Crypto("stored flow key is corrupt".into()))?,
            None => {
                let mut k = vec![0u8; 32];
                random.fill(&mut k);
                store.set_meta(META_KEY, &b64::url_encode(&k)).await?;
                k
            }
        };
        Ok(Self::new(&secret))
    }

    /// A MAC over `data` for one purpose (`purpose` keeps the uses apart).
    pub(crate) fn tag(&self, purpose: &str, data: &[u8]) -> Vec<u8> {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(purpose.as_bytes());
        ctx.update(&[0]);
        ctx.update(data);
        ctx.sign().as_ref().to_vec()
    }

    /// `base64url(body).base64url(mac)`.
    pub(crate) fn seal(&self, body: &[u8]) -> String {
        let body = b64::url_encode(body);
        let tag = hmac::sign(&self.0, body.as_bytes());
        format!("{body}.{}", b64::url_encode(tag.as_ref()))
    }

    /// The body of a value `seal` made with this key; `None` for anything else.
    pub(crate) fn open(&self, token: &str) -> Option<Vec<u8>> {
        let (body, tag) = token.split_once('.')?;
        let tag = b64::url_decode(tag)?;
        hmac::verify(&self.0, body.as_bytes(), &tag).ok()?;
        b64::url_decode(body)
    }
}
