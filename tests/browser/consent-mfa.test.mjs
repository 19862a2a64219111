// The consent page (an app nobody consented to) and the one-time-code step (a user who must
// use MFA), in the tenant the harness adds with --config (TESSERA_FIXTURES).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  appListener,
  codeRequest,
  fixtures,
  launch,
  newContext,
  recordRequests,
  redeem,
  snap,
  submit,
  totp,
  verifyJwt,
  whichPage,
  wrongTotp,
} from './lib.mjs';

let f, browser, app;

before(async () => {
  f = fixtures();
  browser = await launch();
  app = await appListener();
});

after(async () => {
  await browser?.close();
  app?.close();
});

async function userAndPassword(page, who, shots) {
  assert.equal(await whichPage(page), 'username');
  assert.equal((await page.locator('.tenant').textContent()).trim(), f.tenant_display_name, 'the page names the tenant');
  await page.fill('#username', who.username);
  await submit(page, page.locator('button[type=submit]'));
  assert.equal(await whichPage(page), 'password');
  await page.fill('#password', who.password);
  const [resp] = await Promise.all([page.waitForNavigation(), page.locator('button[type=submit]').click()]);
  if (shots) await snap(page, shots);
  return resp;
}

async function redeemOk(req, code) {
  const res = await redeem(f.authority, req, code);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const id = await verifyJwt(f.authority, res.body.id_token);
  assert.equal(id.aud, req.clientId);
  assert.equal(id.iss, `${f.authority}/v2.0`);
  assert.equal(id.nonce, req.nonce);
  const at = await verifyJwt(f.authority, res.body.access_token);
  assert.ok(at.scp.split(' ').includes('User.Read'), at.scp);
  return { res, id, at };
}

test('consent page: Cancel sends error=access_denied to the app', async () => {
  const ctx = await newContext(browser);
  const page = await ctx.newPage();
  const req = codeRequest(f.authority, f.unconsented_app.client_id, app.redirectUri);
  await page.goto(req.url);
  await userAndPassword(page, f.consent_user);
  assert.equal(await whichPage(page), 'consent');
  assert.equal((await page.locator('h1').textContent()).trim(), 'Permissions requested');
  assert.match(await page.locator('main').textContent(), new RegExp(f.unconsented_app.display_name));
  const scopes = await page.locator('ul.scopes li').allTextContents();
  assert.ok(scopes.includes('User.Read'), scopes.join(','));
  await snap(page, 'consent-01-permissions');
  const back = app.next();
  await page.locator('button[name=decision][value=cancel]').click();
  const hit = await back;
  assert.equal(hit.params.error, 'access_denied', JSON.stringify(hit.params));
  assert.match(hit.params.error_description, /^AADSTS65004:/);
  assert.equal(hit.params.state, req.state);
  assert.ok(!hit.params.code);

  // The user is signed in now, but the app still has no consent: prompt=none cannot ask.
  assert.ok((await ctx.cookies()).some((c) => c.name === 'tessera_sso'));
  const silent = codeRequest(f.authority, f.unconsented_app.client_id, app.redirectUri, { prompt: 'none' });
  const back2 = app.next();
  await page.goto(silent.url);
  const hit2 = await back2;
  assert.equal(hit2.params.error, 'consent_required', JSON.stringify(hit2.params));
  assert.match(hit2.params.error_description, /^AADSTS65001:/);
  await ctx.close();
});

