//! Where tokens come from: Entra's public cloud by default, the sovereign clouds, or any
//! https host (such as `tessera serve`), with a tenant as GUID, domain, `common`,
//! `organizations` or `consumers`.

use url::Url;

use crate::error::ClientError;

/// A cloud's login host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cloud {
    Public,
    UsGovernment,
    China,
    /// Any https host; no instance discovery is done against Microsoft for it.
    Custom(Url),
}

impl Cloud {
    /// `https://host[:port]` without a trailing slash.
    pub fn host_url(&self) -> String {
        match self {
            Self::Public => "https://login.microsoftonline.com".into(),
            Self::UsGovernment => "https://login.microsoftonline.us".into(),
            Self::China => "https://login.partner.microsoftonline.cn".into(),
            Self::Custom(u) => u.as_str().trim_end_matches('/').to_owned(),
        }
    }

    /// The Graph endpoint that goes with the cloud.
    pub fn graph_url(&self) -> String {
        match self {
            Self::Public => "https://graph.microsoft.com/v1.0".into(),
            Self::UsGovernment => "https://graph.microsoft.us/v1.0".into(),
            Self::China => "https://microsoftgraph.chinacloudapi.cn/v1.0".into(),
            Self::Custom(u) => format!("{}/v1.0", u.as_str().trim_end_matches('/')),
        }
    }

    pub fn parse(name: &str) -> Result<Self, ClientError> {
        match name.to_ascii_lowercase().as_str() {
            "public" | "azurepublic" | "azurecloud" => Ok(Self::Public),
            "usgov" | "usgovernment" | "azureusgovernment" => Ok(Self::UsGovernment),
            "china" | "azurechina" | "azurechinacloud" => Ok(Self::China),
            other => Err(ClientError::Config(format!(
                "unknown cloud '{other}': use public, usgov or china, or give an https authority"
            ))),
        }
    }
}

/// A cloud host and a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    pub cloud: Cloud,
    pub tenant: String,
}

impl Authority {
    /// Entra's public cloud and a tenant.
    pub fn public(tenant: impl Into<String>) -> Self {
        Self {
            cloud: Cloud::Public,
            tenant: tenant.into(),
        }
    }

    /// Parses `https://host[:port]/tenant` (what MSAL calls the authority URL). Known
    /// Microsoft hosts map to their cloud; any other https host is custom.
    pub fn parse(text: &str) -> Result<Self, ClientError> {
        let url = Url::parse(text)
            .map_err(|e| ClientError::Config(format!("authority '{text}' is not a URL: {e}")))?;
        if url.scheme() != "https" {
            return Err(ClientError::Config(format!(
                "authority '{text}' must be an https URL"
            )));
        }
        let tenant = url
            .path_segments()
            .and_then(|mut s| s.next())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ClientError::Config(format!(
                    "authority '{text}' has no tenant: use https://HOST/TENANT"
                ))
            })?
            .to_owned();
        validate_tenant(&tenant)?;
        let cloud = match url.host_str() {
            Some("login.microsoftonline.com" | "login.microsoft.com" | "login.windows.net") => {
                Cloud::Public
            }
            Some("login.microsoftonline.us") => Cloud::UsGovernment,
            Some("login.partner.microsoftonline.cn" | "login.chinacloudapi.cn") => Cloud::China,
            _ => {
                let mut host = url.clone();
                host.set_path("");
                host.set_query(None);
                Cloud::Custom(host)
            }
        };
        Ok(Self { cloud, tenant })
    }

    fn base(&self) -> String {
        format!("{}/{}", self.cloud.host_url(), self.tenant)
    }

    pub fn token_endpoint(&self) -> String {
        format!("{}/oauth2/v2.0/token", self.base())
    }

    pub fn device_code_endpoint(&self) -> String {
        format!("{}/oauth2/v2.0/devicecode", self.base())
    }

    pub fn authorize_endpoint(&self) -> String {
        format!("{}/oauth2/v2.0/authorize", self.base())
    }

    /// The URL as MSAL would take it: `https://host/tenant`.
    pub fn url(&self) -> String {
        self.base()
    }
}

/// Tenant names as azure-identity accepts them: letters, digits, `.` and `-`.
pub fn validate_tenant(tenant: &str) -> Result<(), ClientError> {
    if tenant.is_empty()
        || tenant.len() > 256
        || !tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    {
        return Err(ClientError::Config(format!(
            "'{tenant}' is not a valid tenant: use a GUID, a domain, common or organizations"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_authorities() {
        let a = Authority::parse("https://login.microsoftonline.com/contoso.onmicrosoft.com")
            .expect("valid");
        assert_eq!(a.cloud, Cloud::Public);
        assert_eq!(
            a.token_endpoint(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        let a = Authority::parse("https://127.0.0.1:8443/11111111-2222-3333-4444-555555555555")
            .expect("valid");
        assert!(matches!(a.cloud, Cloud::Custom(_)));
        assert_eq!(
            a.token_endpoint(),
            "https://127.0.0.1:8443/11111111-2222-3333-4444-555555555555/oauth2/v2.0/token"
        );
        assert_eq!(a.cloud.graph_url(), "https://127.0.0.1:8443/v1.0");
        assert!(Authority::parse("http://localhost/t").is_err());
        assert!(Authority::parse("https://localhost/").is_err());
        assert!(Authority::parse("https://localhost/bad%20tenant").is_err());
        for c in [Cloud::Public, Cloud::UsGovernment, Cloud::China] {
            assert!(c.host_url().starts_with("https://login."));
        }
    }
}
