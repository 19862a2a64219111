// Shared helpers for the browser tests and drive.mjs: launching Debian's Chromium through
// playwright-core (never a downloaded browser), trusting the server's TLS key, PKCE, TOTP,
// the token endpoint, JWT checks, screenshots with an accessibility check, and a driver
// that walks the sign-in pages (user name, password, one-time code, consent, account
// picker, device confirmation) until the browser is sent back to the app.
//
// Environment (set by crates/tessera-cli/tests/it/browser.rs, or by hand):
//   TESSERA_DEMO_JSON        demo.json of the running `tessera serve`
//   TESSERA_BASE_URL         https://127.0.0.1:PORT (else derived from demo.json)
//   TESSERA_FIXTURES         JSON written by the harness: the extra tenant from --config
//   TESSERA_SCREENSHOT_DIR   where PNGs go (default <repo>/target/screenshots)
//   TESSERA_CHROMIUM         the browser binary (default /usr/bin/chromium)
//   NODE_EXTRA_CA_CERTS      the server's CA, so node's fetch trusts it

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(here, '..', '..');

export const CHROMIUM = process.env.TESSERA_CHROMIUM || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

// ---------------------------------------------------------------------------------------
// Environment.

export function demo() {
  const p = process.env.TESSERA_DEMO_JSON;
  assert.ok(p, 'TESSERA_DEMO_JSON is not set: run these tests through `cargo test -p tessera-cli --test integration browser`');
  return JSON.parse(fs.readFileSync(p, 'utf8'));
}

export function fixtures() {
  const p = process.env.TESSERA_FIXTURES;
  assert.ok(p, 'TESSERA_FIXTURES is not set: run these tests through `cargo test -p tessera-cli --test integration browser`');
  return JSON.parse(fs.readFileSync(p, 'utf8'));
}

export function baseUrl() {
  if (process.env.TESSERA_BASE_URL) return process.env.TESSERA_BASE_URL.replace(/\/$/, '');
  return new URL(demo().authority).origin;
}

// ---------------------------------------------------------------------------------------
// The browser.

/**
 * base64(SHA-256(SubjectPublicKeyInfo)) of the server's TLS leaf, read over a connection
 * that node verifies against the server's CA (NODE_EXTRA_CA_CERTS). Chromium is then told
 * to accept exactly that key (--ignore-certificate-errors-spki-list), nothing else.
 */
export async function leafSpkiHash(base) {
  const u = new URL(base);
  const cert = await new Promise((resolve, reject) => {
    const opts = { host: u.hostname, port: Number(u.port || 443), rejectUnauthorized: true };
    if (!/^[\d.]+$/.test(u.hostname) && !u.hostname.includes(':')) opts.servername = u.hostname;
    const s = tls.connect(opts, () => {
      const c = s.getPeerCertificate(false);
      s.end();
      resolve(c);
    });
    s.on('error', reject);
  });
  const x509 = new crypto.X509Certificate(cert.raw);
  const spki = x509.publicKey.export({ type: 'spki', format: 'der' });
  return crypto.createHash('sha256').update(spki).digest('base64');
}

export async function launch(base = baseUrl()) {
  const spki = await leafSpkiHash(base);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS, `--ignore-certificate-errors-spki-list=${spki}`],
  });
}

const domIssues = new WeakMap();

/**
 * A browser context as a person's browser: English, a laptop-sized window. Chromium's own
 * page checks ("[DOM] Password forms should have ... username fields", and the like) are
 * collected per page and fail `snap`.
 */
export async function newContext(browser, opts = {}) {
  const context = await browser.newContext({
    locale: 'en-US',
    viewport: { width: 760, height: 760 },
    ...opts,
  });
  context.on('console', (m) => {
    const page = m.page();
    if (page && m.text().startsWith('[DOM]')) {
      if (!domIssues.has(page)) domIssues.set(page, []);
      domIssues.get(page).push(`${page.url()}: ${m.text()}`);
    }
  });
  return context;
}

/**
 * The app's side of the redirect: a real HTTP listener on loopback (Playwright's routing does
 * not see the targets of redirects, and a real listener is what a desktop app runs). Its
 * redirect URI is http://localhost:PORT. `next()` resolves with the next request it gets:
 * { url, method, body, params }, params being the query (or, for a POST, the form) fields.
 * Pass `port` to listen on a given port (drive.mjs does, for the redirect URI it was given).
 */
