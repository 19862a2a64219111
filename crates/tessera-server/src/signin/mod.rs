//! Interactive sign-in: the authorize endpoint (authorization code with PKCE, `code
//! id_token`, query/fragment/form_post), the device code endpoint and its `/devicelogin`
//! pages, the sign-in pages (user name, password, one-time code, consent, account picker),
//! single sign-on by session cookie, and logout; and the same pages for the protocols that
//! sign users in through them (SAML 2.0, WS-Federation).

mod answer;
mod authorize;
mod consent;
mod device;
mod external;
mod flow;
mod logout;
mod pages;
mod session;
mod steps;
mod web;

use std::sync::Arc;

use crate::state::AppState;

pub(crate) use authorize::authorize;
pub(crate) use consent::login_consent;
pub(crate) use device::{device_authorization, devicelogin_page, devicelogin_submit, login_device};
pub(crate) use external::{Ask, begin, end_session, error_page, form_post, message};
pub(crate) use flow::{Purpose, SamlParams};
pub(crate) use logout::logout;
pub(crate) use steps::{login_account, login_mfa, login_password, login_username};

type Shared = axum::extract::State<Arc<AppState>>;

const SESSION_COOKIE: &str = "tessera_sso";
const CSRF_COOKIE: &str = "tessera_csrf";
const CODE_SECONDS: i64 = 600;
const DEVICE_CODE_SECONDS: i64 = 900;
const DEVICE_INTERVAL: i64 = 5;
/// User codes avoid look-alike characters (0/O, 1/I).
const USER_CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
