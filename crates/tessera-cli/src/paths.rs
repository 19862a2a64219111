//! Where the CLI keeps its files: the user's cache and config directories (XDG, else under
//! `$HOME`). Reads the environment only; creating the directories is the cache's business.

use std::path::PathBuf;

use anyhow::Context as _;

/// `$XDG_CACHE_HOME/tessera` or `~/.cache/tessera`, and the same for the config directory.
pub(crate) fn user_dir(xdg: &str, fallback: &str) -> anyhow::Result<PathBuf> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let Some(d) = var(xdg) {
        return Ok(PathBuf::from(d).join("tessera"));
    }
    let home = var("HOME").context("HOME is not set: cannot place the token cache")?;
    Ok(PathBuf::from(home).join(fallback).join("tessera"))
}
