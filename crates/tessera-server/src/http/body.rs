//! Reading a request body under a limit without resetting the client: a body over the limit
//! is read on and thrown away (up to a bound, for a bounded time) before the answer, so a
//! client that sends the whole body before reading gets the error instead of a reset.

use std::time::Duration;

use axum::body::{Body, Bytes};
use http_body_util::BodyExt as _;

/// How much of an oversized body is read and discarded so the answer can be read; past it,
/// or past `DRAIN_TIME`, the connection is closed after the answer.
const DRAIN_BYTES: usize = 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// Why a body was not taken.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Over the limit. `drained`: the whole body was read, so the connection can be reused;
    /// otherwise the answer must close it.
    TooLarge { drained: bool },
    /// The client stopped sending or the connection failed mid-body.
    Broken,
}

/// The body, if it is at most `limit` bytes.
pub(crate) async fn read(body: Body, limit: usize) -> Result<Bytes, Refused> {
    let mut body = body;
    let mut kept = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Err(Refused::Broken);
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        seen = seen.saturating_add(data.len());
        if seen > limit {
            return Err(Refused::TooLarge {
                drained: drain(body, seen).await,
            });
        }
        kept.extend_from_slice(&data);
    }
    Ok(Bytes::from(kept))
}

/// Reads the rest of `body` up to `DRAIN_BYTES` in all; true when it ended in time.
async fn drain(mut body: Body, mut seen: usize) -> bool {
    let rest = async {
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return false };
            if let Ok(data) = frame.into_data() {
                seen = seen.saturating_add(data.len());
                if seen > DRAIN_BYTES {
                    return false;
                }
            }
        }
        true
    };
    tokio::time::timeout(DRAIN_TIME, rest)
        .await
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn under_at_and_over_the_limit() {
        let at = read(Body::from(vec![b'a'; 10]), 10).await;
        assert_eq!(at.map(|b| b.len()), Ok(10));
        let over = read(Body::from(vec![b'a'; 11]), 10).await;
        assert_eq!(over, Err(Refused::TooLarge { drained: true }));
        // Read whole in one frame: nothing is left unread, so the connection stays usable.
        let huge = read(Body::from(vec![b'a'; DRAIN_BYTES + 1]), 10).await;
        assert_eq!(huge, Err(Refused::TooLarge { drained: true }));
    }
}
