//! Plumbing every layer may use and that knows nothing of identity: crash-safe private
//! files, TLS material, metrics, the token activity log, and test-mode fault injection.
//! Nothing here imports the directory, the token core or a protocol surface.

pub(crate) mod activity;
pub(crate) mod faults;
pub(crate) mod files;
pub(crate) mod metrics;
pub(crate) mod tls;
