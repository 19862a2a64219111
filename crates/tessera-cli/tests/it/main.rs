//! Integration tests of the `tessera` binary: process-level behaviour (crash safety, logs,
//! exit codes) and interop with real Microsoft client libraries. One test binary.

mod browser;
mod commands;
mod exec;
mod full_disk;
mod graph;
mod interop;
mod long_job;
mod saml;
mod serve;
mod soak;
mod support;
mod token;
