// Run under `tessera exec` (crates/tessera-cli/tests/it/exec.rs): @azure/identity's
// ManagedIdentityCredential, unchanged, gets a Graph token from the endpoint tessera exec
// set up; prints one JSON line (audience and seconds left).
import { ManagedIdentityCredential } from '@azure/identity';

const credential = new ManagedIdentityCredential();
const token = await credential.getToken('https://graph.microsoft.com/.default');
const claims = JSON.parse(Buffer.from(token.token.split('.')[1], 'base64url').toString());
console.log(JSON.stringify({ aud: claims.aud, left: Math.round((token.expiresOnTimestamp - Date.now()) / 1000) }));
