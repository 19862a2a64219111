//! tessera-client against a real `tessera serve` (in process, port 0, HTTPS).

mod binding;
mod credentials;
mod examples;
mod graph;
mod provider;
mod shared;
mod support;
