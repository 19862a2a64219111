// The admin portal (/portal) in Chromium against the real `tessera serve`: signing in through
// the server's own pages (the portal is an OIDC client of its server: code + PKCE) as the demo
// user (Global Administrator), a user without an admin role refused with the 403 page, an app
// registered with a secret that MSAL Python then uses, a 2-hour token lifetime policy assigned
// to it (the effective lifetime panel says so and the next token lasts 7200 s), the token
// activity timeline (bars, live updates, the moving "now" line), revoking the user's sessions
// (a refresh token held before is refused), axe-core on every page (light, dark, 360 px),
// CSRF, the Content-Security-Policy, keyboard focus, and sign-out.
//
// MSAL Python runs from TESSERA_PYTHON (default <repo>/.venv/bin/python: scripts/test makes
// it), trusting the server's CA through REQUESTS_CA_BUNDLE. TESSERA_DOCS_IMAGES=1 also
// copies the two README pictures (effective lifetimes, timeline) to docs/images.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, test } from 'node:test';

import {
  REPO,
  baseUrl,
  demo,
  launch,
  newContext,
  screenshotDir,
  snap,
  submit,
  token,
  whichPage,
} from './lib.mjs';

const require = createRequire(import.meta.url);
const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const PYTHON = process.env.TESSERA_PYTHON || path.join(REPO, '.venv', 'bin', 'python');
const MSAL_SCRIPT = path.join(REPO, 'tests', 'browser', 'msal-token.py');

let d, base, browser, graphToken;
/** Every browser context of the run, watched for foreign requests and portal headers. */
const seenRequests = [];
const portalResponses = [];
/** The signed-in admin's context (JavaScript on, the portal's CSP enforced). */
let admin;
/** The non-admin's context (signed in to tessera, refused by the portal). */
let outsider;
const rand = crypto.randomBytes(3).toString('hex');
const NON_ADMIN = { password: `Portal-Reader-${rand}-Pass-42` };
const APP_NAME = `Portal app ${rand}`;
const POLICY_NAME = 'Two hours';
let appId, appSecret, demoUserId, groupId, heldRefreshToken;
const MAIN_NAV = [
  'Overview',
  'App registrations',
  'Users',
  'Groups',
  'Token lifetime policies',
  'Token activity',
];

// ---------------------------------------------------------------------------------------
// Helpers.

