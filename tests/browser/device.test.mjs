// The device code flow end to end: the device asks for a code and polls; a person enters the
// code at /devicelogin in Chromium, signs in and confirms (or cancels).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  approveDevice,
  assertEntraError,
  baseUrl,
  demo,
  fixtures,
  launch,
  newContext,
  postForm,
  snap,
  submit,
  token,
  verifyJwt,
  whichPage,
} from './lib.mjs';

let d, authority, clientId, user, browser;
/** Signed in by the first test. */
let ctx;

before(async () => {
  d = demo();
  authority = d.authority;
  clientId = d.public_client.client_id;
  user = d.user;
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

async function deviceCode() {
  const res = await postForm(`${authority}/oauth2/v2.0/devicecode`, {
    client_id: clientId,
    scope: 'User.Read offline_access openid profile',
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
}

function poll(code) {
  return token(authority, {
    grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
    client_id: clientId,
    device_code: code.device_code,
  });
}

async function enterCode(page, text) {
  await page.fill('#otc', text);
  const [resp] = await Promise.all([page.waitForNavigation(), page.locator('button[type=submit]').click()]);
  return resp;
}

test('device code: enter the code, sign in, confirm; polling gives tokens', async () => {
  const code = await deviceCode();
  assert.match(code.user_code, /^[A-HJ-NP-Z2-9]{9}$/);
  assert.equal(code.verification_uri, `${baseUrl()}/devicelogin`);
  assert.equal(code.expires_in, 900);
  assert.equal(code.interval, 5);
  assert.ok(code.message.includes(code.user_code) && code.message.includes(code.verification_uri));

  // The device polls: pending; polling again at once is too fast.
  assertEntraError(await poll(code), 'authorization_pending', 70016);
  const fast = await poll(code);
  assert.equal(fast.status, 400);
  assert.equal(fast.body.error, 'slow_down', JSON.stringify(fast.body));

  ctx = await newContext(browser);
  const page = await ctx.newPage();
  const resp = await page.goto(code.verification_uri);
  assert.equal(resp.status(), 200);
  assert.equal(await whichPage(page), 'device-entry');
  await snap(page, 'device-01-enter-code');

  // A code that does not exist.
  const bad = await enterCode(page, 'ZZZZZZZZZ');
  assert.equal(bad.status(), 400);
  assert.match(await page.locator('[role=alert]').textContent(), /didn't work/);
  await snap(page, 'device-02-wrong-code');

  // The real one, typed the way a person might (lower case, with a dash).
  const typed = `${code.user_code.slice(0, 4)}-${code.user_code.slice(4)}`.toLowerCase();
  await enterCode(page, typed);
  assert.equal(await whichPage(page), 'username');
  await page.fill('#username', user.username);
  await submit(page, page.locator('button[type=submit]'));
  await page.fill('#password', user.password);
  await submit(page, page.locator('button[type=submit]'));
  assert.equal(await whichPage(page), 'device-confirm');
  const text = await page.locator('main').textContent();
  assert.ok(text.includes(user.username), text);
  assert.equal((await page.locator('h1').textContent()).trim(), 'Are you trying to sign in?');
  await snap(page, 'device-03-confirm');

  // Not approved yet: still pending (after the interval).
  await new Promise((r) => setTimeout(r, 5000));
  assertEntraError(await poll(code), 'authorization_pending', 70016);

  await submit(page, page.locator('button[name=decision][value=accept]'));
  assert.equal((await page.locator('h1').textContent()).trim(), "You're signed in");
  await snap(page, 'device-04-signed-in');

  const res = await poll(code);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.ok(res.body.refresh_token);
  const id = await verifyJwt(authority, res.body.id_token);
  assert.equal(id.aud, clientId);
  assert.equal(id.preferred_username.toLowerCase(), user.username.toLowerCase());
  assert.ok(!('nonce' in id));
  const at = await verifyJwt(authority, res.body.access_token);
  assert.ok(at.scp.split(' ').includes('User.Read'));
  assert.equal(at.appid, clientId);

  // Redeemed once; the used code no longer opens a sign-in either.
  assertEntraError(await poll(code), 'invalid_grant', 54005);
  await page.goto(code.verification_uri);
  const again = await enterCode(page, code.user_code);
  assert.equal(again.status(), 400);
  await page.close();
});

test('device code: Cancel on the confirmation page declines it', async () => {
  assert.ok(ctx, 'needs the first test');
  const code = await deviceCode();
  const page = await ctx.newPage();
  await page.goto(code.verification_uri);
  await enterCode(page, code.user_code);
  // Signed in already (single sign-on): straight to the confirmation.
  assert.equal(await whichPage(page), 'device-confirm');
  await submit(page, page.locator('button[name=decision][value=cancel]'));
  assert.equal((await page.locator('h1').textContent()).trim(), 'Sign-in canceled');
  await snap(page, 'device-05-canceled');
  const res = await poll(code);
  assert.equal(res.status, 400);
  assert.equal(res.body.error, 'authorization_declined', JSON.stringify(res.body));
  await page.close();
  await ctx.close();
});

test('device code with JavaScript off', async () => {
  const code = await deviceCode();
  const c = await newContext(browser, { javaScriptEnabled: false });
  const page = await c.newPage();
  await page.goto(code.verification_uri);
  await enterCode(page, code.user_code);
  await page.fill('#username', user.username);
  await submit(page, page.locator('button[type=submit]'));
  await page.fill('#password', user.password);
  await submit(page, page.locator('button[type=submit]'));
  await submit(page, page.locator('button[name=decision][value=accept]'));
  assert.equal((await page.locator('h1').textContent()).trim(), "You're signed in");
  const res = await poll(code);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  await c.close();
});

test('device code for a user who must use MFA: the one-time-code step comes before the confirmation', async () => {
  const f = fixtures();
  const res = await postForm(`${f.authority}/oauth2/v2.0/devicecode`, {
    client_id: f.app.client_id,
    scope: 'User.Read offline_access openid profile',
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const code = res.body;
  const c = await newContext(browser);
  const page = await c.newPage();
  const pages = [];
  const heading = await approveDevice(page, code.verification_uri, code.user_code, {
    username: f.mfa_user.username,
    password: f.mfa_user.password,
    mfaSecret: f.mfa_user.totp_secret,
    onPage: (which) => pages.push(which),
  });
  assert.equal(heading, "You're signed in");
  assert.deepEqual(pages, ['device-entry', 'username', 'password', 'mfa', 'device-confirm']);
  const tok = await token(f.authority, {
    grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
    client_id: f.app.client_id,
    device_code: code.device_code,
  });
  assert.equal(tok.status, 200, JSON.stringify(tok.body));
  const id = await verifyJwt(f.authority, tok.body.id_token);
  assert.equal(id.preferred_username, f.mfa_user.username);
  await c.close();
});
