// The authorization code flow with PKCE through the real sign-in pages in Chromium, single
// sign-on, prompt=none|login|select_account, form_post, JavaScript off, and logout.
// Demo tenant, demo public client (consented tenant-wide), demo user.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  appListener,
  codeRequest,
  decodeJwt,
  demo,
  launch,
  newContext,
  recordRequests,
  redeem,
  snap,
  submit,
  verifyJwt,
  whichPage,
} from './lib.mjs';

let d, authority, clientId, user, browser, app;
/** A browser context signed in by the first test, reused for single sign-on. */
let signedIn;
let firstSid;

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

/** Types the user name and password on the pages; returns the app's request. */
async function signInByPages(page, req, { shots } = {}) {
  const back = app.next();
  const resp = await page.goto(req.url);
  assert.equal(resp.status(), 200);
  assert.equal(await whichPage(page), 'username');
  if (shots) await snap(page, `${shots}-01-username`);
  await page.fill('#username', user.username);
  await submit(page, page.locator('button[type=submit]'));
  assert.equal(await whichPage(page), 'password');
  assert.equal((await page.locator('.who').textContent()).trim(), user.username);
  if (shots) await snap(page, `${shots}-02-password`);
  await page.fill('#password', user.password);
  await page.locator('button[type=submit]').click();
  return back;
}

async function redeemOk(req, code) {
  const res = await redeem(authority, req, code);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.token_type, 'Bearer');
  assert.ok(res.body.access_token && res.body.refresh_token && res.body.id_token, JSON.stringify(Object.keys(res.body)));
  const id = await verifyJwt(authority, res.body.id_token);
  assert.equal(id.aud, clientId);
  assert.equal(id.iss, `${authority}/v2.0`);
  assert.equal(id.tid, d.tenant_id);
  assert.equal(id.nonce, req.nonce, 'the ID token carries the authorize request nonce');
  assert.equal(id.preferred_username.toLowerCase(), user.username.toLowerCase());
  const at = await verifyJwt(authority, res.body.access_token);
  assert.ok(at.scp.split(' ').includes('User.Read'), at.scp);
  assert.equal(at.oid, id.oid);
  return { res, id, at };
}

test('authorization code + PKCE through the user name and password pages', async () => {
  signedIn = await newContext(browser);
  const page = await signedIn.newPage();
  const req = codeRequest(authority, clientId, app.redirectUri);
  const hit = await (await signInByPages(page, req, { shots: 'authorize' }));
  await page.waitForURL((u) => u.origin === new URL(app.redirectUri).origin);
  assert.equal(hit.method, 'GET');
  assert.equal(hit.params.state, req.state, 'state comes back unchanged');
  assert.ok(hit.params.code, JSON.stringify(hit.params));
  assert.ok(!hit.params.error, JSON.stringify(hit.params));
  assert.ok(hit.params.session_state);
  const info = JSON.parse(Buffer.from(hit.params.client_info, 'base64url'));

  const { id, res } = await redeemOk(req, hit.params.code);
  assert.deepEqual(info, { uid: id.oid, utid: d.tenant_id });
  assert.equal(id.sid, hit.params.session_state);
  firstSid = id.sid;
  assert.ok(!res.body.scope.split(' ').includes('offline_access'), res.body.scope);

  const cookies = await signedIn.cookies();
  const sso = cookies.find((c) => c.name === 'tessera_sso');
  assert.ok(sso, `no tessera_sso cookie: ${cookies.map((c) => c.name)}`);
  assert.equal(sso.httpOnly, true);
  assert.equal(sso.secure, true);
  assert.equal(sso.sameSite, 'Lax');
  const csrf = cookies.find((c) => c.name === 'tessera_csrf');
  assert.ok(csrf && csrf.httpOnly && csrf.secure);
});

test('single sign-on: a second authorize in the same browser goes straight back to the app', async () => {
  assert.ok(signedIn, 'needs the first test');
  const page = await signedIn.newPage();
  const seen = recordRequests(signedIn);
  const req = codeRequest(authority, clientId, app.redirectUri);
  const back = app.next();
  const resp = await page.goto(req.url);
  const hit = await back;
  assert.equal(new URL(resp.url()).origin, new URL(app.redirectUri).origin, 'ended at the app');
  assert.equal(resp.request().redirectedFrom()?.url(), req.url, 'the authorize request redirected at once');
  assert.ok(!seen.some((r) => r.url.includes('/login')), `a sign-in page was used: ${seen.map((r) => r.url)}`);
  assert.equal(hit.params.state, req.state);
  const { id } = await redeemOk(req, hit.params.code);
  assert.equal(id.sid, firstSid, 'same session');
  await page.close();
});