async function graph(method, p, body) {
  const res = await fetch(`${d.graph_url}${p}`, {
    method,
    headers: { authorization: `Bearer ${graphToken}`, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** Watches a context: every request's URL, and every /portal response's headers. */
function watch(context, name) {
  context.on('request', (r) => seenRequests.push({ context: name, url: r.url() }));
  context.on('response', (r) => {
    const u = new URL(r.url());
    if (u.origin === base && (u.pathname === '/portal' || u.pathname.startsWith('/portal/'))) {
      // allHeaders() waits for the raw headers; a stream never "finishes", its headers do.
      portalResponses.push(
        r
          .allHeaders()
          .then((h) => ({ context: name, url: r.url(), status: r.status(), headers: h }))
          .catch((e) => ({ context: name, url: r.url(), status: r.status(), error: e.message })),
      );
    }
  });
  return context;
}

async function context(name, opts = {}) {
  return watch(await newContext(browser, opts), name);
}

const inPortal = (url) => {
  const u = new URL(url);
  return (
    u.origin === base &&
    (u.pathname === '/portal' || u.pathname.startsWith('/portal/')) &&
    !u.pathname.startsWith('/portal/login')
  );
};

async function h1(page) {
  return ((await page.locator('h1').first().textContent()) || '').trim();
}

/**
 * Opens `start` (a portal URL) and signs in through whatever is shown: the portal's
 * organization chooser (this server serves two tenants), tessera's user name and password
 * pages (or single sign-on straight through), until the browser is back in the portal.
 * Returns the response of /portal/callback (its status: 303 for an admin, 403 refused).
 */
async function portalSignIn(page, who, { shots, start = `${base}/portal` } = {}) {
  const callback = page
    .waitForResponse((r) => new URL(r.url()).pathname === '/portal/callback', { timeout: 60000 })
    .catch(() => null);
  await page.goto(start);
  if (new URL(page.url()).pathname === '/portal/login') {
    assert.equal(await h1(page), 'Sign in to the portal', `at ${page.url()}`);
    if (shots) await snap(page, `${shots}-organization`);
    await page.fill('#f-tenant', d.tenant_domain);
    await submit(page, page.locator('button[type=submit]'));
  }
  for (let i = 0; i < 8 && !inPortal(page.url()); i++) {
    const which = await whichPage(page);
    if (shots) await snap(page, `${shots}-${which}`);
    if (which === 'username') {
      await page.fill('#username', who.username);
      await submit(page, page.locator('button[type=submit]'));
    } else if (which === 'password') {
      await page.fill('#password', who.password);
      await submit(page, page.locator('button[type=submit]'));
    } else if (which === 'consent') {
      await submit(page, page.locator('button[name=decision][value=accept]'));
    } else if (which === 'account') {
      await submit(page, page.locator('button[name=account][value=current]'));
    } else {
      const text = (await page.locator('main').textContent({ timeout: 1000 }).catch(() => '')) || '';
      throw new Error(`portal sign-in stopped on ${which} (${page.url()}): ${text.slice(0, 600)}`);
    }
  }
  assert.ok(inPortal(page.url()), `not back in the portal: ${page.url()}`);
  return callback;
}

/** MSAL Python (a fresh process, so a fresh app and token cache): client credentials. */
function msalToken(clientId, secret, scope) {
  assert.ok(fs.existsSync(PYTHON), `no Python with MSAL at ${PYTHON}: run scripts/test (it makes .venv) or set TESSERA_PYTHON`);
  const ca = d.ca_cert || process.env.NODE_EXTRA_CA_CERTS;
  const env = { ...process.env, PORTAL_APP_SECRET: secret, REQUESTS_CA_BUNDLE: ca, SSL_CERT_FILE: ca };
  delete env.MSAL_FORCE_REGION;
  return new Promise((resolve, reject) => {
    execFile(PYTHON, [MSAL_SCRIPT, d.authority, clientId, scope], { env, timeout: 90000 }, (err, stdout, stderr) => {
      const last = stdout.trim().split('\n').pop() || '';
      if (err) reject(new Error(`MSAL Python failed (${err.message}): ${last}\n${stderr}`));
      else resolve(JSON.parse(last));
    });
  });
}

/** Polls `read` (an async function) until `ok(value)`; returns the value or throws. */
async function until(read, ok, what, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  let v;
  for (;;) {
    v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(v)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A section of a portal page, by its heading (exactly). */
function section(page, title) {
  return page.getByRole('region', { name: title, exact: true });
}

/** The effective lifetime card titled `title` on an app page: { len, why }. */
async function lifetimeCard(page, title) {
  const card = page.locator('.lifetime').filter({ has: page.locator('h3', { hasText: title }) });
  assert.equal(await card.count(), 1, `one card "${title}"`);
  return {
    len: ((await card.locator('.len').textContent()) || '').trim(),
    why: ((await card.locator('p:not(.len)').textContent()) || '').replace(/\s+/g, ' ').trim(),
  };
}

/** Titles of the timeline's token bars that mention `name`. */
async function barTitles(page, name) {
  const titles = await page.locator('svg.timeline rect.bar > title').allTextContents();
  return titles.filter((t) => t.includes(name));
}

// ---------------------------------------------------------------------------------------

before(async () => {
  d = demo();
  base = baseUrl();
  browser = await launch();
  const tok = await token(d.authority, {
    grant_type: 'client_credentials',
    client_id: d.daemon.client_id,
    client_secret: d.daemon.client_secret,
    scope: 'https://graph.microsoft.com/.default',
  });
  graphToken = tok.body.access_token;
  assert.ok(graphToken, `a Graph token for the demo daemon: ${JSON.stringify(tok.body)}`);

  // A user without any directory role, made the way an admin script does.
  NON_ADMIN.username = `portal.reader.${rand}@${d.tenant_domain}`;
  const created = await graph('POST', '/users', {
    accountEnabled: true,
    displayName: `Portal reader ${rand}`,
    mailNickname: `portal.reader.${rand}`,
    userPrincipalName: NON_ADMIN.username,
    passwordProfile: { password: NON_ADMIN.password, forceChangePasswordNextSignIn: false },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  NON_ADMIN.id = created.body.id;

  const me = await graph('GET', `/users/${encodeURIComponent(d.user.username)}`);
  assert.equal(me.status, 200, JSON.stringify(me.body));
  demoUserId = me.body.id;

  // A group with the new user in it, for the groups pages.
  const group = await graph('POST', '/groups', {
    displayName: `Portal testers ${rand}`,
    mailEnabled: false,
    mailNickname: `portal-testers-${rand}`,
    securityEnabled: true,
  });
  assert.equal(group.status, 201, JSON.stringify(group.body));
  groupId = group.body.id;
  const member = await graph('POST', `/groups/${groupId}/members/$ref`, {
    '@odata.id': `${d.graph_url}/directoryObjects/${NON_ADMIN.id}`,
  });
  assert.equal(member.status, 204, JSON.stringify(member.body));

  // A refresh token the demo user holds before its sessions are revoked (password grant of
  // the demo public client), redeemed once now to show it works.
  const ropc = await token(d.authority, {
    grant_type: 'password',
    client_id: d.public_client.client_id,
    username: d.user.username,
    password: d.user.password,
    scope: 'openid offline_access https://graph.microsoft.com/User.Read',
  });
  assert.equal(ropc.status, 200, JSON.stringify(ropc.body));
  const redeemed = await token(d.authority, {
    grant_type: 'refresh_token',
    client_id: d.public_client.client_id,
    refresh_token: ropc.body.refresh_token,
    scope: 'openid offline_access https://graph.microsoft.com/User.Read',
  });
  assert.equal(redeemed.status, 200, JSON.stringify(redeemed.body));
  heldRefreshToken = redeemed.body.refresh_token;
  assert.ok(heldRefreshToken);
});

after(async () => {
  await browser?.close();
});

test('a user without an administrator role is refused with the 403 page', async () => {
  outsider = await context('outsider');
  const page = await outsider.newPage();
  const callback = await portalSignIn(page, NON_ADMIN, { shots: 'portal-00-signin' });
  assert.ok(callback, 'the sign-in came back to /portal/callback');
  assert.equal(callback.status(), 403);
  assert.equal(await h1(page), 'You need an administrator role');
  const main = (await page.locator('main').textContent()).replace(/\s+/g, ' ');
  assert.ok(main.includes(NON_ADMIN.username), main);
  assert.equal(await page.locator('nav').count(), 0, 'no portal navigation for a refused user');
  const leave = page.locator('main a', { hasText: 'Sign out and use another account' });
  assert.equal(await leave.count(), 1, `the 403 page offers a way out: ${await page.locator('main').innerHTML()}`);
  assert.match(await leave.getAttribute('href'), new RegExp(`^/${d.tenant_id}/oauth2/v2.0/logout\\?`));
  await snap(page, 'portal-01-refused-403');
  // No portal session came of it: the portal still asks to sign in.
  const again = await outsider.request.get(`${base}/portal/apps`, { maxRedirects: 0 });
  assert.equal(again.status(), 303);
  assert.match(again.headers().location, /^\/portal\/login\?next=/);
  await page.close();
});

test('the admin signs in through the sign-in pages (code + PKCE) and sees the overview', async () => {
  admin = await context('admin', { viewport: { width: 1024, height: 800 } });
  const page = await admin.newPage();
  const callback = await portalSignIn(page, d.user);
  assert.equal(callback?.status(), 303);
  assert.equal(new URL(page.url()).pathname, '/portal');
  assert.equal(await h1(page), 'Overview');
  assert.equal((await page.locator('.who').textContent()).trim(), d.user.username);
  const facts = (await section(page, 'You').textContent()).replace(/\s+/g, ' ');
  assert.ok(facts.includes('Global Administrator'), facts);
  const navLinks = await page.locator('nav[aria-label="Portal sections"] a').allTextContents();
  assert.deepEqual(navLinks.map((t) => t.trim()), MAIN_NAV);
  assert.equal(await page.locator('nav a[aria-current=page]').textContent(), 'Overview');
  const cookie = (await admin.cookies()).find((c) => c.name === 'tessera_portal');
  assert.ok(cookie, 'a portal session cookie');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.secure, true);
  assert.equal(cookie.sameSite, 'Strict');
  assert.equal(cookie.path, '/portal');
  await snap(page, 'portal-02-overview');
  await page.close();
});

test('an app registered in the portal gets a secret, shown once, that MSAL Python uses', async () => {
  assert.ok(admin, 'needs the admin signed in');
  const page = await admin.newPage();
  await page.goto(`${base}/portal/apps`);
  assert.equal(await h1(page), 'App registrations');
  await snap(page, 'portal-03-apps');
  await page.fill('#f-displayName', APP_NAME);
  await submit(page, page.locator('button', { hasText: 'Register' }));
  const url = new URL(page.url());
  assert.match(url.pathname, /^\/portal\/apps\/[0-9a-f-]{36}$/, page.url());
  appId = url.pathname.split('/').pop();
  assert.equal(url.searchParams.get('done'), 'created');
  assert.equal(await h1(page), APP_NAME);
  assert.equal((await page.locator('.notice.done').textContent()).trim(), 'Created.');
  const facts = (await section(page, 'Overview').textContent()).replace(/\s+/g, ' ');
  assert.ok(facts.includes(appId), facts);
  assert.ok(!facts.includes('none yet'), `the portal made the service principal too: ${facts}`);

  // Add a client secret: the page that answers the post shows it once.
  await page.fill('#f-secretName', 'portal test');
  await submit(page, page.locator('button', { hasText: 'Add a client secret' }));
  assert.equal(await page.locator('#new-secret').count(), 1, 'the new secret is shown');
  appSecret = (await page.locator('#new-secret').textContent()).trim();
  assert.ok(appSecret.length >= 30, `a secret of ${appSecret.length} characters`);
  assert.ok(!page.url().includes(appSecret), 'the secret is not in the URL');
  await snap(page, 'portal-04-app-secret-shown-once');

  // Shown once: the app's page no longer has it, only its first characters.
  await page.goto(`${base}/portal/apps/${appId}`);
  assert.equal(await page.locator('#new-secret').count(), 0);
  assert.ok(!(await page.content()).includes(appSecret), 'the secret is not on the page again');
  const secrets = section(page, 'Certificates and secrets');
  const row = secrets.locator('tr', { hasText: 'portal test' });
  assert.equal(await row.count(), 1);
  const hint = (await row.locator('td').nth(1).textContent()).trim().replace(/…$/, '');
  assert.ok(hint.length >= 3 && appSecret.startsWith(hint), `hint ${hint}`);

  // Before any policy: the default lifetime, and MSAL Python gets a token with the secret.
  const card = await lifetimeCard(page, "Access tokens for this app's API");
  assert.match(card.why, /^Entra's default/, card.why);
  const res = await msalToken(appId, appSecret, `${appId}/.default`);
  assert.equal(res.token_type, 'Bearer');
  assert.equal(res.token_source, 'identity_provider');
  assert.ok(res.claims.appid === appId || res.claims.azp === appId, JSON.stringify(res.claims));
  assert.equal(res.claims.tid, d.tenant_id);
  assert.ok(
    Number.isInteger(res.expires_in) && res.expires_in >= 3599 && res.expires_in <= 5400,
    `default lifetime 60-90 min, got expires_in ${res.expires_in}`,
  );
  await page.close();
});

test('a 2-hour policy assigned in the portal: the panel says so and the next token lasts 7200 s', async () => {
  assert.ok(appId && appSecret, 'needs the app and its secret');
  const page = await admin.newPage();
  await page.goto(`${base}/portal/policies`);
  assert.equal(await h1(page), 'Token lifetime policies');
  // Graph's validation and message first: a lifetime below 10 minutes is refused.
  await page.fill('#f-displayName', 'Too short');
  await page.fill('#f-lifetime', '00:05:00');
  const refused = page.waitForResponse((r) => r.url() === `${base}/portal/policies` && r.request().method() === 'POST');
  await submit(page, page.locator('button', { hasText: 'Create policy' }));
  assert.equal((await refused).status(), 400);
  const error = (await page.locator('.notice.error').textContent()).trim();
  assert.ok(error.length > 0, 'the refusal says why');
  await snap(page, 'portal-05-policies-refused');

  await page.fill('#f-displayName', POLICY_NAME);
  await page.fill('#f-lifetime', '02:00:00');
  await submit(page, page.locator('button', { hasText: 'Create policy' }));
  assert.equal(new URL(page.url()).searchParams.get('done'), 'created');
  const row = section(page, 'Policies').locator('tr', { hasText: POLICY_NAME });
  assert.equal(await row.count(), 1);
  assert.ok((await row.textContent()).includes('02:00:00'));
  await snap(page, 'portal-05-policies');

  await page.goto(`${base}/portal/apps/${appId}`);
  const option = page.locator('#f-policyId option', { hasText: POLICY_NAME });
  assert.equal(await option.count(), 1, 'the policy is offered on the app page');
  await page.selectOption('#f-policyId', await option.getAttribute('value'));
  await submit(page, page.locator('button', { hasText: 'Assign policy' }));
  assert.equal(new URL(page.url()).searchParams.get('done'), 'assigned');
  const assigned = section(page, 'Token lifetime policy').locator('tr', { hasText: POLICY_NAME });
  assert.equal(await assigned.count(), 1);

  const card = await lifetimeCard(page, "Access tokens for this app's API");
  assert.equal(card.len, '2 h');
  assert.equal(card.why, `Policy ${POLICY_NAME} is assigned to this app.`);
  const id = await lifetimeCard(page, 'ID tokens this app receives');
  assert.equal(id.why, `Policy ${POLICY_NAME} is assigned to this app.`);
  const panel = section(page, 'Effective token lifetimes');
  await panel.scrollIntoViewIfNeeded();
  await snap(page, 'portal-06-app');
  const lifetimesPng = path.join(screenshotDir(), 'portal-lifetimes.png');
  await panel.screenshot({ path: lifetimesPng });

  // The next token (a fresh MSAL app) lasts exactly the policy's two hours: expires_in, and
  // exp from now (iat and nbf are back-dated five minutes, as Entra does).
  const asked = Math.floor(Date.now() / 1000);
  const res = await msalToken(appId, appSecret, `${appId}/.default`);
  const answered = Math.ceil(Date.now() / 1000);
  assert.equal(res.token_source, 'identity_provider');
  assert.equal(res.expires_in, 7200, JSON.stringify(res));
  assert.ok(
    res.claims.exp >= asked + 7200 && res.claims.exp <= answered + 7200,
    `exp ${res.claims.exp} is not 7200 s after the request (${asked}..${answered})`,
  );
  await page.close();
});

test('token activity: the token is on the timeline, a new one appears live, "now" moves', async () => {
  assert.ok(appId && appSecret, 'needs the app and its tokens');
  const page = await admin.newPage();
  const asked = [];
  page.on('request', (r) => asked.push(new URL(r.url()).pathname));
  let navigations = 0;
  page.on('framenavigated', (f) => {
    if (f === page.mainFrame()) navigations++;
  });
  await page.goto(`${base}/portal/activity`);
  assert.equal(await h1(page), 'Token activity');
  const before = await barTitles(page, APP_NAME);
  assert.ok(before.length >= 2, `the app's two tokens are bars on the timeline: ${JSON.stringify(before)}`);
  assert.ok(before.every((t) => t.includes('access token issued (client_credentials)')), JSON.stringify(before));
  // The table says how long the policy's token lasts, and why; no token value anywhere.
  const rows = page.locator('table tr', { hasText: APP_NAME });
  const texts = (await rows.allTextContents()).map((t) => t.replace(/\s+/g, ' '));
  assert.ok(texts.some((t) => t.includes('2 h')), JSON.stringify(texts));
  const html = await page.content();
  assert.ok(!/eyJ[\w-]{10,}\.eyJ[\w-]{10,}/.test(html), 'no JWT on the activity page');
  assert.ok(!html.includes(appSecret), 'no secret on the activity page');

  // The page is live: a token issued now appears without a reload.
  const loads = navigations;
  await page.evaluate(() => {
    window.__sameDocument = true;
  });
  await until(
    () => Promise.resolve(asked.includes('/portal/activity/stream')),
    (v) => v,
    'the page opened its event stream',
  );
  const res = await msalToken(appId, appSecret, `${appId}/.default`);
  assert.equal(res.expires_in, 7200);
  const after = await until(
    () => barTitles(page, APP_NAME),
    (t) => t.length === before.length + 1,
    'a new bar for the app',
    30000,
  );
  assert.equal(after.length, before.length + 1);
  assert.equal(navigations, loads, 'the page was not reloaded');
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'same document');
  assert.ok(asked.includes('/portal/activity/live'), `the script fetched the live part: ${asked}`);

  // "now" moves: the line's x1 changes while the page is open (rightwards, unless a redraw
  // changed the timeline's window meanwhile).
  const nowLine = () =>
    page.locator('svg.timeline').evaluate((svg) => ({
      x: Number(svg.querySelector('line.now').getAttribute('x1')),
      window: `${svg.dataset.start}-${svg.dataset.end}`,
    }));
  const first = await nowLine();
  const moved = await until(nowLine, (n) => n.x !== first.x, 'the "now" line', 15000);
  if (moved.window === first.window) assert.ok(moved.x > first.x, `now moved right: ${first.x} -> ${moved.x}`);

  await snap(page, 'portal-07-activity');
  // The README's picture: the Timeline section's heading, legend and chart (not the table).
  const timelinePng = path.join(screenshotDir(), 'portal-activity.png');
  const clip = await section(page, 'Timeline').evaluate((el) => {
    const top = el.getBoundingClientRect();
    const svg = el.querySelector('svg.timeline').getBoundingClientRect();
    return { x: top.left + scrollX, y: top.top + scrollY, width: top.width, height: svg.bottom - top.top + 6 };
  });
  await page.screenshot({ path: timelinePng, clip, fullPage: true });
  if (process.env.TESSERA_DOCS_IMAGES === '1') {
    const docs = path.join(REPO, 'docs', 'images');
    fs.mkdirSync(docs, { recursive: true });
    fs.copyFileSync(timelinePng, path.join(docs, 'portal-activity.png'));
    fs.copyFileSync(path.join(screenshotDir(), 'portal-lifetimes.png'), path.join(docs, 'portal-lifetimes.png'));
  }

  // Filtering by app keeps only its events; without JavaScript the page shows the same.
  await page.goto(`${base}/portal/activity?app=${encodeURIComponent(APP_NAME)}&user=`);
  const filtered = await page.locator('svg.timeline rect.bar > title').allTextContents();
  assert.equal(filtered.length, after.length, JSON.stringify(filtered));
  assert.ok(filtered.every((t) => t.includes(APP_NAME)), JSON.stringify(filtered));
  await page.close();

  const noJs = await context('no-js', { javaScriptEnabled: false, storageState: await admin.storageState() });
  const plain = await noJs.newPage();
  await plain.goto(`${base}/portal/activity?app=${encodeURIComponent(APP_NAME)}`);
  assert.equal((await barTitles(plain, APP_NAME)).length, after.length);
  await snap(plain, 'portal-07-activity-no-javascript');
  await noJs.close();
});

test('users and groups pages', async () => {
  const page = await admin.newPage();
  await page.goto(`${base}/portal/users`);
  assert.equal(await h1(page), 'Users');
  assert.ok((await page.locator('main').textContent()).includes(d.user.username));
  await snap(page, 'portal-08-users');
  await page.goto(`${base}/portal/users/${demoUserId}`);
  assert.ok((await page.locator('main').textContent()).includes(d.user.username));
  assert.equal(await page.locator('button', { hasText: 'Revoke sessions' }).count(), 1);
  await snap(page, 'portal-09-user');
  await page.goto(`${base}/portal/groups`);
  assert.equal(await h1(page), 'Groups');
  assert.ok((await page.locator('main').textContent()).includes(`Portal testers ${rand}`));
  await snap(page, 'portal-10-groups');
  await page.goto(`${base}/portal/groups/${groupId}`);
  assert.equal(await h1(page), `Portal testers ${rand}`);
  assert.ok((await page.locator('main').textContent()).includes(NON_ADMIN.username), 'the member is listed');
  await snap(page, 'portal-11-group');
  await page.close();
});

// ---------------------------------------------------------------------------------------
// axe-core on every page: the portal's CSP forbids inline script (rightly), so axe is
// injected in contexts that bypass the CSP; the portal's own contexts keep it.

const AXE_PAGES = () => [
  ['overview', `${base}/portal`],
  ['apps', `${base}/portal/apps`],
  ['app', `${base}/portal/apps/${appId}`],
  ['users', `${base}/portal/users`],
  ['user', `${base}/portal/users/${demoUserId}`],
  ['groups', `${base}/portal/groups`],
  ['group', `${base}/portal/groups/${groupId}`],
  ['policies', `${base}/portal/policies`],
  ['activity', `${base}/portal/activity`],
  ['not-found', `${base}/portal/no-such-page`],
  ['signed-out', `${base}/portal/signed-out`],
  ['organization', `${base}/portal/login`],
];

async function axe(page, label) {
  await page.addScriptTag({ content: AXE_SOURCE });
  const violations = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target.join(' '), summary: n.failureSummary })),
    }));
  });
  return violations.map((v) => ({ page: label, url: page.url(), ...v }));
}

