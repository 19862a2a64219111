//! Interactive sign-in: the authorization code flow with PKCE, as a desktop app runs it. A
//! listener on 127.0.0.1 receives the browser's redirect; with no browser on this machine (SSH,
//! containers) the URL is shown and the person pastes back the address the browser ended on.

use std::sync::Arc;
use std::time::Duration;

use tessera_proto::errors::ErrorResponse;
use tessera_proto::token::TokenResponse;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::authority::Authority;
use crate::credential::{
    BoxFuture, Credential, HeldRefreshToken, Identity, TokenRequest, post, with_oidc,
};
use crate::error::{AadstsFailure, ClientError};
use crate::http::TokenHttp;
use crate::secret::Secret;

/// Shows the sign-in URL and returns the address the browser ended on.
pub type Paster = Arc<dyn Fn(&str) -> Result<String, String> + Send + Sync>;

/// How the authorization code comes back from the browser.
#[derive(Clone)]
pub enum Redirect {
    /// A listener on 127.0.0.1 at `port` (0: any free port); the redirect URI is
    /// `http://localhost:PORT`, which Entra accepts for public clients that registered
    /// `http://localhost` (any port matches, per its loopback rule).
    Loopback { port: u16 },
    /// No listener: `paste` is given the URL to open elsewhere and returns the address the
    /// browser ended on (`http://localhost/?code=…`, which fails to load, as expected).
    Paste(Paster),
}

impl std::fmt::Debug for Redirect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Loopback { port } => f.debug_struct("Loopback").field("port", port).finish(),
            Self::Paste(_) => f.write_str("Paste"),
        }
    }
}

type Opener = Arc<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// Authorization code with PKCE (S256) for a public client. After the first sign-in the
/// newest refresh token is held, so later tokens come without the browser until Entra
/// refuses it.
///
/// Runnable example: `examples/interactive.rs` (`cargo run -p tessera-client --example
/// interactive`), run against `tessera serve` with Chromium by the integration tests.
pub struct InteractiveCredential {
    pub authority: Authority,
    pub client_id: String,
    pub redirect: Redirect,
    /// Pre-fills the user name (`login_hint`); also keys the cache by account.
    pub login_hint: Option<String>,
    /// `prompt`: `select_account`, `login`, `consent` or `none`.
    pub prompt: Option<String>,
    /// How long to wait for the browser to come back.
    pub timeout: Duration,
    open: Opener,
    refresh: HeldRefreshToken,
}

impl std::fmt::Debug for InteractiveCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InteractiveCredential")
            .field("client_id", &self.client_id)
            .field("redirect", &self.redirect)
            .finish_non_exhaustive()
    }
}

impl InteractiveCredential {
    /// Loopback on a free port, opening the system browser, waiting up to 5 minutes.
    pub fn new(authority: Authority, client_id: impl Into<String>) -> Self {
        Self {
            authority,
            client_id: client_id.into(),
            redirect: Redirect::Loopback { port: 0 },
            login_hint: None,
            prompt: None,
            timeout: Duration::from_secs(300),
            open: Arc::new(open_system_browser),
            refresh: HeldRefreshToken::default(),
        }
    }

    /// Replaces how the sign-in URL is opened (a test's browser, a custom launcher).
    #[must_use]
    pub fn with_opener(
        mut self,
        open: impl Fn(&str) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.open = Arc::new(open);
        self
    }

    /// The no-browser mode that asks on the terminal: prints the URL on stderr and reads the
    /// pasted address from stdin.
    #[must_use]
    pub fn pasting_from_terminal(mut self) -> Self {
        self.redirect = Redirect::Paste(Arc::new(|url| {
            #[allow(clippy::print_stderr)] // the person at the terminal must see it
            {
                eprintln!(
                    "Open this address in a browser on any machine and sign in:\n\n  {url}\n\n\
                     The browser then fails to load a http://localhost/?code=... page; copy that \
                     address from its address bar and paste it here:"
                );
            }
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| format!("reading the pasted address: {e}"))?;
            Ok(line.trim().to_owned())
        }));
        self
    }

    fn authorize_url(
        &self,
        redirect_uri: &str,
        request: &TokenRequest,
        pkce: &Pkce,
    ) -> Result<String, ClientError> {
        let mut url = url::Url::parse(&self.authority.authorize_endpoint())
            .map_err(|e| ClientError::Config(format!("the authority is not a URL: {e}")))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", &self.client_id)
                .append_pair("response_type", "code")
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("response_mode", "query")
                .append_pair("scope", &with_oidc(request))
                .append_pair("state", pkce.state.expose())
                .append_pair("code_challenge", &pkce.challenge)
                .append_pair("code_challenge_method", "S256");
            if let Some(hint) = &self.login_hint {
                q.append_pair("login_hint", hint);
            }
            if let Some(prompt) = &self.prompt {
                q.append_pair("prompt", prompt);
            }
            if let Some(claims) = request.claims_parameter()? {
                q.append_pair("claims", &claims);
            }
        }
        Ok(url.into())
    }
}

