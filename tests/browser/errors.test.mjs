// Error pages the browser must show instead of redirecting (unknown app, unregistered redirect
// URI), and the token endpoint's answers to a misused code (reuse, wrong verifier, another
// redirect URI).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  appListener,
  assertEntraError,
  authorizeUrl,
  codeRequest,
  demo,
  drive,
  launch,
  newContext,
  recordRequests,
  redeem,
  snap,
} from './lib.mjs';

const GUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

let d, authority, clientId, user, browser, app;

before(async () => {
  d = demo();
  authority = d.authority;
  clientId = d.public_client.client_id;
  user = d.user;
  browser = await launch();
  app = await appListener();
});

after(async () => {
  await browser?.close();
  app?.close();
});

async function errorPage(page, url) {
  const resp = await page.goto(url);
  assert.equal(resp.status(), 400);
  assert.equal((await page.locator('h1').textContent()).trim(), "Sorry, but we're having trouble signing you in.");
  const text = await page.locator('main').textContent();
  const id = text.match(new RegExp(`Request Id: (${GUID.source})`));
  assert.ok(id, `no request id on the page: ${text}`);
  assert.match(text, /Correlation Id: /);
  assert.equal(await page.locator('form').count(), 0, 'an error page offers no sign-in form');
  return text;
}

test('unknown client_id: an error page, nothing is sent anywhere', async () => {
  const ctx = await newContext(browser);
  const page = await ctx.newPage();
  const seen = recordRequests(ctx);
  const unknown = '00000000-0000-4000-8000-00000000dead';
  const req = codeRequest(authority, unknown, app.redirectUri);
  const text = await errorPage(page, req.url);
  assert.match(text, /AADSTS700016: Application with identifier '00000000-0000-4000-8000-00000000dead' was not found/);
  assert.match(text, /not registered in this organization/);
  await snap(page, 'error-01-unknown-client');
  assert.equal(app.hits.filter((h) => h.url.includes(req.state)).length, 0);
  assert.ok(seen.every((r) => !r.url.startsWith(app.redirectUri)), seen.map((r) => r.url).join('\n'));
  await ctx.close();
});

test('redirect_uri not registered: AADSTS50011 on the page and no navigation to it', async () => {
  const ctx = await newContext(browser);
  const page = await ctx.newPage();
  const seen = recordRequests(ctx);
  const evil = 'https://attacker.invalid/steal';
  const req = codeRequest(authority, clientId, evil);
  const text = await errorPage(page, req.url);
  assert.match(text, /AADSTS50011: The redirect URI 'https:\/\/attacker\.invalid\/steal' specified in the request does not match/);
  await snap(page, 'error-02-redirect-uri-mismatch');
  assert.equal(new URL(page.url()).origin, new URL(authority).origin, 'the browser stayed on the server');
  assert.ok(!seen.some((r) => new URL(r.url).hostname === 'attacker.invalid'), seen.map((r) => r.url).join('\n'));
  assert.ok(seen.length >= 1, 'the authorize request itself was seen');

  // Loopback is port-agnostic, not path-agnostic: another path is refused too, even with a
  // live listener on the port.
  const before = app.hits.length;
  const other = codeRequest(authority, clientId, `${app.redirectUri}/elsewhere`);
  const text2 = await errorPage(page, other.url);
  assert.match(text2, /AADSTS50011:/);
  assert.equal(app.hits.length, before, 'the listener got no request');

  // Errors before the redirect URI is trusted also stay on the page (unknown tenant).
  const res = await page.goto(authorizeUrl(`${new URL(authority).origin}/no-such-tenant.example`, { client_id: clientId }));
  assert.equal(res.status(), 400);
  assert.match(await page.locator('main').textContent(), /AADSTS90002/);
  await ctx.close();
});

/** Signs in once, then each call gets a fresh code by single sign-on. */
let signedIn;
async function freshCode(redirectUri = app.redirectUri) {
  if (!signedIn) signedIn = await newContext(browser);
  const page = await signedIn.newPage();
  const req = codeRequest(authority, clientId, redirectUri);
  const back = app.next();
  await page.goto(req.url);
  const hit = await drive(page, { username: user.username, password: user.password }, back);
  await page.close();
  assert.ok(hit.params.code, JSON.stringify(hit.params));
  return { req, code: hit.params.code };
}

test('token endpoint: a code redeemed twice → AADSTS54005', async () => {
  const { req, code } = await freshCode();
  const first = await redeem(authority, req, code);
  assert.equal(first.status, 200, JSON.stringify(first.body));
  assertEntraError(await redeem(authority, req, code), 'invalid_grant', 54005);
});

test('token endpoint: a wrong or missing code_verifier → AADSTS501481', async () => {
  const a = await freshCode();
  assertEntraError(
    await redeem(authority, a.req, a.code, { code_verifier: codeRequest(authority, clientId, app.redirectUri).verifier }),
    'invalid_grant',
    501481,
  );
  // The failed attempt used the code up: the right verifier is too late now.
  const late = await redeem(authority, a.req, a.code);
  assert.equal(late.status, 400);
  const b = await freshCode();
  assertEntraError(await redeem(authority, b.req, b.code, { code_verifier: '' }), 'invalid_grant', 501481);
});

test('token endpoint: another redirect_uri than at authorize → AADSTS500112', async () => {
  const { req, code } = await freshCode();
  const other = `http://localhost:${app.port === 1 ? 2 : 1}`;
  const res = await redeem(authority, req, code, { redirect_uri: other });
  assertEntraError(res, 'invalid_grant', 500112);
  assert.ok(res.body.error_description.includes(other) && res.body.error_description.includes(app.redirectUri), res.body.error_description);
});

test('token endpoint: a made-up code → AADSTS9002313', async () => {
  const req = codeRequest(authority, clientId, app.redirectUri);
  assertEntraError(await redeem(authority, req, '1.not-a-real-code'), 'invalid_grant', 9002313);
});

test('a sign-in page posted from another browser (no CSRF cookie) shows the expired page', async () => {
  const ctx = await newContext(browser);
  const page = await ctx.newPage();
  await page.goto(codeRequest(authority, clientId, app.redirectUri).url);
  await page.fill('#username', user.username);
  // The flow token in the form is bound to this browser's CSRF cookie; drop the cookie.
  await ctx.clearCookies();
  const [resp] = await Promise.all([page.waitForNavigation(), page.locator('button[type=submit]').click()]);
  assert.equal(resp.status(), 400);
  const text = await page.locator('main').textContent();
  assert.match(text, /expired or was opened in another browser/);
  assert.match(text, /Request Id: /);
  await snap(page, 'error-03-page-expired');
  await ctx.close();
});

test("Chromium trusts only the server's pinned key, not any certificate", async () => {
  // The tests launch Chromium with --ignore-certificate-errors-spki-list=<the leaf's key>;
  // without it the server's private CA is (rightly) refused.
  const { chromium } = await import('playwright-core');
  const { CHROMIUM, CHROMIUM_ARGS } = await import('./lib.mjs');
  const plain = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  try {
    const page = await plain.newPage();
    await assert.rejects(page.goto(`${authority}/v2.0/.well-known/openid-configuration`), /ERR_CERT/);
  } finally {
    await plain.close();
  }
});
