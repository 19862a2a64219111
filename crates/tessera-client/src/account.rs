//! Signed-in users that outlive the process: `sign_in` runs a user flow once (device code,
//! browser, password) and keeps the account's refresh token in the persistent cache;
//! `AccountCredential` later gets tokens from it silently, in any process, rotating it as
//! Entra sends new ones, until Entra refuses it and the person must sign in again.

use std::sync::Arc;

use tessera_proto::token::{ClientInfo, TokenResponse};

use crate::authority::Authority;
use crate::credential::{BoxFuture, Credential, Identity, TokenRequest, post, refresh_form};
use crate::error::ClientError;
use crate::http::TokenHttp;
use crate::persist::{PersistedAccount, PersistentCache};

/// The cache key of an account entry.
pub fn account_key(authority: &str, client_id: &str, username: &str) -> String {
    format!(
        "account|v1|{}|{}|{}",
        authority.to_ascii_lowercase(),
        client_id.to_ascii_lowercase(),
        username.to_ascii_lowercase()
    )
}

/// Every signed-in account in the cache.
pub fn accounts(cache: &PersistentCache) -> Result<Vec<PersistedAccount>, ClientError> {
    Ok(cache
        .entries()?
        .into_iter()
        .filter_map(|e| e.account)
        .collect())
}

/// Runs `flow` (a user credential) once and keeps the account it signed in. Returns the
/// account; its refresh token is what later processes use.
pub async fn sign_in(
    cache: &PersistentCache,
    http: &TokenHttp,
    authority: &Authority,
    client_id: &str,
    flow: &dyn Credential,
    request: &TokenRequest,
) -> Result<PersistedAccount, ClientError> {
    let response = flow.fetch(http, request).await?;
    let refresh_token = response.refresh_token.clone().ok_or_else(|| {
        ClientError::Interaction(
            "the sign-in returned no refresh token (offline_access was not granted), so it cannot be kept for later commands".into(),
        )
    })?;
    let username = username_of(&response).ok_or_else(|| {
        ClientError::Http("the sign-in returned no ID token naming the user".into())
    })?;
    let account = PersistedAccount {
        username,
        authority: authority.url(),
        client_id: client_id.to_owned(),
        refresh_token,
        home_account_id: response
            .client_info
            .as_deref()
            .and_then(ClientInfo::decode)
            .map(|c| format!("{}.{}", c.uid, c.utid)),
        signed_in_at: http.clock().unix(),
    };
    cache.put_account(
        &account_key(&account.authority, client_id, &account.username),
        &account,
    )?;
    Ok(account)
}

/// `preferred_username` (or `upn`, `email`) of the ID token that came with a sign-in.
fn username_of(response: &TokenResponse) -> Option<String> {
    let id_token = response.id_token.as_deref()?;
    let parsed = tessera_proto::jwt::parse(id_token).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&parsed.payload).ok()?;
    ["preferred_username", "upn", "email", "unique_name"]
        .iter()
        .find_map(|c| claims.get(*c).and_then(|v| v.as_str()))
        .map(str::to_owned)
}

/// Forgets an account and every token cached for it. Returns how many entries were removed.
pub fn sign_out(cache: &PersistentCache, account: &PersistedAccount) -> Result<usize, ClientError> {
    let mut removed = 0;
    for e in cache.entries()? {
        let belongs = match (&e.account, crate::provider::parse_token_key(&e.key)) {
            (Some(a), _) => a == account,
            (None, Some(k)) => {
                k.account.eq_ignore_ascii_case(&account.username)
                    && k.authority.eq_ignore_ascii_case(&account.authority)
                    && k.client_id.eq_ignore_ascii_case(&account.client_id)
            }
            _ => false,
        };
        if belongs {
            cache.remove(&e.key)?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Tokens for a signed-in account, from its kept refresh token.
///
/// Runnable example: `examples/signed_in_account.rs`, run against `tessera serve` by the
/// integration tests.
#[derive(Debug, Clone)]
pub struct AccountCredential {
    cache: Arc<PersistentCache>,
    authority: Authority,
    account: PersistedAccount,
}

impl AccountCredential {
    /// The account signed in for `authority` and `client_id`: the one named `username`, or
    /// the only one there is.
    pub fn find(
        cache: Arc<PersistentCache>,
        authority: Authority,
        client_id: &str,
        username: Option<&str>,
    ) -> Result<Option<Self>, ClientError> {
        let url = authority.url();
        if let Some(name) = username {
            // Named: one entry read, whatever the cache's size.
            let found = cache.get_account(&account_key(&url, client_id, name))?;
            return Ok(found.map(|account| Self {
                cache,
                authority,
                account,
            }));
        }
        // Unnamed: every entry is read to find the accounts (people's commands only).
        let mut matching: Vec<PersistedAccount> = accounts(&cache)?
            .into_iter()
            .filter(|a| {
                a.authority.eq_ignore_ascii_case(&url)
                    && a.client_id.eq_ignore_ascii_case(client_id)
            })
            .collect();
        match matching.len() {
            0 => Ok(None),
            1 => Ok(Some(Self {
                cache,
                authority,
                account: matching.remove(0),
            })),
            _ => Err(ClientError::Invalid(format!(
                "several accounts are signed in for this application ({}); choose one with --account",
                matching
                    .iter()
                    .map(|a| a.username.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    pub fn username(&self) -> &str {
        &self.account.username
    }

    fn key(&self) -> String {
        account_key(
            &self.account.authority,
            &self.account.client_id,
            &self.account.username,
        )
    }
}

impl Credential for AccountCredential {
    fn identity(&self) -> Identity {
        Identity::new(
            &self.authority,
            &self.account.client_id,
            self.account.username.clone(),
        )
    }

    fn fetch<'a>(
        &'a self,
        http: &'a TokenHttp,
        request: &'a TokenRequest,
    ) -> BoxFuture<'a, TokenResponse> {
        Box::pin(async move {
            // Another process may have rotated the refresh token since this one started.
            let current = self
                .cache
                .get_account(&self.key())?
                .ok_or_else(|| {
                    ClientError::Interaction(format!(
                        "{} is no longer signed in (signed out in another process); sign in again with `tessera login`",
                        self.account.username
                    ))
                })?;
            let form = refresh_form(&current.client_id, &current.refresh_token, request);
            match post(http, &self.authority, form, request).await {
                Ok(response) => {
                    if let Some(rt) = &response.refresh_token
                        && *rt != current.refresh_token
                    {
                        // Entra keeps the previous refresh token valid, so two processes
                        // rotating at once both end with a working one, whichever lands last.
                        self.cache.put_account(
                            &self.key(),
                            &PersistedAccount {
                                refresh_token: rt.clone(),
                                ..current
                            },
                        )?;
                    }
                    Ok(response)
                }
                Err(ClientError::Aadsts(f)) if f.response.error == "invalid_grant" => {
                    Err(ClientError::Interaction(format!(
                        "the sign-in of {} can no longer be used ({}); sign in again with `tessera login`",
                        current.username,
                        f.summary()
                    )))
                }
                Err(e) => Err(e),
            }
        })
    }
}