/**
 * Every page in one browser setting (light, dark, 360 px): axe-core's violations, a
 * screenshot (with lib.mjs's own checks), and the 403 page as the refused user gets it.
 */
async function axeVariant(t, variant, opts) {
  assert.ok(appId && groupId && outsider, 'needs the earlier tests');
  const all = [];
  /** Failures of the screenshots' own checks (lib.mjs snap), reported with axe's. */
  const markup = [];
  const shot = (page, name) =>
    snap(page, name).catch((e) => markup.push(`${name}: ${e.message.split('\n')[0]} ${JSON.stringify(e.actual ?? '')}`));
  const ctx = await context(`axe-${variant}`, { ...opts, bypassCSP: true, storageState: await admin.storageState() });
  for (const [name, url] of AXE_PAGES()) {
    // A page per URL: Chromium's own markup checks (snap) are collected per page.
    const page = await ctx.newPage();
    await page.goto(url);
    all.push(...(await axe(page, `${variant}/${name}`)));
    await shot(page, `portal-${variant}-${name}`);
    await page.close();
  }
  await ctx.close();
  // The 403 page, as the refused user gets it (single sign-on straight to the callback).
  const refusedCtx = await context(`axe-${variant}-refused`, {
    ...opts,
    bypassCSP: true,
    storageState: await outsider.storageState(),
  });
  const refused = await refusedCtx.newPage();
  const callback = refused.waitForResponse((r) => new URL(r.url()).pathname === '/portal/callback');
  await refused.goto(`${base}/portal/login?tenant=${encodeURIComponent(d.tenant_domain)}`);
  assert.equal((await callback).status(), 403);
  all.push(...(await axe(refused, `${variant}/refused-403`)));
  await shot(refused, `portal-${variant}-refused-403`);
  await refusedCtx.close();

  const report = path.join(screenshotDir(), `portal-axe-${variant}.json`);
  fs.writeFileSync(report, JSON.stringify(all, null, 2));
  for (const v of all) t.diagnostic(`axe ${v.impact} ${v.id} on ${v.page}: ${v.help} (${v.nodes.map((n) => n.target).join(', ')})`);
  const bad = all.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(
    bad.map((v) => `${v.impact} ${v.id} on ${v.page}: ${v.help}\n    ${v.nodes.map((n) => `${n.target}: ${n.summary}`).join('\n    ')}`),
    [],
    `axe-core found serious or critical violations (all in ${report})`,
  );
  assert.deepEqual(markup, [], `the ${variant} pages failed the screenshot checks`);
}

