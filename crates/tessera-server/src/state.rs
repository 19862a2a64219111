//! The state every request shares: the store and its directory cache, signing keys, the
//! clock and randomness (both injectable), metrics and the validated settings.

use std::sync::Arc;

use tessera_proto::clock::{Clock, OffsetClock, Random};

use crate::crypto::keys::KeySet;
use crate::directory::Directory;
use crate::infra::activity::{ActivityEvent, ActivityKind};
use crate::infra::metrics::Metrics;
use crate::store::Store;

/// Settings fixed at start.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
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

pub(crate) struct AppState {
    pub directory: Directory,
    pub keys: KeySet,
    /// The clock every rule reads; only test mode moves it.
    pub clock: Arc<OffsetClock>,
    pub random: Arc<dyn Random>,
    pub metrics: Metrics,
    pub settings: Settings,
    /// Test-mode faults and rate limits (empty, and never consulted, otherwise).
    pub faults: crate::infra::faults::Faults,
    /// Signs the opaque values the server hands out and trusts back (flow and skip tokens).
    pub(crate) flow_key: crate::crypto::FlowKey,
    /// Failed-password limits, counted in the store.
    pub(crate) lockout: crate::directory::Lockout,
    /// Clients asking for the same token in a loop (AADSTS50196), counted in memory.
    pub(crate) loops: crate::directory::Loops,
    /// Recent token activity of this server, for the portal.
    pub(crate) activity: crate::infra::activity::Activity,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl AppState {
    pub(crate) fn store(&self) -> &dyn Store {
        self.directory.store()
    }

    pub(crate) fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }

    /// Revokes a user's sign-in sessions (Graph's `revokeSignInSessions`, the portal, test
    /// mode) and notes it in the activity log.
    pub(crate) async fn revoke_sessions(
        &self,
        user: crate::store::User,
    ) -> crate::store::StoreResult<crate::store::User> {
        let now = self.clock.now();
        let user = self.directory.revoke_sessions(user, now).await?;
        self.activity.record(ActivityEvent {
            user: Some(user.user_principal_name.clone()),
            flow: "revokeSignInSessions".into(),
            ..ActivityEvent::new(ActivityKind::Revoked, now.unix_timestamp(), &user.tenant_id)
        });
        Ok(user)
    }
}
