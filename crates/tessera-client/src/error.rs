//! The client's one error type. An AADSTS error keeps Entra's `error`, codes, trace and
//! correlation ids, and says in plain words what is wrong and what to do.

use tessera_proto::errors::ErrorResponse;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The identity platform refused the request.
    #[error("{}", .0.summary())]
    Aadsts(Box<AadstsFailure>),
    /// The request could not be made or its answer was unusable.
    #[error("{0}")]
    Http(String),
    /// The server kept answering 429 or 5xx until the retry budget ran out.
    #[error("the token endpoint is unavailable (HTTP {status}) after {attempts} attempts")]
    Unavailable { status: u16, attempts: u32 },
    /// Bad configuration: a missing value, an unreadable certificate.
    #[error("{0}")]
    Config(String),
    /// The caller's input is wrong (a lifetime out of range, a name that matches nothing).
    #[error("{0}")]
    Invalid(String),
    /// A user action is needed (device code expired, sign-in declined).
    #[error("{0}")]
    Interaction(String),
    /// Microsoft Graph refused the request (after the retries it allows).
    #[error("{0}")]
    Graph(Box<GraphFailure>),
    /// A file could not be read or written. The OS error is in the message once (it is not
    /// also a `source`, which would make error chains print it twice).
    #[error("{context}: {error}")]
    Io {
        context: String,
        error: std::io::Error,
    },
}

impl ClientError {
    pub fn io(context: impl Into<String>, error: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            error,
        }
    }

    /// The AADSTS codes, when the identity platform refused the request.
    pub fn aadsts_codes(&self) -> &[u32] {
        match self {
            Self::Aadsts(f) => &f.response.error_codes,
            _ => &[],
        }
    }
}

/// An Entra error response with the HTTP status and a plain-language hint.
#[derive(Debug, Clone)]
pub struct AadstsFailure {
    pub status: u16,
    pub response: ErrorResponse,
    /// Extra detail the caller knows (for 700027, the thumbprints it sent).
    pub context: Option<String>,
}

impl AadstsFailure {
    pub fn code(&self) -> Option<u32> {
        self.response.error_codes.first().copied()
    }

    /// What is wrong and what to do, in plain words.
    pub fn hint(&self) -> &'static str {
        hint_for(self.code().unwrap_or(0), &self.response.error)
    }

    pub(crate) fn summary(&self) -> String {
        let first_line = self
            .response
            .error_description
            .split(" Trace ID:")
            .next()
            .unwrap_or_default()
            .trim();
        let mut s = format!("{} ({}): {}", self.response.error, self.status, first_line);
        if let Some(c) = &self.context {
            s.push_str("\n  ");
            s.push_str(c);
        }
        s.push_str("\n  hint: ");
        s.push_str(self.hint());
        if !self.response.trace_id.is_empty() {
            s.push_str(&format!(
                "\n  trace id: {}  correlation id: {}",
                self.response.trace_id, self.response.correlation_id
            ));
        }
        s
    }
}