test('axe-core: no serious or critical violation on any page (light)', (t) => axeVariant(t, 'light', {}));

test('axe-core: no serious or critical violation on any page (dark color scheme)', (t) =>
  axeVariant(t, 'dark', { colorScheme: 'dark' }));

test('axe-core: no serious or critical violation on any page (360 px wide)', (t) =>
  axeVariant(t, '360px', { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true }));

test('CSRF: a form post without its CSRF value, or from another origin, is refused', async () => {
  const page = await admin.newPage();
  await page.goto(`${base}/portal/policies`);
  const form = page.locator('form', { has: page.locator('button', { hasText: 'Create policy' }) });
  const csrf = await form.locator('input[name=csrf]').getAttribute('value');
  assert.ok(csrf && csrf.length >= 20, 'the form carries a CSRF value');

  // In the page (the CSP enforced): the hidden field removed, then the form sent.
  await page.fill('#f-displayName', `No csrf ${rand}`);
  await page.fill('#f-lifetime', '01:00:00');
  await form.locator('input[name=csrf]').evaluate((e) => e.remove());
  const answer = page.waitForResponse((r) => r.url() === `${base}/portal/policies` && r.request().method() === 'POST');
  await submit(page, form.locator('button[type=submit]'));
  assert.equal((await answer).status(), 403);
  assert.equal(await h1(page), 'This form has expired');
  await snap(page, 'portal-12-csrf-refused');

  // The same posts from the browser's cookie jar: without the value, with a wrong one, and
  // with the right one from another origin; then the right one from here (a control).
  const post = (fields, headers = {}) =>
    page.request.post(`${base}/portal/policies`, { form: fields, headers, maxRedirects: 0 });
  const fields = { op: 'create', displayName: `No csrf ${rand}`, lifetime: '01:00:00' };
  assert.equal((await post(fields)).status(), 403);
  assert.equal((await post({ ...fields, csrf: `${csrf.slice(0, -2)}xx` })).status(), 403);
  assert.equal((await post({ ...fields, csrf }, { origin: 'https://attacker.example' })).status(), 403);
  const ok = await post({ ...fields, displayName: `With csrf ${rand}`, csrf }, { origin: base });
  assert.equal(ok.status(), 303, 'the same post with its CSRF value is accepted');

  const policies = await graph('GET', '/policies/tokenLifetimePolicies');
  const names = policies.body.value.map((p) => p.displayName);
  assert.ok(!names.includes(`No csrf ${rand}`), `a refused post created a policy: ${names}`);
  assert.ok(names.includes(`With csrf ${rand}`), names.join(', '));
  const control = policies.body.value.find((p) => p.displayName === `With csrf ${rand}`);
  assert.equal((await graph('DELETE', `/policies/tokenLifetimePolicies/${control.id}`)).status, 204);
  await page.close();
});