export async function appListener(port = 0) {
  const http = await import('node:http');
  const hits = [];
  let waiting = [];
  const handler = (req, res) => {
    if (req.url === '/favicon.ico') {
      // The browser asks for the app page's icon on its own; that is not the redirect.
      res.writeHead(404, { connection: 'close' });
      res.end();
      return;
    }
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => {
      if (body.length < 1 << 20) body += c;
    });
    req.on('end', () => {
      const url = new URL(req.url, `http://${req.headers.host || 'localhost'}`);
      const params =
        req.method === 'POST' ? Object.fromEntries(new URLSearchParams(body)) : Object.fromEntries(url.searchParams);
      const hit = { url: url.toString(), method: req.method, body, params, headers: req.headers };
      hits.push(hit);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', connection: 'close' });
      res.end('<!doctype html><html lang="en"><head><title>App</title></head><body><main><h1>Back in the app</h1></main></body></html>');
      const w = waiting;
      waiting = [];
      for (const f of w) f();
    });
  };
  const servers = [];
  const listen = (host, p) =>
    new Promise((resolve, reject) => {
      const s = http.createServer(handler);
      s.once('error', reject);
      s.listen({ host, port: p, ipv6Only: host === '::1' }, () => {
        servers.push(s);
        resolve(s.address().port);
      });
    });
  const bound = await listen('127.0.0.1', port);
  // "localhost" may be tried as ::1 first; answer there too when the machine has it.
  await listen('::1', bound).catch(() => {});
  return {
    port: bound,
    redirectUri: `http://localhost:${bound}`,
    hits,
    next(timeoutMs = 30000) {
      const seen = hits.length;
      const p = new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`the app got no request within ${timeoutMs} ms`)), timeoutMs);
        t.unref(); // a test that failed before awaiting this must not hold the run open
        const check = () => {
          if (hits.length > seen) {
            clearTimeout(t);
            resolve(hits[seen]);
          } else waiting.push(check);
        };
        check();
      });
      p.catch(() => {}); // nor turn into an unhandled rejection; awaiting it still throws
      return p;
    },
    close() {
      for (const s of servers) {
        s.closeAllConnections?.();
        s.close();
      }
    },
  };
}

/** Records every request the browser makes (redirect targets included). */
export function recordRequests(context) {
  const seen = [];
  context.on('request', (r) => seen.push({ url: r.url(), method: r.method() }));
  return seen;
}

/** Clicks `locator` and waits for the page it submits to load. */
export async function submit(page, locator) {
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), locator.click()]);
}

/** Which sign-in page the browser shows, by its form's action. */
export async function whichPage(page) {
  const url = page.url();
  // Every page has a post form or a heading: wait for one of them (a loaded 2-core CI machine
  // can take more than the short lookups below), then look at which.
  await page
    .locator('form[method=post], h1')
    .first()
    .waitFor({ timeout: 10000 })
    .catch(() => {});
  const action = await page
    .locator('form[method=post]')
    .first()
    .getAttribute('action', { timeout: 500 })
    .catch(() => null);
  if (action) {
    const p = new URL(action).pathname;
    if (p.endsWith('/login')) return 'username';
    if (p.endsWith('/login/password')) return 'password';
    if (p.endsWith('/login/mfa')) return 'mfa';
    if (p.endsWith('/login/consent')) return 'consent';
    if (p.endsWith('/login/account')) return 'account';
    if (p.endsWith('/login/device')) return 'device-confirm';
    if (p === '/devicelogin') return 'device-entry';
    return `form:${p}`;
  }
  const h1 = (await page.locator('h1').first().textContent({ timeout: 500 }).catch(() => '')) || '';
  if (h1.startsWith('Sorry')) return 'error';
  return `other:${url}`;
}

// ---------------------------------------------------------------------------------------
// Screenshots and the accessibility check every page gets.

export function screenshotDir() {
  const d = process.env.TESSERA_SCREENSHOT_DIR || path.join(REPO, 'target', 'screenshots');
  fs.mkdirSync(d, { recursive: true });
  return d;
}