test('consent page: Accept returns a code; the consent is remembered', async () => {
  const ctx = await newContext(browser);
  const page = await ctx.newPage();
  const req = codeRequest(f.authority, f.unconsented_app.client_id, app.redirectUri);
  await page.goto(req.url);
  await userAndPassword(page, f.consent_user);
  assert.equal(await whichPage(page), 'consent', 'cancelling did not grant anything');
  const back = app.next();
  await page.locator('button[name=decision][value=accept]').click();
  const hit = await back;
  assert.ok(hit.params.code, JSON.stringify(hit.params));
  const { at } = await redeemOk(req, hit.params.code);
  assert.equal(at.appid, f.unconsented_app.client_id);

  // Same browser, same app: no consent page, no password page.
  const seen = recordRequests(ctx);
  const req2 = codeRequest(f.authority, f.unconsented_app.client_id, app.redirectUri);
  const back2 = app.next();
  await page.goto(req2.url);
  const hit2 = await back2;
  assert.ok(hit2.params.code, JSON.stringify(hit2.params));
  assert.ok(!seen.some((r) => r.url.includes('/login')), seen.map((r) => r.url).join('\n'));
  await redeemOk(req2, hit2.params.code);

  // prompt=consent asks again, once.
  const req3 = codeRequest(f.authority, f.unconsented_app.client_id, app.redirectUri, { prompt: 'consent' });
  await page.goto(req3.url);
  assert.equal(await whichPage(page), 'consent');
  const back3 = app.next();
  await page.locator('button[name=decision][value=accept]').click();
  assert.ok((await back3).params.code);
  await ctx.close();
});

test('one-time code: a wrong code is refused, the right one continues', async () => {
  const ctx = await newContext(browser);
  const page = await ctx.newPage();
  const req = codeRequest(f.authority, f.app.client_id, app.redirectUri);
  await page.goto(req.url);
  await userAndPassword(page, f.mfa_user);
  assert.equal(await whichPage(page), 'mfa');
  assert.equal((await page.locator('h1').textContent()).trim(), 'Enter code');
  assert.equal(await page.getAttribute('#otc', 'autocomplete'), 'one-time-code');
  await snap(page, 'mfa-01-code');
  assert.ok(!(await ctx.cookies()).some((c) => c.name === 'tessera_sso'), 'no session before the second factor');

  await page.fill('#otc', wrongTotp(f.mfa_user.totp_secret));
  const [resp] = await Promise.all([page.waitForNavigation(), page.locator('button[type=submit]').click()]);
  assert.equal(resp.status(), 400);
  assert.equal(await whichPage(page), 'mfa');
  assert.match(await page.locator('[role=alert]').textContent(), /didn't work/);
  await snap(page, 'mfa-02-wrong-code');
  assert.ok(!(await ctx.cookies()).some((c) => c.name === 'tessera_sso'), 'a wrong code signs nobody in');

  const back = app.next();
  await page.fill('#otc', totp(f.mfa_user.totp_secret));
  await page.locator('button[type=submit]').click();
  const hit = await back;
  assert.ok(hit.params.code, JSON.stringify(hit.params));
  const { id, at } = await redeemOk(req, hit.params.code);
  assert.equal(id.preferred_username, f.mfa_user.username);
  assert.deepEqual(at.amr, ['pwd', 'mfa'], 'the access token records the second factor');

  // The session remembers the second factor: single sign-on without the code page.
  const seen = recordRequests(ctx);
  const req2 = codeRequest(f.authority, f.app.client_id, app.redirectUri);
  const back2 = app.next();
  await page.goto(req2.url);
  const hit2 = await back2;
  assert.ok(hit2.params.code, JSON.stringify(hit2.params));
  assert.ok(!seen.some((r) => r.url.includes('/login')), seen.map((r) => r.url).join('\n'));
  await redeemOk(req2, hit2.params.code);
  await ctx.close();
});

test('one-time code with JavaScript off', async () => {
  const ctx = await newContext(browser, { javaScriptEnabled: false });
  const page = await ctx.newPage();
  const req = codeRequest(f.authority, f.app.client_id, app.redirectUri);
  await page.goto(req.url);
  await userAndPassword(page, f.mfa_user);
  assert.equal(await whichPage(page), 'mfa');
  const back = app.next();
  await page.fill('#otc', totp(f.mfa_user.totp_secret));
  await page.locator('button[type=submit]').click();
  const hit = await back;
  await redeemOk(req, hit.params.code);
  await ctx.close();
});