test('keyboard: the skip link first, then the navigation, each with a visible focus outline', async () => {
  const page = await admin.newPage();
  await page.goto(`${base}/portal`);
  const focused = () =>
    page.evaluate(() => {
      const e = document.activeElement;
      const cs = getComputedStyle(e);
      const r = e.getBoundingClientRect();
      return {
        tag: e.tagName.toLowerCase(),
        id: e.id,
        text: (e.textContent || '').trim(),
        skip: e.classList.contains('skip'),
        inNav: !!e.closest('nav'),
        inHeader: !!e.closest('header'),
        outlineStyle: cs.outlineStyle,
        outlineWidth: parseFloat(cs.outlineWidth),
        onScreen: r.width > 0 && r.height > 0 && r.left >= 0 && r.top >= 0 && r.right <= innerWidth,
      };
    });
  const stops = [];
  for (let i = 0; i < 10; i++) {
    await page.keyboard.press('Tab');
    stops.push(await focused());
  }
  const shown = JSON.stringify(stops.map((s) => s.text));
  assert.ok(stops[0].skip && stops[0].text === 'Skip to content', `first stop: ${JSON.stringify(stops[0])}`);
  const firstNav = stops.findIndex((s) => s.inNav);
  assert.ok(firstNav > 0, `the navigation is reached: ${shown}`);
  // Between the skip link and the navigation: only the header's own controls (sign out).
  assert.ok(stops.slice(1, firstNav).every((s) => s.inHeader), shown);
  assert.ok(firstNav <= 2, `the navigation comes right after the skip link and the header: ${shown}`);
  assert.deepEqual(
    stops.slice(firstNav, firstNav + MAIN_NAV.length).map((s) => s.text),
    MAIN_NAV,
    'the navigation in order',
  );
  for (const s of stops.slice(0, firstNav + MAIN_NAV.length)) {
    assert.notEqual(s.outlineStyle, 'none', `no focus outline on ${s.text}`);
    assert.ok(s.outlineWidth >= 2, `a thin focus outline on ${s.text}: ${s.outlineWidth}px`);
    assert.ok(s.onScreen, `the focused ${s.text} is on screen`);
  }
  await page.reload();
  await page.keyboard.press('Tab');
  await snap(page, 'portal-13-skip-link-focused');
  await page.keyboard.press('Enter');
  assert.equal((await focused()).id, 'main', 'the skip link moves focus to the content');
  await page.keyboard.press('Tab');
  const next = await focused();
  assert.ok(!next.inHeader, `after skipping, Tab goes on in the content: ${JSON.stringify(next)}`);
  await page.close();
});

