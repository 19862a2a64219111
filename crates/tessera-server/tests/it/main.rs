//! tessera-server integration tests: each starts the real server on 127.0.0.1:0 with its
//! own data directory and speaks HTTPS to it. One test binary for the crate (link time).

mod assertions;
mod device_throttle;
mod discovery;
mod graph;
mod lockout;
mod loops;
mod permissions;
mod policies;
mod portal;
mod replicas;
mod robustness;
mod saml;
mod store;
mod support;
mod tokens;
mod user_flows;
mod v1;
