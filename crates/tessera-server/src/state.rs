//! The state every request shares: the store and its directory cache, signing keys, the
//! clock and randomness (both injectable), metrics and the validated settings.

use std::sync::Arc;

use tessera_proto::clock::{Clock, OffsetClock, Random};

use crate::directory::Directory;
use crate::keys::KeySet;
use crate::metrics::Metrics;
use crate::store::Store;

/// Settings fixed at start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `https://host:port` clients are told to use.
    pub public_base: String,
    /// Host names (without port) this server answers to under their own name.
    pub known_hosts: Vec<String>,
    pub test_mode: bool,
    /// Test mode: every access and ID token lives exactly this many seconds.
    pub test_token_lifetime: Option<i64>,
    pub reject_assertion_reuse: bool,
    /// Test mode: the App Service managed identity endpoint's header secret.
    pub identity_header: Option<String>,
}

pub struct AppState {
    pub directory: Directory,
    pub keys: KeySet,
    /// The clock every rule reads; only test mode moves it.
    pub clock: Arc<OffsetClock>,
    pub random: Arc<dyn Random>,
    pub metrics: Metrics,
    pub settings: Settings,
    /// Test-mode faults and rate limits (empty, and never consulted, otherwise).
    pub faults: crate::faults::Faults,
    /// Sign-in pages: the flow-token key and failed-password limits.
    pub signin: crate::signin::SigninState,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl AppState {
    pub fn store(&self) -> &dyn Store {
        self.directory.store()
    }

    pub fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }
}
