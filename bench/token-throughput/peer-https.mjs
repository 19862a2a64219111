// "peer-https" for bench/token-throughput/run.sh: node-oidc-provider issuing RS256 JWT access
// tokens for client_credentials, configured like the peer (/work/shared/bench/oidc-provider/
// server.mjs with ALG=RS256 FORMAT=jwt) but served over HTTPS, so that it speaks the same
// protocol as tessera. Only the transport differs from the plain-HTTP peer.
//
// Usage: PORT=39301 TLS_CERT=chain.pem TLS_KEY=key.pem node peer-https.mjs
//   TLS_CERT: PEM server certificate, optionally followed by its CA (the chain that is sent);
//   TLS_KEY:  PEM private key of that certificate. run.sh makes both (ECDSA P-256, like tessera's).
// Binds 127.0.0.1 only. In-memory adapter (the library default).
//
// 'oidc-provider' and 'jose' are resolved from the folder this file is started from: run.sh links
// it into the scratch folder beside node_modules and starts node with --preserve-symlinks-main.
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { generateKeyPair, exportJWK } from 'jose';
import Provider from 'oidc-provider';

const PORT = Number(process.env.PORT || 39301);
const HOST = '127.0.0.1';
const { TLS_CERT, TLS_KEY } = process.env;
if (!TLS_CERT || !TLS_KEY) {
  console.error('peer-https.mjs: set TLS_CERT and TLS_KEY to PEM files');
  process.exit(2);
}
const ALG = 'RS256';      // access-token signing algorithm (RSA-2048), as the HTTP peer is run
const FORMAT = 'jwt';     // signed, stateless access tokens

async function signingJwk(alg, options) {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...options });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, alg, use: 'sig', kid: `k-${alg}` };
}

// The same key set as the HTTP peer publishes (RS256 first, so it is the default key).
const keys = [
  await signingJwk('RS256', { modulusLength: 2048 }),
  await signingJwk('ES256'),
  await signingJwk('PS256', { modulusLength: 2048 }),
  await signingJwk('EdDSA', { crv: 'Ed25519' }),
];

const provider = new Provider(`https://${HOST}:${PORT}`, {
  jwks: { keys },
  clients: [
    {
      client_id: 'bench-client',
      client_secret: 'bench-secret-bench-secret-bench-secret',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_post',
    },
  ],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'api://bench',
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'api.read api.write',
        audience: 'api://bench',
        accessTokenTTL: 3600,
        accessTokenFormat: FORMAT,
        jwt: { sign: { alg: ALG } },
      }),
    },
  },
});
provider.proxy = false;   // TLS ends in this process; no X-Forwarded-* trust
provider.on('server_error', (ctx, err) => console.error('server_error', err));

const server = https.createServer(
  { key: readFileSync(TLS_KEY), cert: readFileSync(TLS_CERT) },
  provider.callback(),
);
server.on('tlsClientError', (err) => console.error('tlsClientError', err.code || err.message));
server.listen(PORT, HOST, () => {
  console.log(`oidc-provider ${ALG} ${FORMAT} listening on https://${HOST}:${PORT} pid=${process.pid}`);
});