/**
 * Checks what a person with assistive technology needs from a page: <html lang>, a title,
 * one h1, a label for every visible input (a <label for> naming it, or aria-label), and a
 * name on every button. Works with JavaScript off (Playwright's selectors run outside the
 * page's own script).
 */
export async function checkAccessibility(page) {
  const lang = await page.locator('html').getAttribute('lang');
  assert.ok(lang && lang.length >= 2, `<html> has no lang on ${page.url()}`);
  assert.ok((await page.title()).trim().length > 0, `no <title> on ${page.url()}`);
  assert.equal(await page.locator('h1').count(), 1, `expected one h1 on ${page.url()}`);
  const inputs = page.locator('input:not([type=hidden]):not([hidden]), select, textarea');
  const n = await inputs.count();
  for (let i = 0; i < n; i++) {
    const input = inputs.nth(i);
    const id = await input.getAttribute('id');
    const aria = await input.getAttribute('aria-label');
    const labelled = id ? await page.locator(`label[for="${id}"]`).count() : 0;
    const wrapped = await input.locator('xpath=ancestor::label').count();
    assert.ok(
      labelled === 1 || wrapped > 0 || (aria && aria.trim()),
      `input #${id} (${await input.getAttribute('name')}) has no label on ${page.url()}`,
    );
    if (labelled === 1) {
      const text = (await page.locator(`label[for="${id}"]`).textContent()).trim();
      assert.ok(text.length > 0, `empty label for #${id}`);
    }
  }
  const buttons = page.locator('button');
  const b = await buttons.count();
  for (let i = 0; i < b; i++) {
    const text = ((await buttons.nth(i).textContent()) || '').trim();
    assert.ok(text.length > 0, `a button without a name on ${page.url()}`);
  }
  return { inputs: n, buttons: b };
}

const taken = new Set();