test("revoking the demo user's sessions in the portal refuses the refresh token it held", async () => {
  const page = await admin.newPage();
  await page.goto(`${base}/portal/users/${demoUserId}`);
  const before = await graph('GET', `/users/${demoUserId}?$select=signInSessionsValidFromDateTime`);
  await submit(page, page.locator('button', { hasText: 'Revoke sessions' }));
  // The demo user is the admin: its own portal session ends too, so the portal asks it to
  // sign in again instead of showing the user's page.
  assert.ok(!inPortal(page.url()), `still in the portal after revoking its own sessions: ${page.url()}`);
  const afterRevoke = await graph('GET', `/users/${demoUserId}?$select=signInSessionsValidFromDateTime`);
  assert.ok(
    afterRevoke.body.signInSessionsValidFromDateTime > before.body.signInSessionsValidFromDateTime,
    `${before.body.signInSessionsValidFromDateTime} -> ${afterRevoke.body.signInSessionsValidFromDateTime}`,
  );

  const res = await token(d.authority, {
    grant_type: 'refresh_token',
    client_id: d.public_client.client_id,
    refresh_token: heldRefreshToken,
    scope: 'openid offline_access https://graph.microsoft.com/User.Read',
  });
  assert.equal(res.status, 400, JSON.stringify(res.body));
  assert.equal(res.body.error, 'invalid_grant', JSON.stringify(res.body));
  assert.ok(res.body.error_codes.includes(50173), JSON.stringify(res.body));
  assert.match(res.body.error_description, /^AADSTS50173:/);

  // Signing in again (through the pages: the sign-in session was revoked too) works.
  const callback = await portalSignIn(page, d.user, { start: `${base}/portal/users/${demoUserId}` });
  assert.equal(callback?.status(), 303);
  assert.equal(new URL(page.url()).pathname, `/portal/users/${demoUserId}`, 'back where it was going');

  // Another user's password reset on its page: the new password signs in, the old does not.
  await page.goto(`${base}/portal/users/${NON_ADMIN.id}`);
  const fresh = `Portal-Reset-${rand}-Pass-43`;
  await page.fill('#f-password', fresh);
  await submit(page, page.locator('button', { hasText: 'Reset password' }));
  assert.equal(new URL(page.url()).searchParams.get('done'), 'saved', await page.locator('main').textContent());
  const ropc = (password) =>
    token(d.authority, {
      grant_type: 'password',
      client_id: d.public_client.client_id,
      username: NON_ADMIN.username,
      password,
      scope: 'openid https://graph.microsoft.com/User.Read',
    });
  assert.equal((await ropc(fresh)).status, 200);
  assert.equal((await ropc(NON_ADMIN.password)).status, 400);
  await page.close();
});