test('prompt=none without a session sends error=login_required to the app', async () => {
  const ctx = await newContext(browser);
  const page = await ctx.newPage();
  const req = codeRequest(authority, clientId, app.redirectUri, { prompt: 'none' });
  const back = app.next();
  await page.goto(req.url);
  const hit = await back;
  assert.equal(hit.params.error, 'login_required', JSON.stringify(hit.params));
  assert.match(hit.params.error_description, /^AADSTS50058:/);
  assert.equal(hit.params.state, req.state);
  assert.ok(!hit.params.code);
  await ctx.close();
});

test('prompt=none with a session returns a code', async () => {
  const page = await signedIn.newPage();
  const req = codeRequest(authority, clientId, app.redirectUri, { prompt: 'none' });
  const back = app.next();
  await page.goto(req.url);
  const hit = await back;
  assert.ok(hit.params.code, JSON.stringify(hit.params));
  await redeemOk(req, hit.params.code);
  await page.close();
});

test('prompt=login asks for the password again despite the session', async () => {
  const page = await signedIn.newPage();
  const req = codeRequest(authority, clientId, app.redirectUri, { prompt: 'login', login_hint: user.username });
  await page.goto(req.url);
  assert.equal(await whichPage(page), 'username');
  assert.equal(await page.inputValue('#username'), user.username, 'login_hint fills the user name');
  await snap(page, 'authorize-03-prompt-login-username');
  await submit(page, page.locator('button[type=submit]'));
  assert.equal(await whichPage(page), 'password');
  const back = app.next();
  await page.fill('#password', user.password);
  await page.locator('button[type=submit]').click();
  const hit = await back;
  assert.ok(hit.params.code, JSON.stringify(hit.params));
  await redeemOk(req, hit.params.code);
  await page.close();
});

test('prompt=select_account shows the account picker', async () => {
  const page = await signedIn.newPage();
  const req = codeRequest(authority, clientId, app.redirectUri, { prompt: 'select_account' });
  await page.goto(req.url);
  assert.equal(await whichPage(page), 'account');
  const current = page.locator('button[name=account][value=current]');
  assert.equal((await current.textContent()).trim(), user.username);
  await snap(page, 'authorize-04-account-picker');
  const back = app.next();
  await current.click();
  const hit = await back;
  assert.ok(hit.params.code, JSON.stringify(hit.params));
  await redeemOk(req, hit.params.code);

  // "Use another account" goes back to the user name page.
  await page.goto(codeRequest(authority, clientId, app.redirectUri, { prompt: 'select_account' }).url);
  await submit(page, page.locator('button[name=account][value=other]'));
  assert.equal(await whichPage(page), 'username');
  await page.close();
});

test('response_mode=form_post: the page posts the code to the app', async () => {
  const page = await signedIn.newPage();
  const req = codeRequest(authority, clientId, app.redirectUri, { response_mode: 'form_post' });
  const back = app.next();
  await page.goto(req.url);
  const hit = await back;
  assert.equal(hit.method, 'POST');
  assert.equal(hit.params.state, req.state);
  assert.ok(hit.params.code, hit.body);
  assert.ok(!hit.url.includes('code='), 'the code is not in the URL');
  await redeemOk(req, hit.params.code);
  await page.close();
});

test('response_type=code id_token with form_post: the ID token carries nonce and c_hash', async () => {
  const page = await signedIn.newPage();
  const req = codeRequest(authority, clientId, app.redirectUri, {
    response_type: 'code id_token',
    response_mode: 'form_post',
  });
  const back = app.next();
  await page.goto(req.url);
  const hit = await back;
  assert.equal(hit.method, 'POST');
  assert.ok(hit.params.code && hit.params.id_token, hit.body);
  const id = await verifyJwt(authority, hit.params.id_token);
  assert.equal(id.nonce, req.nonce);
  assert.equal(id.aud, clientId);
  const { createHash } = await import('node:crypto');
  const half = createHash('sha256').update(hit.params.code).digest().subarray(0, 16);
  assert.equal(id.c_hash, Buffer.from(half).toString('base64url'), 'c_hash is the left half of SHA-256(code)');
  await redeemOk(req, hit.params.code);
  await page.close();
});

