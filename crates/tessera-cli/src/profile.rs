//! Named profiles in `~/.config/tessera/config.toml`: the flags a person would otherwise type
//! on every command (authority, client, credential, Graph URL), chosen with `--profile` or
//! `default_profile`. Strict: an unknown key or a missing profile is an error, not a guess.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

/// One profile. Every field is a flag of the same name; a flag on the command line wins.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct Profile {
    pub(crate) authority: Option<String>,
    pub(crate) cloud: Option<String>,
    pub(crate) tenant: Option<String>,
    pub(crate) client_id: Option<String>,
    pub(crate) client_secret_env: Option<String>,
    pub(crate) certificate: Option<PathBuf>,
    pub(crate) certificate_password_env: Option<String>,
    #[serde(default)]
    pub(crate) device_code: bool,
    #[serde(default)]
    pub(crate) interactive: bool,
    pub(crate) username: Option<String>,
    pub(crate) password_env: Option<String>,
    #[serde(default)]
    pub(crate) managed_identity: bool,
    pub(crate) account: Option<String>,
    pub(crate) ca_cert: Option<PathBuf>,
    pub(crate) graph_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ConfigFile {
    default_profile: Option<String>,
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

/// `$XDG_CONFIG_HOME/tessera/config.toml` or `~/.config/tessera/config.toml`.
pub(crate) fn config_path() -> anyhow::Result<PathBuf> {
    Ok(crate::paths::user_dir("XDG_CONFIG_HOME", ".config")?.join("config.toml"))
}

/// The profile to use: `name` (from `--profile` or `TESSERA_PROFILE`), else the file's
/// `default_profile`, else none. A named profile that is not in the file is an error.
pub(crate) fn load(name: Option<&str>) -> anyhow::Result<Option<Profile>> {
    load_from(&config_path()?, name)
}

fn load_from(path: &Path, name: Option<&str>) -> anyhow::Result<Option<Profile>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(n) = name {
                bail!(
                    "--profile {n}: there is no config file {} (see `tessera --help` for its format)",
                    path.display()
                );
            }
            return Ok(None);
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let file: ConfigFile =
        toml::from_str(&text).with_context(|| format!("{} is not valid", path.display()))?;
    let Some(chosen) = name.map(str::to_owned).or(file.default_profile.clone()) else {
        return Ok(None);
    };
    match file.profiles.get(&chosen) {
        Some(p) => Ok(Some(p.clone())),
        None => bail!(
            "no profile '{chosen}' in {} (it has: {})",
            path.display(),
            if file.profiles.is_empty() {
                "none".to_owned()
            } else {
                file.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
            }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).expect("write");
        (dir, path)
    }

    #[test]
    fn profiles_are_strict() {
        let (_d, path) = write(
            r#"
default-profile = "lab"
[profiles.lab]
authority = "https://127.0.0.1:8443/contoso"
client-id = "abc"
client-secret-env = "LAB_SECRET"
[profiles.prod]
tenant = "contoso.onmicrosoft.com"
device-code = true
"#,
        );
        let lab = load_from(&path, None).expect("loads").expect("default");
        assert_eq!(lab.client_id.as_deref(), Some("abc"));
        assert_eq!(lab.client_secret_env.as_deref(), Some("LAB_SECRET"));
        let prod = load_from(&path, Some("prod"))
            .expect("loads")
            .expect("named");
        assert!(prod.device_code);
        let missing = load_from(&path, Some("nope")).expect_err("unknown profile");
        assert!(missing.to_string().contains("lab, prod"), "{missing}");

        let (_d, bad) = write("[profiles.x]\nclient_secret = \"literal\"\n");
        let err = load_from(&bad, Some("x")).expect_err("unknown key");
        assert!(format!("{err:#}").contains("client_secret"), "{err:#}");
        assert!(
            load_from(&PathBuf::from("/nonexistent/config.toml"), None)
                .expect("no file is fine")
                .is_none()
        );
        assert!(load_from(&PathBuf::from("/nonexistent/config.toml"), Some("x")).is_err());
    }
}