/// The PKCE verifier (RFC 7636, 43 characters from 32 random bytes) and the `state` value.
struct Pkce {
    verifier: Secret,
    challenge: String,
    state: Secret,
}

impl Pkce {
    fn new() -> Result<Self, ClientError> {
        let mut bytes = [0u8; 48];
        aws_lc_rs::rand::fill(&mut bytes)
            .map_err(|_| ClientError::Config("no system randomness for PKCE".into()))?;
        let verifier = tessera_proto::b64::url_encode(&bytes[..32]);
        let challenge = tessera_proto::b64::url_encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            verifier.as_bytes(),
        ));
        Ok(Self {
            verifier: Secret::new(verifier),
            challenge,
            state: Secret::new(tessera_proto::b64::url_encode(&bytes[32..])),
        })
    }
}

impl Credential for InteractiveCredential {
    fn identity(&self) -> Identity {
        Identity::new(
            &self.authority,
            &self.client_id,
            self.login_hint
                .clone()
                .unwrap_or_else(|| "interactive".to_owned()),
        )
    }

    fn fetch<'a>(
        &'a self,
        http: &'a TokenHttp,
        request: &'a TokenRequest,
    ) -> BoxFuture<'a, TokenResponse> {
        Box::pin(async move {
            if let Some(done) = self
                .refresh
                .redeem(http, &self.authority, &self.client_id, request)
                .await
            {
                return done;
            }
            let pkce = Pkce::new()?;
            let (redirect_uri, query) = match &self.redirect {
                Redirect::Loopback { port } => {
                    let listener = tokio::net::TcpListener::bind(("127.0.0.1", *port))
                        .await
                        .map_err(|e| {
                            ClientError::io(format!("listening on 127.0.0.1:{port}"), e)
                        })?;
                    let port = listener
                        .local_addr()
                        .map_err(|e| ClientError::io("the loopback listener's port", e))?
                        .port();
                    let redirect_uri = format!("http://localhost:{port}");
                    let url = self.authorize_url(&redirect_uri, request, &pkce)?;
                    (self.open)(&url).map_err(|e| {
                        ClientError::Interaction(format!(
                            "could not open a browser ({e}); use the no-browser mode, or open {url}"
                        ))
                    })?;
                    let query = tokio::time::timeout(self.timeout, receive(&listener))
                        .await
                        .map_err(|_| {
                            ClientError::Interaction(format!(
                                "the browser did not come back to {redirect_uri} within {} s",
                                self.timeout.as_secs()
                            ))
                        })??;
                    (redirect_uri, query)
                }
                Redirect::Paste(paste) => {
                    let redirect_uri = "http://localhost".to_owned();
                    let url = self.authorize_url(&redirect_uri, request, &pkce)?;
                    let paste = paste.clone();
                    let pasted = tokio::task::spawn_blocking(move || paste(&url))
                        .await
                        .map_err(|e| ClientError::Interaction(format!("reading the paste: {e}")))?
                        .map_err(ClientError::Interaction)?;
                    let query = url::Url::parse(pasted.trim())
                        .map_err(|_| {
                            ClientError::Interaction(
                                "that is not the address the browser ended on (it starts with http://localhost/?code=)".into(),
                            )
                        })?
                        .query()
                        .unwrap_or_default()
                        .to_owned();
                    (redirect_uri, query)
                }
            };
            let code = code_from(&query, pkce.state.expose())?;
            let form = vec![
                ("grant_type", "authorization_code".to_owned()),
                ("client_id", self.client_id.clone()),
                ("code", code.expose().to_owned()),
                ("redirect_uri", redirect_uri),
                ("code_verifier", pkce.verifier.expose().to_owned()),
                ("scope", with_oidc(request)),
            ];
            let response = post(http, &self.authority, form, request).await?;
            self.refresh.keep(&response);
            Ok(response)
        })
    }
}

