/**
 * Security tables against the real local fleet (issue 21), each row an attack through a public edge
 * (`/api`, `/ws`, `/pubsub`) and the typed refusal it must get, then a check that nothing leaked:
 * - tokens: forged, expired, `alg: none`, tampered, wrong key / issuer / audience / algorithm, a refresh
 *   token or an ended session's token, at each of the three doors;
 * - refresh-token reuse: the whole session family ends, its live WAMP session too;
 * - brute force: past the free failures the right password waits too (429, Retry-After), and an
 *   unknown address is answered exactly like a known one;
 * - another user's things: rooms, messages, attachments, members, log sources, sessions, presence
 *   when blocked, admin routes and mails over `/api`; another user's topics and every procedure over
 *   WAMP; then the victim's data is unchanged and no answer or event carried it;
 * - SQL-injection and path-traversal strings in every string field of every route (from the
 *   contracts), and traversal paths at the origin: a declared status, the error shape, no file, no
 *   SQL error, no time-based probe that ran, and the database intact afterwards.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import http from 'node:http';
import { WebSocket } from 'ws';
import { connectWampClient, eventually, type TestWampClient } from '@veche/testing';
import { startFleet, type Fleet } from '../../../scripts/fleet/test/support/fleet.ts';
import { apiRoutes, FuzzTally, hostileRows, judgeAnswer, leakIn, type Answer } from '../src/index.ts';

const tokenSecret = 'fuzz-security-table-token-secret-0123456789';
const password = 'a long enough password';
/** Free failures per account before the wait starts (LOGIN_FAILURES_PER_ACCOUNT). */
const freeFailures = 3;

interface Person {
  name: string;
  email: string;
  userId: string;
  accessToken: string;
  refreshToken: string;
}

interface Reply {
  status: number;
  text: string;
  json: { error?: { code?: string; message?: string; details?: Record<string, unknown> } } & Record<
    string,
    unknown
  >;
  headers: Headers;
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const claimsOf = (token: string) =>
  JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;

/** A JWT signed with HMAC (`alg` HS256 or HS512) and any key: what a forger can make. */
function signed(header: Record<string, unknown>, payload: Record<string, unknown>, key: string): string {
  const body = `${b64(header)}.${b64(payload)}`;
  const hash = header['alg'] === 'HS512' ? 'sha512' : 'sha256';
  return `${body}.${createHmac(hash, key).update(body).digest('base64url')}`;
}

/** A raw request, the path exactly as given (no URL normalisation of `..`). */
function rawRequest(
  origin: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
  timeoutMs = 20_000,
): Promise<Answer & { ms: number }> {
  const { hostname, port } = new URL(origin);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const request = http.request({
      host: hostname,
      port,
      method,
      path,
      headers:
        body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) },
    });
    const timer = setTimeout(() => {
      request.destroy();
      reject(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        clearTimeout(timer);
        resolve({
          status: response.statusCode ?? 0,
          contentType: String(response.headers['content-type'] ?? ''),
          text: Buffer.concat(chunks).toString('utf8'),
          ms: Date.now() - started,
        });
      });
    });
    request.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    request.end(body);
  });
}

/** The /pubsub upgrade: 'open' (and the socket), or the HTTP status that refused it. */
function pubsubUpgrade(
  origin: string,
  token: string,
): Promise<{ status: number | 'open'; socket?: WebSocket; frames: string[] }> {
  const frames: string[] = [];
  const socket = new WebSocket(`${origin.replace('http', 'ws')}/pubsub`, {
    headers: { authorization: `Bearer ${token}` },
    perMessageDeflate: false,
  });
  socket.on('message', (data) => frames.push((data as Buffer).toString('utf8')));
  return new Promise((resolve) => {
    socket.once('open', () => resolve({ status: 'open', socket, frames }));
    socket.once('unexpected-response', (_request, response) => {
      resolve({ status: response.statusCode ?? 0, frames });
      socket.terminate();
    });
    socket.once('error', () => resolve({ status: 0, frames }));
  });
}

