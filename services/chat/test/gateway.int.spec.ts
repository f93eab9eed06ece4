/**
 * Chat through the real gateway: users register and log in over `/api`, call the chat's routes (the
 * gateway forwards them over WAMP with the authenticated actor), join the router with their access
 * token as ticket, and upload and download attachments through the gateway's streamed routes.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { createGateway, loadGatewayConfig, type Gateway } from '@veche/gateway';
import { createLogger } from '@veche/log';
import {
  createTestDatabase,
  curl,
  eventually,
  testAmqpUrl,
  testDatabaseUrl,
  type TestDatabase,
} from '@veche/testing';
import {
  composeAuthenticators,
  procedureAuthenticator,
  serviceAuthenticator,
  startRouter,
} from '@veche/wamp-router';
import sharp from 'sharp';
import { createChatApp, type ChatApp } from '../src/app.ts';
import { connectUser, type UserClient } from './support/clients.ts';
import { deleteBusNames, secret, testConfig, type Router } from './support/harness.ts';

const log = createLogger({ service: 'chat-gateway-test', level: 'silent' });
let router: Router;
let chatDb: TestDatabase;
let gatewayDb: TestDatabase;
let chat: ChatApp;
let gateway: Gateway;
let api: string;
const clients: UserClient[] = [];
let config: ReturnType<typeof testConfig>;

before(async () => {
  router = await startRouter({
    log,
    port: 0,
    authenticate: composeAuthenticators(
      serviceAuthenticator(secret),
      procedureAuthenticator('veche.gateway.authenticate'),
    ),
    guardUnhandledRejections: false,
  });
  chatDb = await createTestDatabase({ name: import.meta.filename, poolSize: 8 });
  gatewayDb = await createTestDatabase({ name: 'chat-gateway', poolSize: 6 });
  config = testConfig(router.url, { TYPING_TTL_MS: 2_000 });
  chat = createChatApp({ config, log, database: chatDb });
  const { port: chatPort } = await chat.start();
  gateway = await createGateway({
    config: loadGatewayConfig({
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      DATABASE_URL: testDatabaseUrl(),
      AMQP_URL: testAmqpUrl(),
      WAMP_URL: router.url,
      VECHE_SERVICE_SECRET: secret,
      PORT: '0',
      GATEWAY_EXCHANGE: config.CHAT_EXCHANGE,
      ARGON2_MEMORY_KIB: '8192',
      ARGON2_PASSES: '1',
      REQUIRE_VERIFIED_EMAIL: 'false',
    }),
    log,
    database: gatewayDb,
    internalUrls: { chat: `http://127.0.0.1:${chatPort}` },
  });
  const { port } = await gateway.start();
  api = `http://127.0.0.1:${port}/api`;
});

after(async () => {
  for (const client of clients) client.close();
  await gateway.stop().catch(() => undefined);
  await chat.stop().catch(() => undefined);
  await router.close();
  await chatDb.drop();
  await gatewayDb.drop();
  await deleteBusNames(config, log);
  await rm(config.UPLOADS_DIR, { recursive: true, force: true });
});

interface Session {
  userId: string;
  token: string;
  request<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: T }>;
}

async function signUp(name: string): Promise<Session> {
  const email = `${name.toLowerCase()}-${Date.now()}@example.test`;
  const password = 'correct horse battery staple';
  const registered = await fetch(`${api}/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password, displayName: name }),
  });
  assert.equal(registered.status, 201, await registered.clone().text());
  const login = await fetch(`${api}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  const { accessToken, userId } = (await login.json()) as { accessToken: string; userId: string };
  return {
    userId,
    token: accessToken,
    async request(method, path, body) {
      const response = await fetch(`${api}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${accessToken}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      return { status: response.status, body: (text ? JSON.parse(text) : {}) as never };
    },
  };
}

it('two users chat through /api and the router: messages, receipts, typing, attachments', async () => {
  const [ann, ben, cid] = await Promise.all([signUp('Ann'), signUp('Ben'), signUp('Cid')]);
  const created = await ann.request<{ roomId: string }>('POST', '/rooms', {
    name: 'Through the gateway',
    visibility: 'public',
  });
  assert.equal(created.status, 201);
  const { roomId } = created.body;
  assert.equal((await ben.request('POST', `/rooms/${roomId}/join`, {})).status, 200);
  const annLive = await connectUser(router.url, ann.userId, ann.token);
  const benLive = await connectUser(router.url, ben.userId, ben.token);
  clients.push(annLive, benLive);

  const posted = await ann.request<{ messageId: string; seq: number }>('POST', `/rooms/${roomId}/messages`, {
    text: 'hello @Ben',
    idempotencyKey: 'first',
  });
  assert.equal(posted.status, 201);
  await eventually(() => benLive.ofType('message_posted', roomId).length === 1, {
    message: 'Ben sees it live',
  });
  const forged = await ann.request<{ error: { code: string } }>('POST', `/rooms/${roomId}/messages`, {
    text: 'x',
    idempotencyKey: 'x',
    senderId: ben.userId,
  });
  assert.equal(forged.status, 400);
  assert.equal(forged.body.error.code, 'validation');

  // The display name arrives from the gateway's account events; mentions resolve by it.
  await eventually(
    async () => {
      await ann.request('POST', `/rooms/${roomId}/messages`, {
        text: 'ping @Ben',
        idempotencyKey: `p-${Date.now()}`,
      });
      const page = await ben.request<{ messages: { mentions: string[] }[] }>(
        'GET',
        `/rooms/${roomId}/messages?limit=1`,
      );
      return page.body.messages[0]?.mentions.includes(ben.userId) || undefined;
    },
    { timeoutMs: 20_000, message: 'mentions resolve by display name' },
  );

  const history = await ben.request<{ messages: { text: string; seq: number }[] }>(
    'GET',
    `/rooms/${roomId}/messages?after=0&limit=10`,
  );
  assert.equal(history.status, 200);
  assert.equal(history.body.messages[0]!.text, 'hello @Ben');
  const receipt = await ben.request<{ readUpTo: number }>('POST', `/rooms/${roomId}/receipts`, {
    readUpTo: posted.body.seq,
  });
  assert.equal(receipt.body.readUpTo, posted.body.seq);
  await eventually(() => annLive.ofType('receipts_updated', roomId).some((e) => e['userId'] === ben.userId), {
    message: 'Ann sees Ben’s receipt live',
  });
  assert.equal((await ben.request('POST', `/rooms/${roomId}/typing`, { typing: true })).status, 200);
  await eventually(() => annLive.ofType('typing', roomId).some((e) => e['userId'] === ben.userId), {
    message: 'typing live',
  });
  const sync = await ben.request<{ rooms: { roomId: string; lastSeq: number }[] }>('GET', '/sync');
  assert.ok(sync.body.rooms.some((r) => r.roomId === roomId));

  // Non-members: no history, no download.
  const outsider = await cid.request<{ error: { code: string } }>('GET', `/rooms/${roomId}/messages`);
  assert.equal(outsider.status, 404);

  // Attachments through the gateway's streamed routes.
  const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#00aa00' } })
    .png()
    .toBuffer();
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(png)], { type: 'image/png' }), 'green.png');
  const uploaded = await fetch(`${api}/rooms/${roomId}/attachments`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ann.token}` },
    body: form,
  });
  assert.equal(uploaded.status, 201, await uploaded.clone().text());
  const { attachmentId } = (await uploaded.json()) as { attachmentId: string };
  const download = await fetch(`${api}/rooms/${roomId}/attachments/${attachmentId}`, {
    headers: { authorization: `Bearer ${ben.token}` },
  });
  assert.equal(download.status, 200);
  assert.deepEqual(Buffer.from(await download.arrayBuffer()), png);
  const refused = await fetch(`${api}/rooms/${roomId}/attachments/${attachmentId}`, {
    headers: { authorization: `Bearer ${cid.token}` },
  });
  assert.equal(refused.status, 404);
  const anonymous = await fetch(`${api}/rooms/${roomId}/attachments/${attachmentId}`);
  assert.equal(anonymous.status, 401);
});

it('uploads with curl’s defaults (Expect: 100-continue over 1 MB) at 500 KB, 2 MB and 25 MB through the gateway', async () => {
  const dee = await signUp('Dee');
  const created = await dee.request<{ roomId: string }>('POST', '/rooms', {
    name: 'Big files',
    visibility: 'private',
  });
  const { roomId } = created.body;
  const dir = await mkdtemp(join(tmpdir(), 'veche-upload-'));
  try {
    for (const [name, bytes] of [
      ['500KB', 500_000],
      ['2MB', 2_000_000],
      ['25MB', 25_000_000],
    ] as const) {
      const file = join(dir, `${name}.bin`);
      await writeFile(file, randomBytes(bytes));
      const result = await curl(`${api}/rooms/${roomId}/attachments`, {
        form: [`file=@${file};type=application/zip`],
        headers: { authorization: `Bearer ${dee.token}` },
      });
      assert.equal(result.status, 201, `${name}: ${result.body}\n${result.trace}`);
      assert.equal((JSON.parse(result.body) as { size: number }).size, bytes, name);
      if (bytes > 1_048_576) {
        assert.ok(result.sentExpect, `${name}: curl sent Expect: 100-continue`);
        assert.ok(result.gotContinue, `${name}: the gateway answered 100 Continue`);
      }
    }
    // Refused before the body travels: no "100 Continue" for a caller who is not signed in.
    const anonymous = await curl(`${api}/rooms/${roomId}/attachments`, {
      form: [`file=@${join(dir, '2MB.bin')}`],
    });
    assert.equal(anonymous.status, 401);
    assert.ok(anonymous.sentExpect && !anonymous.gotContinue, anonymous.trace);
    // A multipart type without its boundary is the client's mistake.
    const noBoundary = await curl(`${api}/rooms/${roomId}/attachments`, {
      dataFile: join(dir, '500KB.bin'),
      headers: { authorization: `Bearer ${dee.token}`, 'content-type': 'multipart/form-data' },
    });
    assert.equal(noBoundary.status, 400, noBoundary.body);
    assert.equal((JSON.parse(noBoundary.body) as { error: { code: string } }).error.code, 'validation');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
