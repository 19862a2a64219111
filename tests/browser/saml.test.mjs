// SAML 2.0 in Chromium with a real service-provider library: @node-saml/node-saml (the
// library under passport-saml), unchanged, runs a small SP on loopback. The SAML app is
// registered through Graph as an admin script would (identifierUris, web.redirectUris,
// web.logoutUrl, a service principal with preferredSingleSignOnMode=saml). Chromium goes
// SP -> tessera's sign-in pages -> the auto-posted Response at the SP's ACS, which node-saml
// validates itself (signature against the metadata's certificate, issuer, audience,
// InResponseTo, conditions); then single sign-on, a tampered assertion, and single logout.

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';

import { SAML } from '@node-saml/node-saml';

import { baseUrl, demo, launch, newContext, snap, submit, whichPage } from './lib.mjs';

let d, base, tenant, browser, sp, graphToken, created;

async function graph(method, path, body) {
  const res = await fetch(`${d.graph_url}${path}`, {
    method,
    headers: { authorization: `Bearer ${graphToken}`, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** The SP: node-saml behind four routes, recording what it validated. */
async function startSp() {
  const state = { profiles: [], errors: [], responses: [] };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      if (body.length < 1 << 20) body += c;
    });
    req.on('end', async () => {
      const url = new URL(req.url, 'http://localhost');
      const html = (status, h1id, text) => {
        res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', connection: 'close' });
        res.end(`<!doctype html><html lang="en"><head><title>SP</title></head><body><main><h1 id="${h1id}">${text}</h1></main></body></html>`);
      };
      try {
        if (url.pathname === '/login') {
          const target = await state.saml.getAuthorizeUrlAsync('relay-1', undefined, {});
          res.writeHead(302, { location: target, connection: 'close' });
          res.end();
        } else if (url.pathname === '/acs' && req.method === 'POST') {
          const form = Object.fromEntries(new URLSearchParams(body));
          state.responses.push(form);
          const { profile } = await state.saml.validatePostResponseAsync(form);
          state.profiles.push({ profile, relay: form.RelayState });
          html(200, 'who', `Signed in as ${profile.nameID}`);
        } else if (url.pathname === '/logout') {
          const last = state.profiles.at(-1).profile;
          const target = await state.saml.getLogoutUrlAsync(last, 'bye', {});
          res.writeHead(302, { location: target, connection: 'close' });
          res.end();
        } else if (url.pathname === '/slo') {
          const query = Object.fromEntries(url.searchParams);
          await state.saml.validateRedirectAsync(query, url.search.slice(1));
          state.loggedOut = query.RelayState;
          html(200, 'out', 'Signed out');
        } else {
          html(404, 'missing', 'Not found');
        }
      } catch (e) {
        state.errors.push(e.message);
        html(403, 'error', 'Refused');
      }
    });
  });
  await new Promise((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  state.origin = `http://localhost:${server.address().port}`;
  state.server = server;
  return state;
}

before(async () => {
  d = demo();
  base = baseUrl();
  tenant = d.tenant_id;
  browser = await launch();
  const tok = await fetch(`${d.authority}/oauth2/v2.0/token`, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: d.daemon.client_id,
      client_secret: d.daemon.client_secret,
      scope: 'https://graph.microsoft.com/.default',
    }),
  });
  graphToken = (await tok.json()).access_token;
  assert.ok(graphToken, 'a Graph token for the demo daemon');

  sp = await startSp();
  const entity = `urn:tessera:node-saml:${Date.now()}`;
  const app = await graph('POST', '/applications', {
    displayName: 'node-saml SP',
    identifierUris: [entity],
    web: { redirectUris: [`${sp.origin}/acs`], logoutUrl: `${sp.origin}/slo` },
  });
  assert.equal(app.status, 201, JSON.stringify(app.body));
  created = app.body;
  const spObject = await graph('POST', '/servicePrincipals', { appId: app.body.appId });
  assert.equal(spObject.status, 201);
  const mode = await graph('PATCH', `/servicePrincipals/${spObject.body.id}`, { preferredSingleSignOnMode: 'saml' });
  assert.equal(mode.status, 204);

  const metadata = await (await fetch(`${base}/${tenant}/federationmetadata/2007-06/federationmetadata.xml`)).text();
  const cert = /<X509Certificate>([^<]+)<\/X509Certificate>/.exec(metadata)[1];
  sp.saml = new SAML({
    entryPoint: `${base}/${tenant}/saml2`,
    logoutUrl: `${base}/${tenant}/saml2`,
    issuer: entity,
    callbackUrl: `${sp.origin}/acs`,
    logoutCallbackUrl: `${sp.origin}/slo`,
    idpCert: cert,
    idpIssuer: `https://sts.windows.net/${tenant}/`,
    audience: entity,
    wantAssertionsSigned: true,
    wantAuthnResponseSigned: false,
    validateInResponseTo: 'always',
    identifierFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
    acceptedClockSkewMs: 5000,
  });
});

