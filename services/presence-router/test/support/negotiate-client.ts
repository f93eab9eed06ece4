/**
 * A Kerberos client for the tests, run as its own process so each has its own credential cache
 * (KRB5CCNAME, filled by a real `kinit`) and krb5.conf (KRB5_CONFIG): it makes SPNEGO tokens for a
 * service with MIT's GSSAPI (the `kerberos` binding) and checks the server's mutual-authentication
 * token as a browser or curl --negotiate would.
 *
 *   negotiate-client.ts token <service>              prints one token
 *   negotiate-client.ts login <origin> <service>     POST /api/auth/negotiate; prints {status, body, mutual}
 *   negotiate-client.ts pubsub <ws-url> <service>    opens /pubsub with the token; prints `open {mutual}`,
 *                                                    then each frame received; stdin lines are sent as frames
 */
import { createInterface } from 'node:readline';
import kerberos from 'kerberos';
import { WebSocket } from 'ws';

const [mode, target, service = 'HTTP@veche.test'] = process.argv.slice(2);

async function newToken(name: string) {
  const client = await kerberos.initializeClient(name, {
    mechOID: kerberos.GSS_MECH_OID_SPNEGO,
    gssFlag: kerberos.GSS_C_MUTUAL_FLAG | kerberos.GSS_C_SEQUENCE_FLAG,
  });
  return { client, token: await client.step('') };
}

/** True when the server proved it holds the service key (its answer completes our context). */
async function mutual(client: kerberos.KerberosClient, header: string | undefined): Promise<boolean> {
  const match = /^Negotiate ([A-Za-z0-9+/]+={0,2})$/.exec(header ?? '');
  if (!match?.[1]) return false;
  try {
    await client.step(match[1]);
    return client.contextComplete;
  } catch {
    return false;
  }
}

const print = (line: unknown) =>
  process.stdout.write(`${typeof line === 'string' ? line : JSON.stringify(line)}\n`);

if (mode === 'token') {
  print((await newToken(target ?? service)).token);
} else if (mode === 'login' && target) {
  const { client, token } = await newToken(service);
  const response = await fetch(`${target}/api/auth/negotiate`, {
    method: 'POST',
    headers: { authorization: `Negotiate ${token}` },
  });
  const body: unknown = await response.json();
  print({
    status: response.status,
    body,
    mutual: await mutual(client, response.headers.get('www-authenticate') ?? undefined),
  });
} else if (mode === 'pubsub' && target) {
  const { client, token } = await newToken(service);
  const socket = new WebSocket(target, {
    headers: { authorization: `Negotiate ${token}` },
    perMessageDeflate: false,
  });
  let verdict: Promise<boolean> = Promise.resolve(false);
  socket.on('upgrade', (response) => {
    const header: string | string[] | undefined = response.headers['www-authenticate'];
    verdict = mutual(client, typeof header === 'string' ? header : header?.[0]);
  });
  socket.on('unexpected-response', (_request, response) => {
    print({ refused: response.statusCode, challenge: response.headers['www-authenticate'] ?? null });
    process.exit(0);
  });
  socket.on('open', () => {
    void verdict.then((ok) => print(`open ${JSON.stringify({ mutual: ok })}`));
  });
  socket.on('message', (data) => print(`frame ${(data as Buffer).toString('utf8')}`));
  socket.on('close', (code) => {
    print(`closed ${code}`);
    process.exit(0);
  });
  socket.on('error', (error) => {
    print({ error: error.message });
    process.exit(1);
  });
  const input = createInterface({ input: process.stdin });
  input.on('line', (line) => socket.send(line));
  input.on('close', () => socket.close(1000));
} else {
  process.stderr.write(
    'usage: negotiate-client.ts token <service> | login <origin> <service> | pubsub <ws-url> <service>\n',
  );
  process.exit(2);
}
