//! Start-up and operator tools: `tessera serve`'s options and config file, the demo tenant
//! and `demo.json`, and bulk seeding. Runs before (or beside) the server and writes through
//! the directory and store like any other caller; no request handler uses it.

pub(crate) mod bulk;
pub(crate) mod config;
pub(crate) mod options;
pub(crate) mod saml_app;
pub(crate) mod seed;