/// The authorization code from the redirect's query, after checking `state`; Entra's error
/// redirect becomes the same typed error a token endpoint failure does.
fn code_from(query: &str, state: &str) -> Result<Secret, ClientError> {
    let mut code = None;
    let mut got_state = None;
    let mut err = ErrorResponse::default();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "code" => code = Some(Secret::new(v.into_owned())),
            "state" => got_state = Some(v.into_owned()),
            "error" => err.error = v.into_owned(),
            "error_description" => err.error_description = v.into_owned(),
            "error_uri" => err.error_uri = Some(v.into_owned()),
            "trace_id" => err.trace_id = v.into_owned(),
            "correlation_id" => err.correlation_id = v.into_owned(),
            "suberror" => err.suberror = Some(v.into_owned()),
            _ => {}
        }
    }
    // The state check comes first: an answer to someone else's request proves nothing.
    if got_state.as_deref() != Some(state) {
        return Err(ClientError::Interaction(
            "the browser came back with a different state: not the answer to this sign-in".into(),
        ));
    }
    if !err.error.is_empty() {
        // The redirect carries no error_codes; the description starts with "AADSTSnnnn:".
        err.error_codes = err
            .error_description
            .strip_prefix("AADSTS")
            .and_then(|rest| rest.split(':').next())
            .and_then(|n| n.parse().ok())
            .into_iter()
            .collect();
        return Err(ClientError::Aadsts(Box::new(AadstsFailure {
            status: 302,
            response: err,
            context: Some("returned to the redirect URI by the sign-in page".into()),
        })));
    }
    code.ok_or_else(|| ClientError::Interaction("the redirect carried no code".into()))
}

/// Answers browser requests on the loopback listener until one carries the redirect's query.
async fn receive(listener: &tokio::net::TcpListener) -> Result<String, ClientError> {
    loop {
        let (mut stream, _) = listener
            .accept()
            .await
            .map_err(|e| ClientError::io("accepting the browser's connection", e))?;
        let Some(target) = read_request_target(&mut stream).await else {
            continue;
        };
        let query = target
            .split_once('?')
            .map(|(_, q)| q.to_owned())
            .unwrap_or_default();
        let ours = query.contains("code=") || query.contains("error=");
        let (status, body) = if ours && query.contains("code=") {
            ("200 OK", DONE_PAGE)
        } else if ours {
            ("200 OK", FAILED_PAGE)
        } else {
            // The browser's own requests (favicon) and strays.
            ("404 Not Found", "")
        };
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
        if ours {
            return Ok(query);
        }
    }
}

/// The request line's target (`/?code=…`), from at most 16 KiB of request head.
async fn read_request_target(stream: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 2048];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 || buf.len() > 16 * 1024 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = std::str::from_utf8(&buf).ok()?;
    let mut parts = head.lines().next()?.split(' ');
    let (method, target) = (parts.next()?, parts.next()?);
    (method == "GET").then(|| target.to_owned())
}

const DONE_PAGE: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Signed in</title></head><body><main><h1>Signed in</h1><p>You can close this window and go back to the application.</p></main></body></html>";
const FAILED_PAGE: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign-in failed</title></head><body><main><h1>Sign-in failed</h1><p>The application shows what went wrong. You can close this window.</p></main></body></html>";

/// Opens `url` in the system browser: `$BROWSER` when set, else `xdg-open` (Linux), `open`
/// (macOS) or `rundll32` (Windows). The URL goes as one argument, never through a shell.
pub fn open_system_browser(url: &str) -> Result<(), String> {
    let program = std::env::var("BROWSER").ok().filter(|b| !b.is_empty());
    let mut cmd = match program {
        Some(b) => std::process::Command::new(b),
        None if cfg!(target_os = "macos") => std::process::Command::new("open"),
        None if cfg!(windows) => {
            let mut c = std::process::Command::new("rundll32");
            c.arg("url.dll,FileProtocolHandler");
            c
        }
        None => std::process::Command::new("xdg-open"),
    };
    cmd.arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    cmd.spawn()
        .map(|_| ())
        .map_err(|e| format!("starting {:?}: {e}", cmd.get_program()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_is_s256_of_the_verifier() {
        let p = Pkce::new().expect("pkce");
        assert_eq!(p.verifier.expose().len(), 43);
        let again = tessera_proto::b64::url_encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            p.verifier.expose().as_bytes(),
        ));
        assert_eq!(p.challenge, again);
        assert_ne!(
            Pkce::new().expect("pkce").verifier.expose(),
            p.verifier.expose()
        );
    }

    #[test]
    fn redirects_are_checked_and_errors_typed() {
        assert_eq!(
            code_from("code=abc&state=s1", "s1").expect("code").expose(),
            "abc"
        );
        assert!(matches!(
            code_from("code=abc&state=other", "s1"),
            Err(ClientError::Interaction(_))
        ));
        assert!(matches!(
            code_from("code=abc", "s1"),
            Err(ClientError::Interaction(_))
        ));
        let e = code_from(
            "error=access_denied&error_description=AADSTS65004%3A+User+declined+to+consent.&state=s1",
            "s1",
        )
        .expect_err("declined");
        assert_eq!(e.aadsts_codes(), [65004]);
        assert!(e.to_string().contains("access_denied"), "{e}");
    }
}