test('sign out ends the portal session and the sign-in session, and lands on the signed-out page', async () => {
  const page = await admin.newPage();
  await page.goto(`${base}/portal`);
  assert.equal(await h1(page), 'Overview');
  await submit(page, page.locator('button', { hasText: 'Sign out' }));
  const landed = page.url();
  // The portal session ended: the portal asks to sign in again.
  const again = await page.request.get(`${base}/portal`, { maxRedirects: 0 });
  assert.equal(again.status(), 303, 'the portal asks to sign in again');
  assert.match(again.headers().location, /^\/portal\/login/);
  // The sign-in session ended too: signing in again asks for the user name.
  const other = await admin.newPage();
  await other.goto(`${base}/portal/login?tenant=${encodeURIComponent(d.tenant_domain)}`);
  assert.equal(await whichPage(other), 'username');
  await other.close();
  // And the browser came back to the portal's own signed-out page (the portal app's
  // registered post-logout redirect URI).
  const main = ((await page.locator('main').textContent().catch(() => '')) || '').replace(/\s+/g, ' ');
  assert.equal(landed, `${base}/portal/signed-out`, `sign-out ended at ${landed}: ${main.slice(0, 300)}`);
  assert.equal(await h1(page), 'You are signed out');
  await snap(page, 'portal-14-signed-out');
  await page.close();
});