test('with JavaScript off: user name, password, a wrong password, query and form_post', async () => {
  const ctx = await newContext(browser, { javaScriptEnabled: false });
  const page = await ctx.newPage();
  const req = codeRequest(authority, clientId, app.redirectUri);
  await page.goto(req.url);
  assert.equal(await whichPage(page), 'username');
  await page.fill('#username', user.username);
  await submit(page, page.locator('button[type=submit]'));
  assert.equal(await whichPage(page), 'password');

  // A wrong password: the page says so and lets the user try again.
  await page.fill('#password', `${user.password}-wrong`);
  const [resp] = await Promise.all([page.waitForNavigation(), page.locator('button[type=submit]').click()]);
  assert.equal(resp.status(), 400);
  assert.equal(await whichPage(page), 'password');
  const alert = page.locator('[role=alert]');
  assert.match(await alert.textContent(), /account or password is incorrect/);
  await snap(page, 'authorize-05-password-wrong-nojs');

  const back = app.next();
  await page.fill('#password', user.password);
  await page.locator('button[type=submit]').click();
  const hit = await back;
  assert.ok(hit.params.code, JSON.stringify(hit.params));
  await redeemOk(req, hit.params.code);

  // form_post without JavaScript: the page waits for Continue.
  const req2 = codeRequest(authority, clientId, app.redirectUri, { response_mode: 'form_post' });
  await page.goto(req2.url);
  assert.equal((await page.locator('h1').textContent()).trim(), 'Signing you in');
  assert.match(await page.locator('noscript').textContent(), /Select Continue/);
  await snap(page, 'authorize-06-form-post-nojs');
  const back2 = app.next();
  await page.locator('button[type=submit]').click();
  const hit2 = await back2;
  assert.equal(hit2.method, 'POST');
  assert.equal(hit2.params.state, req2.state);
  await redeemOk(req2, hit2.params.code);
  await ctx.close();
});

test('logout ends single sign-on', async () => {
  const page = await signedIn.newPage();
  const before = (await signedIn.cookies()).find((c) => c.name === 'tessera_sso');
  assert.ok(before);
  const resp = await page.goto(`${authority}/oauth2/v2.0/logout`);
  assert.equal(resp.status(), 200);
  assert.equal((await page.locator('h1').textContent()).trim(), 'You signed out of your account');
  await snap(page, 'authorize-07-signed-out');
  assert.ok(!(await signedIn.cookies()).some((c) => c.name === 'tessera_sso'), 'the SSO cookie is removed');

  // Silent sign-in now fails, and an interactive one asks for the user name.
  const req = codeRequest(authority, clientId, app.redirectUri, { prompt: 'none' });
  const back = app.next();
  await page.goto(req.url);
  assert.equal((await back).params.error, 'login_required');
  await page.goto(codeRequest(authority, clientId, app.redirectUri).url);
  assert.equal(await whichPage(page), 'username');

  // The session is over on the server too: the old cookie, put back, signs nobody in.
  const ctx = await newContext(browser);
  await ctx.addCookies([{ ...before }]);
  const p2 = await ctx.newPage();
  const back2 = app.next();
  await p2.goto(codeRequest(authority, clientId, app.redirectUri, { prompt: 'none' }).url);
  assert.equal((await back2).params.error, 'login_required', 'the ended session must not come back');
  await ctx.close();
  await page.close();

  // post_logout_redirect_uri: registered → redirected there; anything else → the page.
  const ok = await fetch(`${authority}/oauth2/v2.0/logout?post_logout_redirect_uri=${encodeURIComponent('http://localhost')}`, { redirect: 'manual' });
  assert.equal(ok.status, 302);
  assert.equal(ok.headers.get('location'), 'http://localhost');
  const no = await fetch(`${authority}/oauth2/v2.0/logout?post_logout_redirect_uri=${encodeURIComponent('https://elsewhere.invalid/')}`, { redirect: 'manual' });
  assert.equal(no.status, 200);
});

test('the pages fit a phone screen (no sideways scrolling)', async () => {
  const ctx = await newContext(browser, { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
  const page = await ctx.newPage();
  const fits = async (what) => {
    const w = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(w <= 360, `${what} is ${w} px wide on a 360 px screen`);
  };
  await page.goto(codeRequest(authority, clientId, app.redirectUri).url);
  await fits('the user name page');
  await snap(page, 'phone-01-username');
  await page.fill('#username', user.username);
  await submit(page, page.locator('button[type=submit]'));
  await fits('the password page');
  await snap(page, 'phone-02-password');
  // The longest page: an error with the AADSTS text and ids.
  await page.goto(codeRequest(authority, clientId, 'https://a-rather-long-host-name.invalid/with/a/long/path/that/does/not/break/easily').url);
  await fits('the error page');
  await snap(page, 'phone-03-error');
  await ctx.close();
});

test('the ID token of a code flow is not mistaken for one without a nonce', async () => {
  // A request without nonce gets an ID token without one (MSAL compares them).
  const ctx = await newContext(browser);
  const page = await ctx.newPage();
  const req = codeRequest(authority, clientId, app.redirectUri, { nonce: undefined });
  req.nonce = undefined;
  const url = new URL(req.url);
  url.searchParams.delete('nonce');
  req.url = url.toString();
  const hit = await (await signInByPages(page, req));
  const res = await redeem(authority, req, hit.params.code);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.ok(!('nonce' in decodeJwt(res.body.id_token).claims));
  await ctx.close();
});
