// Signs `argv[2]` in at the test OpenID provider through the authorization-code + PKCE flow
// (redirects followed by hand, cookies kept) and prints the ID token it issues.
import crypto from 'node:crypto';

const issuer = process.env.ISSUER ?? 'http://127.0.0.1:4000';
const user = process.argv[2] ?? 'alice';
const redirectUri = 'http://127.0.0.1:9/callback';
const config = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
const verifier = crypto.randomBytes(32).toString('base64url');
const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');

const cookies = new Map();
async function hop(url) {
  const cookie = [...cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  const response = await fetch(url, { redirect: 'manual', headers: { cookie } });
  for (const set of response.headers.getSetCookie()) {
    const [pair] = set.split(';');
    const at = pair.indexOf('=');
    cookies.set(pair.slice(0, at), pair.slice(at + 1));
  }
  return response;
}

let url = `${config.authorization_endpoint}?${new URLSearchParams({
  client_id: 'broker-test', response_type: 'code', scope: 'openid', redirect_uri: redirectUri,
  nonce: crypto.randomUUID(), state: 'state', login_hint: user,
  code_challenge: challenge, code_challenge_method: 'S256',
})}`;
let code;
for (let i = 0; i < 10 && !code; i++) {
  const response = await hop(url);
  const location = response.headers.get('location');
  if (!location) throw new Error(`no redirect from ${url}: ${response.status} ${await response.text()}`);
  url = new URL(location, url).href;
  if (url.startsWith(redirectUri)) code = new URL(url).searchParams.get('code');
}
if (!code) throw new Error('the provider never redirected back with a code');

const tokens = await (await fetch(config.token_endpoint, {
  method: 'POST',
  headers: {
    authorization: `Basic ${Buffer.from('broker-test:broker-test-secret').toString('base64')}`,
    'content-type': 'application/x-www-form-urlencoded',
  },
  body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier }),
})).json();
if (!tokens.id_token) throw new Error(`no id_token: ${JSON.stringify(tokens)}`);
console.log(tokens.id_token);