describe('security tables of the local fleet', { timeout: 600_000 }, () => {
  let fleet: Fleet;
  let wsUrl: string;
  const people: Record<string, Person> = {};
  /** Text only alice's things carry: no answer to anyone else may contain any of it. */
  const secrets: string[] = [];
  const alice = () => people['alice']!;
  const bob = () => people['bob']!;
  const opened: TestWampClient[] = [];
  const sockets: WebSocket[] = [];
  /** Alice's things. */
  const her = {
    privateRoom: '',
    sharedRoom: '',
    message: '',
    sharedMessage: '',
    attachment: '',
    source: '',
    sessionId: '',
  };

  async function call(method: string, path: string, token?: string, body?: unknown): Promise<Reply> {
    const response = await fetch(`${fleet.origin}/api${path}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    let json: Reply['json'] = {};
    try {
      json = JSON.parse(text) as Reply['json'];
    } catch {
      // not JSON (a download): judged by status and text
    }
    return { status: response.status, text, json, headers: response.headers };
  }

  async function logIn(email: string, secret = password): Promise<Reply> {
    return call('POST', '/auth/login', undefined, { email, password: secret });
  }

  async function signUp(name: string): Promise<Person> {
    const email = `${name}@example.org`;
    const registered = await call('POST', '/auth/register', undefined, {
      email,
      password,
      displayName: name,
    });
    assert.equal(registered.status, 201, registered.text);
    const login = await logIn(email);
    assert.equal(login.status, 200, login.text);
    const { accessToken, refreshToken, userId } = login.json as unknown as Person;
    return { name, email, userId, accessToken, refreshToken };
  }

  const ok = <T = Record<string, string>>(reply: Reply, status = 200): T => {
    assert.equal(reply.status, status, reply.text);
    return reply.json as T;
  };

  before(async () => {
    fleet = await startFleet({
      env: {
        REQUIRE_VERIFIED_EMAIL: 'false',
        VECHE_ADMIN_EMAIL: 'admin@example.org',
        ACCESS_TOKEN_TTL_SECONDS: '3600',
        GATEWAY_TOKEN_SECRET: tokenSecret,
        LOGIN_FAILURES_PER_ACCOUNT: String(freeFailures),
        // Long: the wait never runs out by itself while the table runs.
        LOGIN_FIRST_DELAY_SECONDS: '600',
      },
    });
    wsUrl = `${fleet.origin.replace('http', 'ws')}/ws`;
    for (const name of ['admin', 'alice', 'bob', 'carol', 'mallory']) people[name] = await signUp(name);
    const tag = randomUUID().slice(0, 8);
    const a = alice().accessToken;
    her.sessionId = String(claimsOf(a)['sid']);
    her.privateRoom = ok(
      await call('POST', '/rooms', a, {
        name: `alice-private-${tag}`,
        visibility: 'private',
        topic: `topic-${tag}`,
      }),
      201,
    ).roomId!;
    her.sharedRoom = ok(
      await call('POST', '/rooms', a, { name: `alice-shared-${tag}`, visibility: 'public' }),
      201,
    ).roomId!;
    ok(await call('POST', `/rooms/${her.sharedRoom}/join`, bob().accessToken, {}));
    // The upload first, so the message can carry it.
    const form = new FormData();
    form.append('file', new Blob([`attachment-secret-${tag}`], { type: 'text/plain' }), `file-${tag}.txt`);
    const upload = await fetch(`${fleet.origin}/api/rooms/${her.privateRoom}/attachments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${a}` },
      body: form,
    });
    const uploaded = (await upload.json()) as { attachmentId: string };
    assert.equal(upload.status, 201, JSON.stringify(uploaded));
    her.attachment = uploaded.attachmentId;
    her.message = ok(
      await call('POST', `/rooms/${her.privateRoom}/messages`, a, {
        text: `message-secret-${tag}`,
        idempotencyKey: `k-${tag}`,
        attachments: [her.attachment],
      }),
      201,
    ).messageId!;
    her.sharedMessage = ok(
      await call('POST', `/rooms/${her.sharedRoom}/messages`, a, {
        text: `shared-${tag}`,
        idempotencyKey: `s-${tag}`,
      }),
      201,
    ).messageId!;
    her.source = ok(
      await call('POST', '/logs/sources', a, { name: `source-secret-${tag}`, timeZone: 'UTC' }),
      201,
    ).sourceId!;
    // Alice hides her presence from bob (not from carol), and is busy.
    ok(await call('PUT', '/presence/privacy', a, { mode: 'blacklist', users: [bob().userId] }));
    // She is online (a live /pubsub connection), so what she chose is what those allowed see.
    const online = await pubsubUpgrade(fleet.origin, a);
    assert.equal(online.status, 'open');
    sockets.push(online.socket!);
    ok(await call('PUT', '/presence/status', a, { status: 2 }));
    secrets.push(`alice-private-${tag}`, `topic-${tag}`, `message-secret-${tag}`, `attachment-secret-${tag}`);
    secrets.push(`file-${tag}`, `source-secret-${tag}`);
  });

  after(async () => {
    for (const client of opened) client.close();
    for (const socket of sockets) socket.terminate();
    await fleet?.stop();
  });

  /** No answer to anyone but alice may carry her things. */
  function assertNoSecret(text: string, where: string) {
    for (const secret of secrets)
      assert.ok(!text.includes(secret), `${where} leaked ${secret}: ${text.slice(0, 300)}`);
  }

  describe('tokens, at /api, /ws and /pubsub', () => {
    interface TokenRow {
      name: string;
      token: () => Promise<string> | string;
      /** The WAMP authid presented with it (default the token's owner, alice). */
      authid?: () => string;
    }
    const claims = () => {
      const { sub, sid, role, iss, aud, exp } = claimsOf(alice().accessToken);
      return { sub, sid, role, iss, aud, exp } as Record<string, unknown>;
    };
    const hs256 = { alg: 'HS256', typ: 'JWT' };
    const rows: TokenRow[] = [
      {
        name: 'forged: HS256 with another key',
        token: () => signed(hs256, claims(), 'not the key of the gateway at all!'),
      },
      {
        name: 'expired: the real key, exp an hour ago',
        token: () => signed(hs256, { ...claims(), exp: Math.floor(Date.now() / 1000) - 3600 }, tokenSecret),
      },
      {
        name: 'alg none, no signature',
        token: () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims())}.`,
      },
      {
        name: 'alg none, the real signature kept',
        token: () => {
          const [, payload, signature] = alice().accessToken.split('.');
          return `${b64({ alg: 'none', typ: 'JWT' })}.${payload}.${signature}`;
        },
      },
      {
        name: 'tampered: role admin, the real signature kept',
        token: () => {
          const [header, , signature] = alice().accessToken.split('.');
          return `${header}.${b64({ ...claims(), role: 'admin' })}.${signature}`;
        },
      },
      {
        name: 'tampered: another user as subject, the real signature kept',
        token: () => {
          const [header, , signature] = alice().accessToken.split('.');
          return `${header}.${b64({ ...claims(), sub: bob().userId })}.${signature}`;
        },
        authid: () => bob().userId,
      },
      {
        name: 'HS512 with the real key (only HS256 is accepted)',
        token: () => signed({ alg: 'HS512', typ: 'JWT' }, claims(), tokenSecret),
      },
      {
        name: 'the real key, another issuer',
        token: () => signed(hs256, { ...claims(), iss: 'someone-else' }, tokenSecret),
      },
      {
        name: 'the real key, another audience',
        token: () => signed(hs256, { ...claims(), aud: 'another-service' }, tokenSecret),
      },
      {
        name: 'the real key, a session that never existed',
        token: () => signed(hs256, { ...claims(), sid: randomUUID() }, tokenSecret),
      },
      { name: 'a refresh token as the access token', token: () => alice().refreshToken },
      {
        name: 'the access token of a session that logged out',
        token: async () => {
          const login = await logIn(people['carol']!.email);
          const token = String(login.json['accessToken']);
          ok(await call('POST', '/auth/logout', token, {}));
          return token;
        },
        authid: () => people['carol']!.userId,
      },
      {
        name: 'alice’s real token with bob as the WAMP authid',
        token: () => alice().accessToken,
        authid: () => bob().userId,
      },
      { name: 'junk', token: () => 'junk' },
      { name: 'empty', token: () => '' },
    ];

    it('a live token opens every door (the control row)', async () => {
      ok(await call('GET', '/me', alice().accessToken));
      const client = await connectWampClient(wsUrl, alice().userId, alice().accessToken);
      client.close();
      const upgrade = await pubsubUpgrade(fleet.origin, alice().accessToken);
      assert.equal(upgrade.status, 'open');
      upgrade.socket?.terminate();
    });

    for (const row of rows) {
      it(`refuses ${row.name}`, async () => {
        const token = await row.token();
        const me = await call('GET', '/me', token);
        // A row that only tests WAMP's authid: its token is good at the doors that take no authid.
        const onlyAuthid = row.name.startsWith('alice’s real token');
        if (!onlyAuthid) {
          assert.equal(me.status, 401, `/api/me: ${me.text}`);
          assert.equal(me.json.error?.code, 'unauthorized', me.text);
          assertNoSecret(me.text, '/api/me');
          const upgrade = await pubsubUpgrade(fleet.origin, token);
          upgrade.socket?.terminate();
          assert.equal(upgrade.status, 401, '/pubsub upgrade');
        }
        const authid = row.authid?.() ?? alice().userId;
        await assert.rejects(
          connectWampClient(wsUrl, authid, token).then((client) => {
            opened.push(client);
            return client;
          }),
          /refused/,
          '/ws join',
        );
      });
    }
  });

  describe('refresh tokens', () => {
    it('a spent refresh token ends the whole session: its successor, its access token, its live WAMP session', async () => {
      const carol = people['carol']!;
      const first = ok(await logIn(carol.email));
      const spent = String(first.refreshToken);
      const between = ok(await call('POST', '/auth/refresh', undefined, { refreshToken: spent }));
      // Two generations on: `spent` is past the leeway the token just replaced gets (a lost reply).
      const next = ok(
        await call('POST', '/auth/refresh', undefined, { refreshToken: String(between.refreshToken) }),
      );
      const live = await connectWampClient(wsUrl, carol.userId, String(next.accessToken));
      opened.push(live);
      const reused = await call('POST', '/auth/refresh', undefined, { refreshToken: spent });
      assert.equal(reused.status, 401, reused.text);
      assert.equal(reused.json.error?.code, 'unauthorized');
      assert.equal(reused.json.error?.details?.['reason'], 'reused');
      const successor = await call('POST', '/auth/refresh', undefined, {
        refreshToken: String(next.refreshToken),
      });
      assert.equal(successor.status, 401, successor.text);
      assert.equal(successor.json.error?.code, 'unauthorized');
      const me = await call('GET', '/me', String(next.accessToken));
      assert.equal(me.status, 401, me.text);
      assert.match(await live.closed, /./);
      // Carol's other sessions are not the stolen family: a new log-in works.
      ok(await logIn(carol.email));
    });

    for (const [name, token] of [
      ['an unknown refresh token', () => 'x'.repeat(43)],
      ['an access token as a refresh token', () => alice().accessToken],
      ['a refresh token that is SQL', () => "' OR '1'='1"],
    ] as const) {
      it(`refuses ${name}`, async () => {
        const reply = await call('POST', '/auth/refresh', undefined, { refreshToken: token() });
        assert.ok([400, 401].includes(reply.status), reply.text);
        assert.equal(reply.json.error?.code, reply.status === 400 ? 'validation' : 'unauthorized');
        assert.equal(reply.json['accessToken'], undefined);
      });
    }
  });

  describe('brute force (issue 13’s throttling)', () => {
    for (const [name, email] of [
      ['an account', 'dave@example.org'],
      ['an address nobody has (answered exactly alike)', 'nobody-at-all@example.org'],
    ] as const) {
      it(`past ${freeFailures + 1} wrong passwords ${name} waits, the right password too`, async () => {
        if (email.startsWith('dave')) {
          const registered = await call('POST', '/auth/register', undefined, {
            email,
            password,
            displayName: 'dave',
          });
          assert.equal(registered.status, 201, registered.text);
        }
        const answers: Reply[] = [];
        // The free failures, then the one that starts the wait: each a plain 401.
        for (let i = 0; i <= freeFailures; i += 1) answers.push(await logIn(email, `wrong guess ${i}`));
        for (const answer of answers) {
          assert.equal(answer.status, 401, answer.text);
          assert.equal(answer.json.error?.code, 'unauthorized');
        }
        for (const guess of ['wrong guess again', password]) {
          const throttled = await logIn(email, guess);
          assert.equal(throttled.status, 429, `${guess}: ${throttled.text}`);
          assert.equal(throttled.json.error?.code, 'rate_limited');
          assert.ok(Number(throttled.headers.get('retry-after')) >= 1, 'Retry-After');
          assert.equal(throttled.json['accessToken'], undefined);
          assert.match(
            String(throttled.json.error?.message),
            /^Too many failed attempts; try again in \d+ s$/,
          );
        }
      });
    }
  });

  describe('another user’s things over /api (bob on alice’s)', () => {
    const replies: string[] = [];
    interface Row {
      method: string;
      path: () => string;
      body?: () => unknown;
      code: string;
      who?: () => Person;
    }
    const P = () => her.privateRoom;
    const S = () => her.sharedRoom;
    const rows: Row[] = [
      { method: 'GET', path: () => `/rooms/${P()}`, code: 'not_found' },
      { method: 'GET', path: () => `/rooms/${P()}/messages`, code: 'not_found' },
      { method: 'GET', path: () => `/rooms/${P()}/members`, code: 'not_found' },
      { method: 'GET', path: () => `/rooms/${P()}/receipts`, code: 'not_found' },
      { method: 'GET', path: () => `/rooms/${P()}/messages/${her.message}/receipts`, code: 'not_found' },
      { method: 'GET', path: () => `/rooms/${P()}/switch`, code: 'not_found' },
      { method: 'GET', path: () => `/rooms/${P()}/attachments/${her.attachment}`, code: 'not_found' },
      {
        method: 'GET',
        path: () => `/rooms/${P()}/attachments/${her.attachment}/thumbnail`,
        code: 'not_found',
      },
      // Her attachment through a room bob is in.
      { method: 'GET', path: () => `/rooms/${S()}/attachments/${her.attachment}`, code: 'not_found' },
      {
        method: 'POST',
        path: () => `/rooms/${P()}/messages`,
        body: () => ({ text: 'intruder', idempotencyKey: randomUUID() }),
        code: 'not_found',
      },
      // Her attachment posted into a room bob is in.
      {
        method: 'POST',
        path: () => `/rooms/${S()}/messages`,
        body: () => ({ text: 'look', idempotencyKey: randomUUID(), attachments: [her.attachment] }),
        code: 'validation',
      },
      {
        method: 'PUT',
        path: () => `/rooms/${P()}/messages/${her.message}`,
        body: () => ({ text: 'x' }),
        code: 'not_found',
      },
      { method: 'DELETE', path: () => `/rooms/${P()}/messages/${her.message}`, code: 'not_found' },
      {
        method: 'POST',
        path: () => `/rooms/${P()}/messages/${her.message}/reactions`,
        body: () => ({ emoji: '👍' }),
        code: 'not_found',
      },
      { method: 'POST', path: () => `/rooms/${P()}/join`, body: () => ({}), code: 'not_found' },
      {
        method: 'POST',
        path: () => `/rooms/${P()}/invite`,
        body: () => ({ userId: bob().userId }),
        code: 'not_found',
      },
      {
        method: 'POST',
        path: () => `/rooms/${P()}/members/${alice().userId}/kick`,
        body: () => ({}),
        code: 'not_found',
      },
      {
        method: 'PUT',
        path: () => `/rooms/${P()}/members/${bob().userId}/role`,
        body: () => ({ role: 'owner' }),
        code: 'not_found',
      },
      { method: 'PUT', path: () => `/rooms/${P()}/name`, body: () => ({ name: 'pwned' }), code: 'not_found' },
      {
        method: 'PUT',
        path: () => `/rooms/${P()}/topic`,
        body: () => ({ topic: 'pwned' }),
        code: 'not_found',
      },
      { method: 'POST', path: () => `/rooms/${P()}/archive`, body: () => ({}), code: 'not_found' },
      {
        method: 'POST',
        path: () => `/rooms/${P()}/typing`,
        body: () => ({ typing: true }),
        code: 'not_found',
      },
      {
        method: 'POST',
        path: () => `/rooms/${P()}/receipts`,
        body: () => ({ readUpTo: 1 }),
        code: 'not_found',
      },
      // In a room both are in, bob is a member and she the owner.
      {
        method: 'PUT',
        path: () => `/rooms/${S()}/messages/${her.sharedMessage}`,
        body: () => ({ text: 'x' }),
        code: 'forbidden',
      },
      { method: 'DELETE', path: () => `/rooms/${S()}/messages/${her.sharedMessage}`, code: 'forbidden' },
      {
        method: 'POST',
        path: () => `/rooms/${S()}/members/${alice().userId}/kick`,
        body: () => ({}),
        code: 'forbidden',
      },
      {
        method: 'PUT',
        path: () => `/rooms/${S()}/members/${bob().userId}/role`,
        body: () => ({ role: 'owner' }),
        code: 'forbidden',
      },
      { method: 'PUT', path: () => `/rooms/${S()}/name`, body: () => ({ name: 'pwned' }), code: 'forbidden' },
      { method: 'POST', path: () => `/rooms/${S()}/archive`, body: () => ({}), code: 'forbidden' },
      // Log sources: hers are not there for anyone else.
      { method: 'GET', path: () => `/logs/sources/${her.source}`, code: 'not_found' },
      { method: 'GET', path: () => `/logs/sources/${her.source}/events`, code: 'not_found' },
      { method: 'DELETE', path: () => `/logs/sources/${her.source}`, code: 'not_found' },
      // Her account session, her mails, the admin's routes.
      { method: 'DELETE', path: () => `/me/sessions/${her.sessionId}`, code: 'not_found' },
      { method: 'GET', path: () => '/admin/mails', code: 'forbidden' },
      { method: 'GET', path: () => `/admin/mails/${randomUUID()}`, code: 'forbidden' },
      { method: 'GET', path: () => '/admin/users', code: 'forbidden' },
      {
        method: 'POST',
        path: () => `/admin/users/${alice().userId}/disable`,
        body: () => ({}),
        code: 'forbidden',
      },
      { method: 'PUT', path: () => '/presence/group-rules', body: () => ({ rules: [] }), code: 'forbidden' },
      { method: 'GET', path: () => '/presence/federation', code: 'forbidden' },
      // Someone else's unsubscribe link, forged.
      {
        method: 'POST',
        path: () => '/mail/unsubscribe',
        body: () => ({ token: 'forged.token.value' }),
        code: 'validation',
      },
    ];

    for (const row of rows) {
      it(`${row.method} ${row.path
        .toString()
        .replace(/^\(\) => /, '')
        .replaceAll('`', '')}: ${row.code}`, async () => {
        const reply = await call(row.method, row.path(), (row.who ?? bob)().accessToken, row.body?.());
        replies.push(reply.text);
        assert.equal(reply.json.error?.code, row.code, `${reply.status} ${reply.text}`);
        assertNoSecret(reply.text, `${row.method} ${row.path()}`);
      });
    }

    it('lists, search and sync show bob none of her private things; presence shows him 8 (unknown)', async () => {
      const b = bob().accessToken;
      for (const path of [
        '/rooms',
        '/rooms?scope=public',
        '/sync',
        `/search?q=${encodeURIComponent(secrets[2]!)}`,
        '/logs/sources',
        `/users?q=alice`,
      ]) {
        const reply = await call('GET', path, b);
        assert.equal(reply.status, 200, `${path}: ${reply.text}`);
        assertNoSecret(reply.text, path);
      }
      const presence = ok<{ statuses: { status: number; changedAt?: string }[] }>(
        await call('GET', `/presence?users=${alice().userId}`, b),
      );
      assert.deepEqual(
        presence.statuses.map(({ status, changedAt }) => ({ status, changedAt })),
        [{ status: 8, changedAt: undefined }],
      );
      // Carol is not blocked: she sees the busy status (the control).
      await eventually(
        async () =>
          ok<{ statuses: { status: number }[] }>(
            await call('GET', `/presence?users=${alice().userId}`, people['carol']!.accessToken),
          ).statuses[0]?.status === 2,
        { message: 'carol sees alice busy' },
      );
      const history = await call('GET', `/presence/history?userId=${alice().userId}`, b);
      assert.ok(!history.text.includes('"status":2'), `history: ${history.text}`);
    });

    it('/pubsub tells bob 8 for her, carol 2', async () => {
      const seen: Record<string, number> = {};
      for (const person of [bob(), people['carol']!]) {
        const upgrade = await pubsubUpgrade(fleet.origin, person.accessToken);
        assert.equal(upgrade.status, 'open');
        sockets.push(upgrade.socket!);
        upgrade.socket!.send(JSON.stringify({ events: { [alice().userId]: 9 } }));
        await eventually(() => upgrade.frames.some((frame) => frame.includes(alice().userId)), {
          message: `${person.name}'s answer`,
        });
        const frame = JSON.parse(upgrade.frames.find((f) => f.includes(alice().userId))!) as {
          status: number;
        };
        seen[person.name] = frame.status;
      }
      assert.deepEqual(seen, { bob: 8, carol: 2 });
    });

    it('left her things as they were', async () => {
      const a = alice().accessToken;
      const room = ok(await call('GET', `/rooms/${her.privateRoom}`, a));
      assert.ok(JSON.stringify(room).includes(secrets[0]!), JSON.stringify(room));
      assert.ok(JSON.stringify(room).includes(secrets[1]!), JSON.stringify(room));
      assert.ok(!JSON.stringify(room).includes('pwned'));
      const messages = JSON.stringify(ok(await call('GET', `/rooms/${her.privateRoom}/messages`, a)));
      assert.ok(messages.includes(secrets[2]!), messages);
      assert.ok(!messages.includes('intruder') && !messages.includes('👍'), messages);
      const members = ok<{ members: { userId: string }[] }>(
        await call('GET', `/rooms/${her.privateRoom}/members`, a),
      );
      assert.deepEqual(
        members.members.map((m) => m.userId),
        [alice().userId],
      );
      const shared = JSON.stringify(ok(await call('GET', `/rooms/${her.sharedRoom}/messages`, a)));
      assert.ok(
        shared.includes(`"messageId":"${her.sharedMessage}"`) && !shared.includes('"text":"x"'),
        shared,
      );
      ok(await call('GET', `/logs/sources/${her.source}`, a));
      const download = await fetch(
        `${fleet.origin}/api/rooms/${her.privateRoom}/attachments/${her.attachment}`,
        {
          headers: { authorization: `Bearer ${a}` },
        },
      );
      assert.equal(download.status, 200);
      assert.equal(await download.text(), secrets[3]);
      ok(await call('GET', '/me', a));
    });
  });

  describe('another user’s topics and every procedure over WAMP', () => {
    it('refuses bob every subscription outside his prefix, every publication, call and registration', async () => {
      const client = await connectWampClient(wsUrl, bob().userId, bob().accessToken);
      opened.push(client);
      const session = client.session as TestWampClient['session'] & {
        subscribe(topic: string, handler: () => void, options?: Record<string, unknown>): Promise<unknown>;
      };
      const A = alice().userId;
      const refused = (e: unknown) =>
        (e as { error?: string })?.error === 'wamp.error.not_authorized' ||
        /not_authorized/.test(String((e as Error)?.message ?? e));
      const tally = new FuzzTally('WAMP: bob on alice’s topics and the procedures');
      const rows: [string, () => Promise<unknown>][] = [
        ...[
          `veche.user.${A}.rooms`,
          `veche.user.${A}.logs`,
          `veche.user.${A}.presence`,
          `veche.user.${A}`,
          `veche.user.${A}.rooms.x`,
          'veche.user',
          'veche.presence.changes',
          'veche.chat.rooms',
        ].map((topic): [string, () => Promise<unknown>] => [
          `subscribe ${topic}`,
          () => session.subscribe(topic, () => {}),
        ]),
        [
          `subscribe veche.user. (prefix)`,
          () => session.subscribe('veche.user.', () => {}, { match: 'prefix' }),
        ],
        [
          `subscribe veche..rooms (wildcard)`,
          () => session.subscribe('veche..rooms', () => {}, { match: 'wildcard' }),
        ],
        [
          `subscribe veche.user..logs (wildcard)`,
          () => session.subscribe('veche.user..logs', () => {}, { match: 'wildcard' }),
        ],
        ...[`veche.user.${A}.rooms`, `veche.user.${bob().userId}.rooms`, 'veche.presence.changes'].map(
          (topic): [string, () => Promise<unknown>] => [
            `publish ${topic}`,
            () => session.publish(topic, [], { type: 'forged' }, { acknowledge: true }) ?? Promise.resolve(),
          ],
        ),
        ...[
          [
            'veche.chat.listMessages',
            { principal: { userId: A, role: 'user' }, input: { roomId: her.privateRoom } },
          ],
          ['veche.chat.getRoom', { roomId: her.privateRoom }],
          [
            'veche.logs.get_source',
            { principal: { userId: A, role: 'user' }, input: { sourceId: her.source } },
          ],
          ['veche.gateway.sessions.authenticate', { token: alice().accessToken }],
          ['veche.gateway.accounts.known', { userIds: [A] }],
          ['veche.gateway.authenticate', {}],
          ['veche.gateway.admin.list_users', {}],
          ['veche.mailer.admin.list_mails', {}],
          ['veche.presence.get_statuses', { users: A }],
        ].map(([procedure, kwargs]): [string, () => Promise<unknown>] => [
          `call ${procedure as string}`,
          () => session.call(procedure as string, [], kwargs as Record<string, unknown>),
        ]),
        [`register veche.chat.postMessage`, () => session.register('veche.chat.postMessage', () => null)],
        [
          `register veche.gateway.authenticate`,
          () => session.register('veche.gateway.authenticate', () => null),
        ],
      ];
      for (const [name, attempt] of rows) {
        await assert.rejects(attempt(), refused, name);
        tally.count(name.split(' ')[0]!);
      }
      tally.print();
      assert.ok(client.session.isOpen, 'the refusals ended bob’s session');
    });

    it('sends bob nothing of hers while he listens on his own topics', async () => {
      const bobClient = await connectWampClient(wsUrl, bob().userId, bob().accessToken);
      const aliceClient = await connectWampClient(wsUrl, alice().userId, alice().accessToken);
      opened.push(bobClient, aliceClient);
      const bobGot: string[] = [];
      const aliceGot: string[] = [];
      for (const kind of ['rooms', 'logs', 'presence']) {
        await bobClient.session.subscribe(`veche.user.${bob().userId}.${kind}`, (args, kwargs) =>
          bobGot.push(JSON.stringify([args, kwargs])),
        );
        await aliceClient.session.subscribe(`veche.user.${alice().userId}.${kind}`, (args, kwargs) =>
          aliceGot.push(JSON.stringify([args, kwargs])),
        );
      }
      const tag = randomUUID().slice(0, 8);
      secrets.push(`late-secret-${tag}`);
      ok(
        await call('POST', `/rooms/${her.privateRoom}/messages`, alice().accessToken, {
          text: `late-secret-${tag}`,
          idempotencyKey: `late-${tag}`,
        }),
        201,
      );
      // The latch: the same service then posts where both are members; bob gets that, in order.
      ok(
        await call('POST', `/rooms/${her.sharedRoom}/messages`, alice().accessToken, {
          text: `after-${tag}`,
          idempotencyKey: `after-${tag}`,
        }),
        201,
      );
      await eventually(() => aliceGot.some((e) => e.includes(`late-secret-${tag}`)), {
        message: 'alice’s own event',
      });
      await eventually(() => bobGot.some((e) => e.includes(`after-${tag}`)), {
        message: 'bob’s shared-room event',
      });
      for (const event of bobGot) assertNoSecret(event, 'an event to bob');
    });
  });

  describe('SQL injection and path traversal in every string field of every route', () => {
    it('answers each with a declared status in the error shape, no file, no SQL error, no sleep', async () => {
      const rows = hostileRows(apiRoutes());
      const tally = new FuzzTally('/api (SQL injection and path traversal in every string field)');
      const mallory = people['mallory']!;
      const admin = people['admin']!;
      const failures: string[] = [];
      for (const row of rows) {
        const account = row.route.auth === 'admin' ? admin : mallory;
        const send = () =>
          rawRequest(
            fleet.origin,
            row.method,
            row.url,
            { ...row.headers, authorization: `Bearer ${account.accessToken}` },
            row.body,
          );
        let answer = await send();
        if (answer.status === 401 && row.route.auth !== 'public') {
          // A row logged the account out (or changed what it signs in with): sign in again.
          const login = await logIn(account.email);
          if (login.status === 200) {
            account.accessToken = String(login.json['accessToken']);
            answer = await send();
          }
        }
        tally.count(`${row.valid ? 'valid' : 'invalid'} ${answer.status}`);
        const sent = `${decodeURIComponent(row.url)} ${row.body ?? ''}`;
        const problem =
          judgeAnswer(row, answer) ??
          leakIn(answer.text, sent) ??
          (row.value.includes('pg_sleep') && answer.ms >= 10_000
            ? `took ${answer.ms} ms: the sleep ran`
            : undefined);
        if (problem)
          failures.push(`${row.label}: ${problem} (${answer.status} ${answer.text.slice(0, 200)})`);
      }
      tally.print();
      assert.deepEqual(failures, []);
      assert.ok(rows.length > 300, `only ${rows.length} rows`);
    });

    it('serves no file outside the web root, whatever the path', async () => {
      for (const path of [
        '/../../../../etc/passwd',
        '/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
        '/..%2f..%2f..%2f..%2fetc%2fpasswd',
        '/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd',
        '/assets/..%5c..%5c..%5c..%5cetc%5cpasswd',
        '/api/../../../../etc/passwd',
        '/api/rooms/..%2f..%2f..%2fetc%2fpasswd/attachments/x',
        `/api/rooms/${her.sharedRoom}/attachments/..%2f..%2f..%2f..%2fetc%2fpasswd`,
        `/api/rooms/${her.sharedRoom}/attachments/%2e%2e/thumbnail`,
        '/pubsub/../../../../etc/passwd',
        '/_fleet/metrics/..%2f..%2f..%2fetc%2fpasswd',
      ]) {
        const answer = await rawRequest(fleet.origin, 'GET', path, {
          authorization: `Bearer ${bob().accessToken}`,
        });
        assert.ok(answer.status < 500, `${path}: ${answer.status} ${answer.text.slice(0, 200)}`);
        assert.equal(leakIn(answer.text), undefined, `${path}: ${answer.text.slice(0, 200)}`);
        assertNoSecret(answer.text, path);
      }
    });

    it('left the database intact: alice signs in, her room and message are there, new writes land', async () => {
      const login = ok(await logIn(alice().email));
      const a = String(login.accessToken);
      const messages = JSON.stringify(ok(await call('GET', `/rooms/${her.privateRoom}/messages`, a)));
      assert.ok(messages.includes(secrets[2]!), messages);
      ok(
        await call('POST', `/rooms/${her.privateRoom}/messages`, a, {
          text: 'still here',
          idempotencyKey: randomUUID(),
        }),
        201,
      );
      const users = ok(await call('GET', '/admin/users', people['admin']!.accessToken));
      assert.ok(JSON.stringify(users).includes(alice().userId));
    });
  });

  it('crashed no process meanwhile', async () => {
    const status = (await (await fetch(`${fleet.origin}/_fleet/status`)).json()) as {
      processes: { name: string; restarts: number; lastExit?: string }[];
    };
    for (const process of status.processes)
      assert.equal(
        process.restarts,
        0,
        `${process.name} restarted (${process.lastExit}):\n${fleet.output().slice(-3000)}`,
      );
  });
});