test('every portal response carried the CSP; no request left for another origin', async () => {
  const responses = await Promise.all(portalResponses);
  assert.ok(responses.length > 50, `portal responses seen: ${responses.length}`);
  const missing = [];
  for (const r of responses) {
    const csp = r.headers?.['content-security-policy'] || '';
    const ok =
      csp.includes("default-src 'none'") &&
      csp.includes("script-src 'self'") &&
      csp.includes("frame-ancestors 'none'") &&
      !csp.includes('unsafe-inline') &&
      !csp.includes('unsafe-eval') &&
      r.headers?.['x-frame-options'] === 'DENY';
    if (!ok) missing.push(`${r.status} ${r.url} (${r.context}): ${r.error || csp || 'no CSP'}`);
  }
  assert.deepEqual(missing, [], 'portal responses without the strict CSP and X-Frame-Options');
  const paths = new Set(responses.map((r) => new URL(r.url).pathname.replace(/[0-9a-f-]{36}/g, '{id}')));
  for (const p of ['/portal', '/portal/apps/{id}', '/portal/assets/portal.css', '/portal/assets/portal.js', '/portal/activity/stream', '/portal/callback']) {
    assert.ok(paths.has(p), `a response for ${p} was checked: ${[...paths]}`);
  }

  assert.ok(seenRequests.length > 50, `requests seen: ${seenRequests.length}`);
  const foreign = seenRequests.filter((r) => new URL(r.url).origin !== base);
  assert.deepEqual(foreign, [], 'requests to another origin');
});
