#!/usr/bin/env node
// Drives tessera's sign-in pages in a real, headless Debian Chromium, for tests in other
// languages (tests/interop/test_interactive.py, crates/tessera-cli/tests/it/browser.rs).
//
//   node drive.mjs authorize <authorize-url> <username> <password> [--mfa-secret S]
//        [--consent accept|cancel] [--account current|other] [--app listen|external|capture]
//     Follows the authorize URL through the pages and prints the URL the browser was sent
//     back to (the app's redirect URI with code/state or error). The redirect URI, taken
//     from the authorize URL, must be http://localhost:PORT or http://127.0.0.1:PORT: this
//     script listens on that loopback port, as a desktop app does, to receive the browser.
//     For response_mode=form_post the posted fields are printed as the query.
//     --app external: the app itself listens on the loopback port (tessera-client's
//     InteractiveCredential); the script only waits for the app's answer to the browser.
//     --app capture: nothing listens (a no-browser app that asks for the pasted address); the
//     browser fails to load the redirect URI, and the address it tried is printed.
//
//   node drive.mjs device <verification-uri> <user-code> <username> <password>
//        [--mfa-secret S] [--decision accept|cancel]
//     Enters the code at /devicelogin, signs in, answers the confirmation and prints the
//     last page's heading ("You're signed in" / "Sign-in canceled").
//
// The browser trusts exactly the server's TLS key (read over a connection verified with
// NODE_EXTRA_CA_CERTS, which must name the server's CA). Exit status 0 on success, 1 with a
// message on stderr otherwise.

import { appListener, approveDevice, drive, launch, newContext } from './lib.mjs';

function usage(msg) {
  if (msg) process.stderr.write(`drive.mjs: ${msg}\n`);
  process.stderr.write(
    'usage: node drive.mjs authorize <authorize-url> <username> <password> [--mfa-secret S] [--consent accept|cancel] [--account current|other] [--app listen|external|capture]\n' +
      '       node drive.mjs device <verification-uri> <user-code> <username> <password> [--mfa-secret S] [--decision accept|cancel]\n',
  );
  process.exit(2);
}

function parse(argv) {
  const positional = [];
  const opts = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      const v = argv[i + 1];
      if (v === undefined) usage(`${a} needs a value`);
      opts[a.slice(2)] = v;
      i++;
    } else positional.push(a);
  }
  return { positional, opts };
}

async function main() {
  const [command, ...rest] = process.argv.slice(2);
  const { positional, opts } = parse(rest);
  const timeout = Number(opts.timeout || 60) * 1000;
  const timer = setTimeout(() => {
    process.stderr.write(`drive.mjs: gave up after ${timeout / 1000} s\n`);
    process.exit(1);
  }, timeout);
  if (command === 'authorize') {
    if (positional.length !== 3) usage('authorize takes <authorize-url> <username> <password>');
    const [url, username, password] = positional;
    const redirectUri = new URL(url).searchParams.get('redirect_uri');
    if (!redirectUri) usage('the authorize URL has no redirect_uri');
    const r = new URL(redirectUri);
    const app = opts.app || 'listen';
    if (!['listen', 'external', 'capture'].includes(app)) usage(`--app is listen, external or capture, not ${app}`);
    if (r.protocol !== 'http:' || !['localhost', '127.0.0.1'].includes(r.hostname) || (!r.port && app !== 'capture'))
      usage(`the redirect URI must be http://localhost:PORT (a loopback port to listen on), not ${redirectUri}`);
    const back = app === 'listen' ? await appListener(Number(r.port)) : null;
    const browser = await launch(new URL(url).origin);
    try {
      const context = await newContext(browser);
      const page = await context.newPage();
      const atApp = (u) => {
        const x = new URL(u);
        return x.protocol === 'http:' && x.hostname === r.hostname && x.port === r.port;
      };
      let finished;
      if (back) finished = back.next(timeout);
      else if (app === 'external')
        finished = page
          .waitForResponse((res) => atApp(res.url()), { timeout })
          .then((res) => ({ url: res.url(), method: res.request().method() }));
      else
        finished = page
          .waitForRequest((req) => atApp(req.url()), { timeout })
          .then((req) => ({ url: req.url(), method: req.method() }));
      finished.catch(() => {});
      await page.goto(url);
      const walk = drive(
        page,
        { username, password, mfaSecret: opts['mfa-secret'], consent: opts.consent, account: opts.account },
        finished,
      );
      // With nothing listening the browser's last page fails to load (connection refused),
      // as it does for a person; the address it was sent to is what they copy.
      const hit = app === 'capture' ? await walk.catch(() => finished) : await walk;
      let out = hit.url;
      if (hit.method === 'POST') {
        const u = new URL(hit.url);
        u.search = new URLSearchParams(hit.body).toString();
        out = u.toString();
      }
      process.stdout.write(`${out}\n`);
    } finally {
      await browser.close();
      back?.close();
    }
  } else if (command === 'device') {
    if (positional.length !== 4) usage('device takes <verification-uri> <user-code> <username> <password>');
    const [verificationUri, userCode, username, password] = positional;
    const browser = await launch(new URL(verificationUri).origin);
    try {
      const context = await newContext(browser);
      const page = await context.newPage();
      const heading = await approveDevice(page, verificationUri, userCode, {
        username,
        password,
        mfaSecret: opts['mfa-secret'],
        device: opts.decision || 'accept',
      });
      process.stdout.write(`${heading}\n`);
      const want = (opts.decision || 'accept') === 'accept' ? "You're signed in" : 'Sign-in canceled';
      if (heading !== want) throw new Error(`the last page says "${heading}", expected "${want}"`);
    } finally {
      await browser.close();
    }
  } else {
    usage(command ? `unknown command ${command}` : 'no command');
  }
  clearTimeout(timer);
}

main().catch((e) => {
  process.stderr.write(`drive.mjs: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
