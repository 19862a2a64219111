//! The AADSTS error catalogue as data, and Entra's error response shape.
//! Messages follow ../shared/research/entra-protocol.md §4; entries whose exact wording or
//! status could not be confirmed from real traffic or Microsoft's docs say so in `confirmed`.

use serde::{Deserialize, Serialize};

/// One catalogue entry: an AADSTS code with its OAuth `error`, HTTP status and message
/// template. `{}` placeholders are filled in order by [`Aadsts::with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aadsts {
    pub code: u32,
    pub error: &'static str,
    pub status: u16,
    pub template: &'static str,
    /// False where the wording, `error` or status is our best inference (UNCONFIRMED).
    pub confirmed: bool,
}

macro_rules! catalogue {
    ($( $(#[$m:meta])* $name:ident = ($code:expr, $error:expr, $status:expr, $confirmed:expr, $template:expr); )*) => {
        $( $(#[$m])* pub const $name: Aadsts = Aadsts {
            code: $code, error: $error, status: $status, template: $template, confirmed: $confirmed,
        }; )*
        /// Every entry, for lookups by code (clients turn codes into advice).
        pub const CATALOGUE: &[Aadsts] = &[$($name),*];
    };
}

catalogue! {
    INVALID_CLIENT_SECRET = (7000215, "invalid_client", 401, true,
        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.");
    EXPIRED_CLIENT_SECRET = (7000222, "invalid_client", 401, true,
        "The provided client secret keys for app '{}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.");
    /// Message and `invalid_client` as MSAL.NET and azure-identity report it for an app
    /// registered by `az ad app create` without `az ad sp create` (Azure-Samples issue
    /// Commercial-Marketplace-SaaS-Accelerator#830); the status is UNCONFIRMED.
    MISSING_SERVICE_PRINCIPAL = (7000229, "invalid_client", 400, false,
        "The client application {} is missing service principal in the tenant {}. See instructions here: https://go.microsoft.com/fwlink/?linkid=2225119");
    MISSING_CREDENTIAL_CLIENT_CREDENTIALS = (7000216, "invalid_client", 401, true,
        "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.");
    MISSING_CREDENTIAL = (7000218, "invalid_client", 401, true,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
    PUBLIC_CLIENT_SENT_CREDENTIAL = (700025, "invalid_client", 401, false,
        "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.");
    /// Status 400 is the likeliest; UNCONFIRMED.
    APPLICATION_NOT_FOUND = (700016, "unauthorized_client", 400, true,
        "Application with identifier '{}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.");
    TENANT_NOT_FOUND = (90002, "invalid_request", 400, true,
        "Tenant '{}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.");
    INVALID_PASSWORD = (50126, "invalid_grant", 400, true,
        "Error validating credentials due to invalid username or password.");
    /// Wording UNCONFIRMED.
    USER_NOT_FOUND = (50034, "invalid_grant", 400, false,
        "The user account {} does not exist in the {} directory. To sign into this application, the account must be added to the directory.");
    /// Smart lockout. Wording as MSAL Python's test logs captured it from Entra
    /// (AzureAD/microsoft-authentication-library-for-python#211); status 400 as for 50126.
    ACCOUNT_LOCKED = (50053, "invalid_grant", 400, true,
        "The account is locked, you've tried to sign in too many times with an incorrect user ID or password.");
    USER_DISABLED = (50057, "invalid_grant", 400, true, "The user account is disabled.");
    MFA_REQUIRED = (50076, "invalid_grant", 400, true,
        "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '{}'.");
    INVALID_SCOPE = (70011, "invalid_scope", 400, true,
        "The provided value for the input parameter 'scope' is not valid. The scope {} is not valid.");
    CLIENT_CREDENTIALS_SCOPE = (1002012, "invalid_scope", 400, true,
        "The provided value for scope {} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).");
    /// `error` UNCONFIRMED (one report says invalid_request).
    MULTIPLE_RESOURCES = (28000, "invalid_scope", 400, false,
        "Provided value for the input parameter scope is not valid because it contains more than one resource. Scope {} is not valid.");
    RESOURCE_NOT_FOUND = (500011, "invalid_resource", 400, true,
        "The resource principal named {} was not found in the tenant named {}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.");
    /// Wording partly UNCONFIRMED.
    CONSENT_REQUIRED = (65001, "invalid_grant", 400, false,
        "The user or administrator has not consented to use the application with ID '{}' named '{}'. Send an interactive authorization request for this user and resource.");
    GRANT_EXPIRED = (70008, "invalid_grant", 400, true,
        "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.");
    REFRESH_TOKEN_INACTIVE = (700082, "invalid_grant", 400, true,
        "The refresh token has expired due to inactivity. The token was issued on {} and was inactive for {}.");
    /// Wording from a real response recorded in azure-sdk-for-js's identity test recordings
    /// (CAE revocation): the grant's issue time, then the user's `TokensValidFrom`.
    GRANT_REVOKED = (50173, "invalid_grant", 400, true,
        "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password. The grant was issued on '{}' and the TokensValidFrom date (before which tokens are not valid) for this user is '{}'.");
    GRANT_INVALID = (70000, "invalid_grant", 400, true, "Provided grant is invalid or malformed.");
    MALFORMED_REQUEST = (9002313, "invalid_grant", 400, true, "Invalid request. Request is malformed or invalid.");
    ASSERTION_TIME_RANGE = (700024, "invalid_client", 401, true,
        "Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry time of assertion {}. Review the documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials .");
    ASSERTION_KEY_NOT_FOUND = (700027, "invalid_client", 401, true,
        "Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client: '{}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{}'.]");
    ASSERTION_BAD_SIGNATURE = (700027, "invalid_client", 401, true, "Client assertion failed signature validation.");
    /// Wording partly UNCONFIRMED.
    ASSERTION_WRONG_CLIENT = (700021, "invalid_client", 401, false,
        "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials .");
    /// Wording partly UNCONFIRMED.
    ASSERTION_WRONG_AUDIENCE = (700023, "invalid_client", 401, false,
        "Client assertion audience claim does not match Realm issuer. Review the documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials .");
    /// Entra's jti replay answer is UNCONFIRMED; we reuse the assertion-rejection family.
    ASSERTION_REPLAYED = (700028, "invalid_client", 401, false,
        "Client assertion with jti '{}' has already been used. Each client assertion must carry a new, unique 'jti'.");
    /// Entra's wording for unsupported assertion algorithms is UNCONFIRMED.
    ASSERTION_BAD_ALGORITHM = (5002738, "invalid_client", 401, false,
        "Invalid JWT token. '{}' is not a supported signature algorithm. Supported signing algorithms are: 'RS256, PS256'");
    MALFORMED_JWT = (50027, "invalid_client", 401, true, "JWT token is invalid or malformed.");
    /// Wording UNCONFIRMED: the assertion type value is wrong.
    BAD_ASSERTION_TYPE = (50027, "invalid_request", 400, false,
        "The value of 'client_assertion_type' must be 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'.");
    MISSING_PARAMETER = (900144, "invalid_request", 400, true,
        "The request body must contain the following parameter: '{}'.");
    /// Entra's answer to a repeated parameter is UNCONFIRMED.
    DUPLICATE_PARAMETER = (90015, "invalid_request", 400, false,
        "The request contains the parameter '{}' more than once. Send each parameter once.");
    /// Entra's answer to an oversized or non-form body is UNCONFIRMED.
    MALFORMED_BODY = (90014, "invalid_request", 400, false,
        "The request body is not a valid 'application/x-www-form-urlencoded' form of at most {} bytes.");
    /// Entra's answer to sending both a secret and an assertion is UNCONFIRMED.
    MULTIPLE_CREDENTIALS = (90014, "invalid_request", 400, false,
        "The request must authenticate the client one way only: 'client_secret', HTTP Basic, or 'client_assertion'.");
    UNSUPPORTED_GRANT = (70003, "unsupported_grant_type", 400, true,
        "The app requested an unsupported grant type '{}'.");
    GRANT_NOT_ON_COMMON = (9001023, "invalid_request", 400, true,
        "The grant type is not supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint.");
    /// The discovery endpoints' form of 90002.
    TENANT_NOT_FOUND_DISCOVERY = (90002, "invalid_tenant", 400, true,
        "Tenant '{}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.");
    /// Wording from memory of the live service; not in the research notes (UNCONFIRMED).
    POST_ONLY = (900561, "invalid_request", 400, false,
        "The endpoint only accepts POST, OPTIONS requests. Received a {} request.");
    /// Wording UNCONFIRMED: an `Authorization: Basic` header that does not decode.
    BAD_BASIC_AUTH = (7000215, "invalid_client", 401, false,
        "The Authorization header does not hold valid HTTP Basic client credentials (form-encoded client id and secret).");
    CODE_ALREADY_REDEEMED = (54005, "invalid_grant", 400, true,
        "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.");
    PKCE_MISMATCH = (501481, "invalid_grant", 400, true,
        "The Code_Verifier does not match the code_challenge supplied in the authorization request.");
    /// Wording UNCONFIRMED.
    REDIRECT_MISMATCH_TOKEN = (500112, "invalid_grant", 400, false,
        "The reply address '{}' does not match the reply address '{}' provided when requesting Authorization code.");
    REDIRECT_MISMATCH = (50011, "invalid_request", 400, true,
        "The redirect URI '{}' specified in the request does not match the redirect URIs configured for the application '{}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this.");
    /// Wording UNCONFIRMED; Entra asks public clients for PKCE on cross-origin redemption.
    PKCE_REQUIRED = (9002325, "invalid_request", 400, false,
        "Proof Key for Code Exchange is required for public client applications. Send code_challenge and code_challenge_method.");
    /// Wording UNCONFIRMED.
    BAD_CODE_CHALLENGE = (501491, "invalid_request", 400, false,
        "The code_challenge or code_challenge_method is not valid: S256 challenges are 43 base64url characters, plain ones 43 to 128 characters, and the method is S256 or plain.");
    /// Wording UNCONFIRMED.
    UNSUPPORTED_RESPONSE_TYPE = (700051, "unsupported_response_type", 400, false,
        "The response_type '{}' is not supported: use 'code' or 'code id_token'.");
    // SAML 2.0 and WS-Federation (docs/saml-wsfed-wire.md §3): shown on the error page, or
    // in a SAML error Response's StatusMessage; the OAuth `error` does not appear there.
    SAML_MESSAGE_MISSING = (750054, "invalid_request", 400, true,
        "SAMLRequest or SAMLResponse must be present as query string parameters in HTTP request for SAML Redirect binding.");
    SAML_INVALID = (75005, "invalid_request", 400, true,
        "The request is not a valid Saml2 protocol message.");
    SAML_REPLY_MISMATCH = (50011, "invalid_request", 400, true,
        "The reply URL specified in the request does not match the reply URLs configured for the application: '{}'.");
    /// Wording after the error reference's name
    /// (Saml2AuthenticationRequestInvalidNameIDPolicy); UNCONFIRMED.
    SAML_NAMEID_POLICY = (75016, "invalid_request", 400, false,
        "SAML2 Authentication Request has invalid NameIdPolicy.");
    SAML_PROPERTY_UNSUPPORTED = (900236, "invalid_request", 400, true,
        "The SAML authentication request property '{}' is not supported and must not be set.");
    SAML_UNSIGNED = (76021, "invalid_request", 400, true,
        "The request sent by client is not signed while the application requires signed requests");
    /// Wording from an SP developer's notes, not the error reference: UNCONFIRMED.
    SAML_BAD_SIGNATURE = (76023, "invalid_request", 400, false,
        "The signature of the received authentication request is invalid, please contact the administrator to resolve the issue.");
    /// Wording UNCONFIRMED (the error reference names it "No reply address provided").
    NO_REPLY_ADDRESS = (900971, "invalid_request", 400, false,
        "No reply address provided.");
    LOGIN_REQUIRED = (50058, "login_required", 400, true,
        "A silent sign-in request was sent but no user is signed in. The cookies used to represent the user's session were not sent in the request to Azure AD.");
    /// Consent needed but `prompt=none` forbids asking (wording UNCONFIRMED).
    CONSENT_REQUIRED_INTERACTIVE = (65001, "consent_required", 400, false,
        "The user or administrator has not consented to use the application with ID '{}' named '{}'. Send an interactive authorization request for this user and resource.");
    USER_DECLINED = (65004, "access_denied", 400, true, "User declined to consent to access the app.");
    DEVICE_PENDING = (70016, "authorization_pending", 400, true, "OAuth 2.0 device flow error. Authorization is pending. Continue polling.");
    DEVICE_EXPIRED = (70020, "expired_token", 400, true,
        "The provided value for the input parameter 'device_code' is not valid. This device code has expired.");
    /// Code and wording UNCONFIRMED.
    DEVICE_DECLINED = (65004, "authorization_declined", 400, false, "User declined to consent to access the app.");
    /// Entra's use of slow_down is UNCONFIRMED; the `error` is RFC 8628's.
    DEVICE_SLOW_DOWN = (70016, "slow_down", 400, false,
        "OAuth 2.0 device flow error. The client is polling faster than the interval of {} seconds. Wait longer between polls.");
    /// Wording UNCONFIRMED.
    BAD_DEVICE_CODE = (70018, "bad_verification_code", 400, false,
        "The provided value for the input parameter 'device_code' is not valid.");
    OBO_BAD_ASSERTION = (50013, "invalid_grant", 400, true, "Assertion failed signature validation.");
    /// Wording partly UNCONFIRMED.
    OBO_WRONG_AUDIENCE = (50013, "invalid_grant", 400, false,
        "Assertion audience does not match the Client app presenting the assertion. The audience in the assertion was '{}' and the expected audience is '{}'.");
    OBO_EXPIRED_ASSERTION = (500133, "invalid_grant", 400, true,
        "Assertion is not within its valid time range. Ensure that the access token is not expired before using it for user assertion, or request a new token.");
    /// An on-behalf-of assertion that is not a JWT at all. `error` and status as in MSAL.NET's
    /// recorded 50027 response (`invalid_request`, 400); wording as Entra prints it.
    OBO_MALFORMED_ASSERTION = (50027, "invalid_request", 400, true, "JWT token is invalid or malformed.");
    /// Wording UNCONFIRMED.
    OBO_BAD_USE = (50027, "invalid_request", 400, false,
        "The jwt-bearer grant needs requested_token_use=on_behalf_of and an 'assertion'.");
    /// Status UNCONFIRMED.
    INVALID_INSTANCE = (50049, "invalid_instance", 400, false, "Unknown or invalid instance.");
    /// Wording UNCONFIRMED: the app does not allow public client flows.
    PUBLIC_FLOWS_DISABLED = (7000218, "invalid_client", 401, true,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
    /// Wording UNCONFIRMED: an app-only grant was asked for by a public client.
    CLIENT_NOT_CONFIDENTIAL = (700025, "invalid_client", 401, false,
        "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.");
    /// Wording UNCONFIRMED: malformed 'claims' parameter.
    INVALID_CLAIMS = (90014, "invalid_request", 400, false,
        "The 'claims' parameter is not a valid JSON claims request.");
    /// A storage or other internal failure; clients should retry. Status 503 so that MSAL and
    /// azure-core retry it.
    TRANSIENT = (90033, "temporarily_unavailable", 503, true, "A transient error has occurred. Please try again.");
    /// LoopDetected: the same request too many times in a short time (Microsoft's "Looping
    /// clients will be interrupted", reference-breaking-changes.md, March 2019: `invalid_grant`
    /// for 15 or more identical requests within 5 minutes). The wording is what Entra sent in
    /// reports from 2020 to 2023 (azure-sdk-for-net#23324, AzureAD/MSAL.PS#10 and #28,
    /// pnp/powershell#2995; older responses and the docs say "encountered a loop while
    /// processing a request"); status 400 as MSAL.NET logs it with this error
    /// (microsoft-authentication-library-for-dotnet#2353) and as for every `invalid_grant`.
    LOOP_DETECTED = (50196, "invalid_grant", 400, true,
        "The server terminated an operation because it encountered a client request loop. Please contact your app vendor.");
    /// Throttling (test-mode faults and per-app limits): 429, as Entra answers a client
    /// credentials loop with `Retry-After` (MSAL.NET's "client and server throttling"); the
    /// body's `error` and code with that 429 are UNCONFIRMED.
    THROTTLED = (50196, "temporarily_unavailable", 429, false,
        "The server terminated an operation because it encountered a client request loop. Please contact your app vendor.");
}

/// The `suberror` Entra sends with a code, which MSAL reads to classify the failure:
/// `bad_token` makes msal-node and MSAL.NET raise an interaction-required error and drop the
/// refresh token from their cache; `basic_action` and `consent_required` tell the app that an
/// interactive sign-in resolves it. Sources: real responses recorded in azure-sdk-for-js's
/// identity tests (50173 and 50034 with `bad_token`), public Entra responses with 50076 and
/// `basic_action`, MSAL's `InvalidGrantClassification`/`InteractionRequiredAuthErrorCodes`.
/// 700082 with `bad_token` is what MSAL JS's "handle bad_token" change (PR 6757) was made for;
/// not seen in a recording here (UNCONFIRMED, as is 50055's `user_password_expired`).
pub fn suberror_for(code: u32) -> Option<&'static str> {
    match code {
        50173 | 700082 | 50034 => Some("bad_token"),
        50076 | 50079 => Some("basic_action"),
        65001 => Some("consent_required"),
        50055 => Some("user_password_expired"),
        _ => None,
    }
}

/// Looks a code up in the catalogue (the first entry wins where one code has two wordings).
pub fn lookup(code: u32) -> Option<&'static Aadsts> {
    CATALOGUE.iter().find(|e| e.code == code)
}

impl Aadsts {
    /// Builds an error with the template's `{}` placeholders filled in order.
    pub fn with(&'static self, args: &[&str]) -> AadstsError {
        let mut message = String::with_capacity(self.template.len() + 64);
        let mut rest = self.template;
        let mut args = args.iter();
        while let Some(pos) = rest.find("{}") {
            message.push_str(&rest[..pos]);
            message.push_str(args.next().copied().unwrap_or(""));
            rest = &rest[pos + 2..];
        }
        message.push_str(rest);
        AadstsError {
            entry: self,
            message,
            suberror: suberror_for(self.code),
            claims: None,
        }
    }

    /// An error whose template has no placeholders.
    pub fn err(&'static self) -> AadstsError {
        self.with(&[])
    }
}

/// An AADSTS error ready to be rendered with its trace trailer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("AADSTS{}: {}", entry.code, message)]
pub struct AadstsError {
    pub entry: &'static Aadsts,
    pub message: String,
    pub suberror: Option<&'static str>,
    /// A claims request (JSON string) for step-up, as Entra sends on 50076.
    pub claims: Option<String>,
}

impl AadstsError {
    pub fn code(&self) -> u32 {
        self.entry.code
    }

    pub fn status(&self) -> u16 {
        self.entry.status
    }

    pub fn with_suberror(mut self, suberror: &'static str) -> Self {
        self.suberror = Some(suberror);
        self
    }

    /// Renders Entra's JSON error body. `timestamp` is `YYYY-MM-DD HH:MM:SSZ`.
    pub fn to_response(
        &self,
        trace_id: &str,
        correlation_id: &str,
        timestamp: &str,
    ) -> ErrorResponse {
        ErrorResponse {
            error: self.entry.error.to_owned(),
            error_description: format!(
                "AADSTS{}: {} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {timestamp}",
                self.entry.code, self.message
            ),
            error_codes: vec![self.entry.code],
            timestamp: timestamp.to_owned(),
            trace_id: trace_id.to_owned(),
            correlation_id: correlation_id.to_owned(),
            error_uri: Some(format!(
                "https://login.microsoftonline.com/error?code={}",
                self.entry.code
            )),
            suberror: self.suberror.map(str::to_owned),
            claims: self.claims.clone(),
        }
    }
}

/// Entra's error body, field order as the service sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub error: String,
    pub error_description: String,
    #[serde(default)]
    pub error_codes: Vec<u32>,
    #[serde(default)]
    pub timestamp: String,
    #[serde(default)]
    pub trace_id: String,
    #[serde(default)]
    pub correlation_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suberror: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_placeholders_in_order() {
        let e = APPLICATION_NOT_FOUND.with(&["abc", "Contoso"]);
        assert!(e.message.starts_with(
            "Application with identifier 'abc' was not found in the directory 'Contoso'."
        ));
        assert_eq!(e.to_string().split(':').next(), Some("AADSTS700016"));
    }

    #[test]
    fn response_has_entra_shape() {
        let r = INVALID_CLIENT_SECRET
            .with(&["cid"])
            .to_response("t", "c", "2026-01-02 03:04:05Z");
        let v = serde_json::to_value(&r).expect("serialises");
        assert_eq!(v["error"], "invalid_client");
        assert_eq!(v["error_codes"][0], 7000215);
        assert_eq!(
            v["error_uri"],
            "https://login.microsoftonline.com/error?code=7000215"
        );
        let d = v["error_description"].as_str().expect("string");
        assert!(d.starts_with("AADSTS7000215: Invalid client secret provided."));
        assert!(d.ends_with("Trace ID: t Correlation ID: c Timestamp: 2026-01-02 03:04:05Z"));
        assert!(v.get("suberror").is_none());
    }

    #[test]
    fn dead_grants_carry_bad_token() {
        for e in [
            REFRESH_TOKEN_INACTIVE.with(&["a", "b"]),
            GRANT_REVOKED.with(&["a", "b"]),
            USER_NOT_FOUND.with(&["a", "b"]),
        ] {
            let v = serde_json::to_value(e.to_response("t", "c", "x")).expect("serialises");
            assert_eq!(v["suberror"], "bad_token", "{}", e.code());
        }
        let consent = CONSENT_REQUIRED
            .with(&["a", "b"])
            .to_response("t", "c", "x");
        assert_eq!(consent.suberror.as_deref(), Some("consent_required"));
        let mfa = MFA_REQUIRED.with(&["a"]).to_response("t", "c", "x");
        assert_eq!(mfa.suberror.as_deref(), Some("basic_action"));
        assert_eq!(INVALID_PASSWORD.err().suberror, None);
    }

    #[test]
    fn revoked_grant_names_both_dates() {
        let e = GRANT_REVOKED.with(&[
            "2021-10-29T17:06:26.0000000Z",
            "2021-10-29T17:16:00.0000000Z",
        ]);
        assert!(e.message.ends_with("The grant was issued on '2021-10-29T17:06:26.0000000Z' and the TokensValidFrom date (before which tokens are not valid) for this user is '2021-10-29T17:16:00.0000000Z'."));
    }

    #[test]
    fn catalogue_codes_are_findable() {
        for code in [
            7000215, 7000222, 700016, 90002, 50126, 50034, 50057, 50076, 70011, 70008, 700082,
            700024, 700027, 900144, 70003,
        ] {
            let e = lookup(code).expect("catalogued");
            assert!(e.status == 400 || e.status == 401, "{code}");
        }
        assert!(lookup(1).is_none());
    }
}