/** Screenshot (PNG) of the page plus its accessibility check; returns the file path. */
export async function snap(page, name) {
  await checkAccessibility(page);
  const issues = domIssues.get(page) || [];
  assert.deepEqual(issues, [], `Chromium reported problems with the page's markup`);
  const file = path.join(screenshotDir(), `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  taken.add(file);
  return file;
}

export function screenshotsTaken() {
  return [...taken];
}

// ---------------------------------------------------------------------------------------
// OAuth helpers.

export function b64url(buf) {
  return Buffer.from(buf).toString('base64url');
}

export function pkce() {
  const verifier = b64url(crypto.randomBytes(32)); // 43 characters
  const challenge = b64url(crypto.createHash('sha256').update(verifier).digest());
  return { verifier, challenge };
}

export function randomState() {
  return b64url(crypto.randomBytes(12));
}

export function authorizeUrl(authority, params) {
  const u = new URL(`${authority}/oauth2/v2.0/authorize`);
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) u.searchParams.set(k, v);
  return u.toString();
}

/** A fresh authorize request for a public client: PKCE S256, state and nonce. */
export function codeRequest(authority, clientId, redirectUri, extra = {}) {
  const { verifier, challenge } = pkce();
  const state = randomState();
  const nonce = randomState();
  const url = authorizeUrl(authority, {
    client_id: clientId,
    response_type: 'code',
    redirect_uri: redirectUri,
    scope: 'openid profile offline_access User.Read',
    state,
    nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    client_info: '1',
    ...extra,
  });
  return { url, verifier, state, nonce, redirectUri, clientId };
}

export async function postForm(url, fields) {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams(fields).toString(),
  });
  const text = await r.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = { text };
  }
  return { status: r.status, body };
}

export function token(authority, fields) {
  return postForm(`${authority}/oauth2/v2.0/token`, fields);
}

export function redeem(authority, req, code, extra = {}) {
  return token(authority, {
    client_id: req.clientId,
    grant_type: 'authorization_code',
    code,
    redirect_uri: req.redirectUri,
    code_verifier: req.verifier,
    scope: 'openid profile offline_access User.Read',
    ...extra,
  });
}

/** An Entra-shaped error body carrying `error` and AADSTS `code`. */
export function assertEntraError(res, error, code, status = 400) {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(res.body.error, error, JSON.stringify(res.body));
  assert.ok(Array.isArray(res.body.error_codes) && res.body.error_codes.includes(code), JSON.stringify(res.body));
  assert.ok(res.body.error_description.startsWith(`AADSTS${code}:`), res.body.error_description);
  assert.ok(res.body.trace_id && res.body.correlation_id && res.body.timestamp, JSON.stringify(res.body));
}

// JWT and JWKS.

const jwksCache = new Map();

export async function jwks(authority) {
  if (!jwksCache.has(authority)) {
    const cfg = await (await fetch(`${authority}/v2.0/.well-known/openid-configuration`)).json();
    const keys = await (await fetch(cfg.jwks_uri)).json();
    jwksCache.set(authority, { cfg, keys });
  }
  return jwksCache.get(authority);
}

export function decodeJwt(jwt) {
  const [h, p] = jwt.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url')),
    claims: JSON.parse(Buffer.from(p, 'base64url')),
  };
}

/** Verifies an RS256 JWT's signature against the authority's JWKS; returns its claims. */
export async function verifyJwt(authority, jwt) {
  const { keys } = await jwks(authority);
  const [h, p, s] = jwt.split('.');
  const { header, claims } = decodeJwt(jwt);
  assert.equal(header.alg, 'RS256');
  const jwk = keys.keys.find((k) => k.kid === header.kid);
  assert.ok(jwk, `kid ${header.kid} is not in the JWKS`);
  const key = crypto.createPublicKey({ key: { kty: jwk.kty, n: jwk.n, e: jwk.e }, format: 'jwk' });
  const ok = crypto.verify('RSA-SHA256', Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url'));
  assert.ok(ok, 'JWT signature does not verify against the JWKS');
  const now = Date.now() / 1000;
  assert.ok(claims.exp > now && claims.nbf <= now + 60, `token not valid now: ${JSON.stringify(claims)}`);
  return claims;
}

// ---------------------------------------------------------------------------------------
// TOTP (RFC 6238: SHA-1, 30 s, 6 digits).

export function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let n = 0;
  const out = [];
  for (const c of text.replace(/[=\s]/g, '').toUpperCase()) {
    const v = alphabet.indexOf(c);
    if (v < 0) throw new Error(`not base32: ${c}`);
    bits = ((bits << 5) | v) & 0xffff;
    n += 5;
    if (n >= 8) {
      n -= 8;
      out.push((bits >> n) & 0xff);
    }
  }
  return Buffer.from(out);
}

export function totpAt(secretB32, step) {
  const msg = Buffer.alloc(8);
  msg.writeBigInt64BE(BigInt(step));
  const mac = crypto.createHmac('sha1', base32Decode(secretB32)).update(msg).digest();
  const off = mac[mac.length - 1] & 0x0f;
  const n = (mac.readUInt32BE(off) & 0x7fffffff) % 1_000_000;
  return String(n).padStart(6, '0');
}

export function totp(secretB32, unix = Date.now() / 1000) {
  return totpAt(secretB32, Math.floor(unix / 30));
}

/** A six-digit code that is wrong for every step the server accepts right now. */
export function wrongTotp(secretB32, unix = Date.now() / 1000) {
  const step = Math.floor(unix / 30);
  const valid = new Set([-2, -1, 0, 1, 2].map((d) => totpAt(secretB32, step + d)));
  let n = (Number(totp(secretB32, unix)) + 500_000) % 1_000_000;
  while (valid.has(String(n).padStart(6, '0'))) n = (n + 1) % 1_000_000;
  return String(n).padStart(6, '0');
}

// ---------------------------------------------------------------------------------------
// The driver: answers whatever sign-in page is shown until the browser leaves for the app.

/** A sign-in page that says something went wrong (wrong password, code) stops the driver. */
async function refuseAlerts(page, which) {
  const alert = await page
    .locator('[role=alert]')
    .first()
    .textContent({ timeout: 200 })
    .catch(() => null);
  if (alert && ['username', 'password', 'mfa', 'device-entry'].includes(which)) {
    throw new Error(`the ${which} page says: ${alert.trim()}`);
  }
}

/**
 * Walks the sign-in pages from the page currently shown. Returns when `finished` (the app
 * listener's `next()`) resolves with the browser's request to the app; throws on an error
 * page, a page that reports a mistake, or a page it cannot answer.
 * opts: { username, password, mfaSecret, consent: 'accept'|'cancel', device: 'accept'|'cancel',
 *         account: 'current'|'other', onPage(name, page) }
 */
export async function drive(page, opts, finished) {
  let settled = null;
  finished.then((v) => (settled = { v }), (e) => (settled = { e }));
  for (let i = 0; i < 12; i++) {
    await new Promise((r) => setImmediate(r));
    if (settled) {
      if (settled.e) throw settled.e;
      return settled.v;
    }
    const which = await whichPage(page);
    if (opts.onPage) await opts.onPage(which, page);
    await refuseAlerts(page, which);
    switch (which) {
      case 'username':
        await page.fill('#username', opts.username);
        await submit(page, page.locator('button[type=submit]'));
        break;
      case 'password':
        await page.fill('#password', opts.password);
        await submit(page, page.locator('button[type=submit]'));
        break;
      case 'mfa':
        assert.ok(opts.mfaSecret, 'the one-time-code page was shown but no --mfa-secret was given');
        await page.fill('#otc', totp(opts.mfaSecret));
        await submit(page, page.locator('button[type=submit]'));
        break;
      case 'consent':
        await submit(page, page.locator(`button[name=decision][value=${opts.consent || 'accept'}]`));
        break;
      case 'account':
        await submit(page, page.locator(`button[name=account][value=${opts.account || 'current'}]`));
        break;
      case 'device-confirm':
        await submit(page, page.locator(`button[name=decision][value=${opts.device || 'accept'}]`));
        break;
      default: {
        // The form_post page submits itself (or waits for Continue without JavaScript).
        const h1 = (await page.locator('h1').first().textContent({ timeout: 1000 }).catch(() => '')) || '';
        if (h1 === 'Signing you in') {
          // With JavaScript the page may be posting itself already; a lost click is fine.
          await page.locator('button[type=submit]').click({ timeout: 2000 }).catch(() => {});
          return await finished;
        }
        // The browser may be on its way to the app already: give the redirect a moment.
        if (!settled) await Promise.race([finished.catch(() => {}), new Promise((r) => setTimeout(r, 1500))]);
        if (settled) continue;
        const text = (await page.locator('main').textContent({ timeout: 1000 }).catch(() => '')) || '';
        throw new Error(`sign-in stopped on ${which} (${page.url()}): ${text.slice(0, 600)}`);
      }
    }
  }
  throw new Error('sign-in did not finish after 12 pages');
}

/** Enters a device code at /devicelogin and walks the pages; resolves with the last page's h1. */
export async function approveDevice(page, verificationUri, userCode, opts) {
  await page.goto(verificationUri);
  if (opts.onPage) await opts.onPage('device-entry', page);
  await page.fill('#otc', userCode);
  await submit(page, page.locator('button[type=submit]'));
  for (let i = 0; i < 10; i++) {
    const which = await whichPage(page);
    if (opts.onPage) await opts.onPage(which, page);
    await refuseAlerts(page, which);
    if (which === 'device-confirm') {
      await submit(page, page.locator(`button[name=decision][value=${opts.device || 'accept'}]`));
      return (await page.locator('h1').textContent()).trim();
    }
    if (which === 'username') {
      await page.fill('#username', opts.username);
      await submit(page, page.locator('button[type=submit]'));
    } else if (which === 'password') {
      await page.fill('#password', opts.password);
      await submit(page, page.locator('button[type=submit]'));
    } else if (which === 'mfa') {
      await page.fill('#otc', totp(opts.mfaSecret));
      await submit(page, page.locator('button[type=submit]'));
    } else if (which === 'consent') {
      await submit(page, page.locator(`button[name=decision][value=${opts.consent || 'accept'}]`));
    } else {
      const text = (await page.locator('main').textContent({ timeout: 1000 }).catch(() => '')) || '';
      throw new Error(`device sign-in stopped on ${which} (${page.url()}): ${text.slice(0, 600)}`);
    }
  }
  throw new Error('device sign-in did not finish');
}