/// Plain-language advice per AADSTS code.
pub fn hint_for(code: u32, error: &str) -> &'static str {
    match code {
        7000215 => {
            "the client secret is wrong: send the secret's value, not its ID, and check the app's 'Certificates & secrets' for a current one"
        }
        7000222 => {
            "the client secret has expired: create a new secret for the app (or use a certificate) and update your configuration"
        }
        7000216 | 7000218 => {
            "no client credential was sent: give the app's secret or certificate, or enable 'Allow public client flows' for user sign-in from a script"
        }
        750054 | 75005 => {
            "the SAML request is missing or not valid: the app must send SAMLRequest deflated and base64-encoded (Redirect binding) or base64-encoded (POST binding)"
        }
        75016 => {
            "the SAML request asks for a NameID format Entra does not issue: use emailAddress, persistent, transient or unspecified"
        }
        900236 => {
            "the SAML request sets a property Entra refuses (Subject or Scoping): remove it and pass login_hint instead"
        }
        76021 | 76023 => {
            "the app requires signed SAML requests and this one is unsigned or its signature does not verify with the app's verification certificate"
        }
        900971 => "the app has no reply URL: register its ACS URL (web redirect URI)",
        7000229 => {
            "the app has no service principal in this tenant: create one (POST /servicePrincipals with its appId, `az ad sp create --id APP_ID` or New-MgServicePrincipal)"
        }
        700016 => {
            "the application id is not registered in this tenant: check the client id and the tenant (a multi-tenant app needs consent in the target tenant)"
        }
        90002 => {
            "the tenant does not exist: check the tenant id or domain and the cloud (public, US government, China)"
        }
        50126 => "the user name or password is wrong",
        50034 => "the user does not exist in this tenant: check the user name and the tenant",
        50057 => "the user account is disabled: ask an administrator to enable it",
        50076 | 50079 => {
            "this account needs multi-factor authentication, which a password grant cannot do: use device code or interactive sign-in"
        }
        50053 => "too many failed sign-ins: wait a few minutes before trying again",
        70011 => "a requested scope is not valid: check the scope names and the resource",
        1002012 => {
            "client credentials need exactly one scope of the form RESOURCE/.default, for example https://graph.microsoft.com/.default"
        }
        28000 => "the scopes name more than one resource: ask for one resource's scopes per token",
        500011 => {
            "the resource is not known in this tenant: check the resource URI or app id, and that its service principal exists"
        }
        65001 => {
            "consent is missing: an administrator must grant the app these permissions, or the user must sign in interactively to consent"
        }
        70008 | 700082 => "the refresh token has expired: sign in again",
        50173 => {
            "the refresh token was revoked (password change or revoked sessions): sign in again"
        }
        70000 | 9002313 => {
            "the grant (code or refresh token) is invalid or belongs to another app: start the sign-in again"
        }
        54005 => {
            "the authorization code was already used: codes are single-use, start the sign-in again"
        }
        501481 => {
            "the PKCE code verifier does not match the challenge: send the verifier created with this sign-in"
        }
        700024 => {
            "the client assertion's time window is wrong: check the machine's clock and the assertion's nbf/exp"
        }
        700027 => {
            "the certificate the assertion names is not registered for the app, or the signature does not match it: upload the certificate's public part to the app and check the thumbprints"
        }
        700021 | 700023 => {
            "the client assertion names the wrong app or audience: iss and sub must be the client id and aud the token endpoint"
        }
        70016 => "the user has not finished signing in yet",
        70020 => "the device code expired: start the device code sign-in again",
        900144 => "a required parameter is missing from the request",
        70003 => "the grant type is not supported",
        9001023 => {
            "this grant needs a tenant-specific authority (or organizations), not common or consumers"
        }
        50196 => {
            "the same token was asked for too many times in a short time (a loop, or no token cache): cache tokens until they near expiry; the server answers again after a few minutes"
        }
        90033 => "the service is busy or temporarily failing: retry after a short wait",
        50011 | 500112 => {
            "the redirect URI does not match: send exactly one of the URIs registered for the app (and the same one to the token endpoint as to the sign-in page)"
        }
        50013 => {
            "the user assertion was refused: on-behalf-of needs a valid, unexpired token issued for this API (its audience must be this app)"
        }
        500133 => {
            "the user assertion has expired: get a fresh token from the caller before exchanging it"
        }
        50027 => "the JWT sent is malformed: check how the assertion or token is built and encoded",
        50049 => "the authority is not a known instance: check the authority host and tenant",
        50058 => {
            "no one is signed in for a silent request: sign in interactively (prompt=none cannot show pages)"
        }
        65004 => "the person declined: nothing to do unless they try again",
        70018 => "the device code is not valid: start the device code sign-in again",
        90014 | 90015 => {
            "the request is malformed (a missing, repeated or oversized parameter): this is a client bug worth reporting"
        }
        501491 | 9002325 => {
            "PKCE is missing or malformed: send a S256 code_challenge with the sign-in and its verifier to the token endpoint"
        }
        700025 => {
            "a public client sent a secret or assertion: remove it, or turn the app into a confidential client"
        }
        700028 => {
            "the client assertion was used before: sign a new assertion with a new jti for every request"
        }
        5002738 => "the assertion's signature algorithm is not supported: sign with RS256 or PS256",
        700051 => "the response_type is not supported: use code (or code id_token)",
        900561 => "this endpoint takes POST: send the request as a form POST",
        _ => match error {
            "invalid_client" => {
                "the client credential was refused: check the secret or certificate"
            }
            "invalid_grant" => "the grant was refused: sign in again",
            "interaction_required" | "login_required" | "consent_required" => {
                "the user must sign in interactively"
            }
            _ => "see the error description and the AADSTS code's documentation",
        },
    }
}

/// Graph's error, as it sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphFailure {
    pub status: u16,
    /// `error.code`, for example `Request_ResourceNotFound`.
    pub code: String,
    pub message: String,
    /// `request-id` (also in `error.innerError`), for Microsoft support.
    pub request_id: String,
    /// Why the client stopped retrying a throttled or failing request, when it did.
    pub gave_up: Option<String>,
}

impl std::fmt::Display for GraphFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Graph answered {} {}: {} (request-id {})",
            self.status, self.code, self.message, self.request_id
        )?;
        if let Some(why) = &self.gave_up {
            write!(f, "; {why}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalogue_code_has_its_own_hint() {
        let generic = [
            hint_for(0, "invalid_client"),
            hint_for(0, "invalid_grant"),
            hint_for(0, "interaction_required"),
            hint_for(0, "other"),
        ];
        for entry in tessera_proto::errors::CATALOGUE {
            let hint = hint_for(entry.code, entry.error);
            assert!(
                !generic.contains(&hint),
                "AADSTS{} ({}) has only the generic hint",
                entry.code,
                entry.error
            );
        }
    }

    #[test]
    fn summary_has_code_hint_and_ids() {
        let f = AadstsFailure {
            status: 401,
            response: ErrorResponse {
                error: "invalid_client".into(),
                error_description: "AADSTS7000215: Invalid client secret provided. Trace ID: t Correlation ID: c Timestamp: x".into(),
                error_codes: vec![7000215],
                timestamp: "x".into(),
                trace_id: "t".into(),
                correlation_id: "c".into(),
                error_uri: None,
                suberror: None,
                claims: None,
            },
            context: None,
        };
        let text = ClientError::Aadsts(Box::new(f)).to_string();
        assert!(
            text.starts_with(
                "invalid_client (401): AADSTS7000215: Invalid client secret provided."
            ),
            "{text}"
        );
        assert!(text.contains("hint: the client secret is wrong"));
        assert!(text.contains("trace id: t  correlation id: c"));
        assert!(!text.contains("Timestamp"));
    }
}