after(async () => {
  if (created) await graph('DELETE', `/applications/${created.id}`);
  await browser?.close();
  sp?.server.close();
});

let context;

test('node-saml signs the user in through the sign-in pages in Chromium', async () => {
  context = await newContext(browser);
  const page = await context.newPage();
  await page.goto(`${sp.origin}/login`);
  assert.equal(await whichPage(page), 'username');
  await snap(page, 'saml-01-username');
  await page.fill('#username', d.user.username);
  await submit(page, page.locator('button[type=submit]'));
  assert.equal(await whichPage(page), 'password');
  await page.fill('#password', d.user.password);
  await Promise.all([
    page.waitForURL(`${sp.origin}/acs`, { waitUntil: 'load' }),
    page.locator('button[type=submit]').click(),
  ]);
  assert.deepEqual(sp.errors, []);
  assert.equal((await page.locator('#who').textContent()).trim(), `Signed in as ${d.user.username}`);
  await snap(page, 'saml-02-signed-in');
  const { profile, relay } = sp.profiles.at(-1);
  assert.equal(relay, 'relay-1');
  assert.equal(profile.issuer, `https://sts.windows.net/${tenant}/`);
  assert.equal(profile['http://schemas.microsoft.com/identity/claims/tenantid'], tenant);
  assert.equal(profile['http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name'], d.user.username);
  assert.equal(profile['http://schemas.microsoft.com/identity/claims/displayname'], 'Adele Vance');
  assert.ok(profile.sessionIndex, 'a SessionIndex for logout');
});

test('a second sign-in is silent: the SSO session answers without pages', async () => {
  const page = await context.newPage();
  const seen = [];
  page.on('framenavigated', (f) => {
    if (f === page.mainFrame()) seen.push(new URL(f.url()).pathname);
  });
  await page.goto(`${sp.origin}/login`);
  await page.waitForURL(`${sp.origin}/acs`, { waitUntil: 'load' });
  assert.equal((await page.locator('#who').textContent()).trim(), `Signed in as ${d.user.username}`);
  assert.ok(!seen.some((p) => p.endsWith('/login/password')), `no password page: ${seen}`);
  assert.equal(sp.profiles.length, 2);
});

test('node-saml refuses an assertion with one attribute changed', async () => {
  const original = sp.responses.at(-1);
  const xml = Buffer.from(original.SAMLResponse, 'base64').toString('utf8');
  const tampered = xml.replace('<AttributeValue>Adele Vance</AttributeValue>', '<AttributeValue>Adele Admin</AttributeValue>');
  assert.notEqual(tampered, xml);
  // A second SP instance that does not track request IDs (the first consumed this one), so
  // the signature is the only thing between the two answers.
  const checker = new SAML({ ...sp.saml.options, validateInResponseTo: 'never' });
  const { profile } = await checker.validatePostResponseAsync({ SAMLResponse: original.SAMLResponse });
  assert.equal(profile.nameID, d.user.username);
  await assert.rejects(
    checker.validatePostResponseAsync({ SAMLResponse: Buffer.from(tampered).toString('base64') }),
    /signature/i,
  );
});

test('single logout ends the session and node-saml accepts the LogoutResponse', async () => {
  const page = await context.newPage();
  await page.goto(`${sp.origin}/logout`);
  await page.waitForURL((u) => u.pathname === '/slo', { waitUntil: 'load' });
  assert.deepEqual(sp.errors, []);
  assert.equal((await page.locator('#out').textContent()).trim(), 'Signed out');
  assert.equal(sp.loggedOut, 'bye');
  await page.goto(`${sp.origin}/login`);
  assert.equal(await whichPage(page), 'username', 'the session is gone');
});
