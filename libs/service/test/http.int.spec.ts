/**
 * The kit's HTTP plumbing on a real listener: probes, readiness from real checks, the one error shape
 * for our errors, for a PostgreSQL that is down and for bugs, and for every refusal fastify or Node
 * makes before a handler runs; nothing of the request is echoed, every failure is logged.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Type } from '@sinclair/typebox';
import { createDatabase, sql, type Database } from '@veche/db';
import { conflict, rateLimited } from '@veche/errors';
import { capturedLogger, testDatabaseUrl } from '@veche/testing';
import type { FastifyInstance } from 'fastify';
import { createServiceHttp, postgresCheck } from '../src/index.ts';

/** A marker placed in every hostile request: it must never come back in an answer. */
const marker = 'ECHO-MARKER-7f3a';
const { log, lines: logLines } = capturedLogger('kit-test');

let app: FastifyInstance;
let port: number;
let database: Database;
let downDatabase: Database;

/** Sends raw bytes and reads the whole answer (the connection is closed by either side). */
function raw(request: string | Buffer): Promise<{ status: number; headers: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write(request));
    let data = '';
    socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', ...rest] = data.split('\r\n\r\n');
      resolve({
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0),
        headers: head,
        body: rest.join('\r\n\r\n'),
      });
    });
  });
}

const get = (path: string, headers = '') =>
  raw(`GET ${path} HTTP/1.1\r\nHost: x\r\n${headers}Connection: close\r\n\r\n`);
const post = (path: string, contentType: string, body: string) =>
  raw(
    `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: ${contentType}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );

function assertErrorShape(
  answer: { body: string },
  code: string,
): { code: string; message: string; details?: unknown } {
  const parsed = JSON.parse(answer.body) as { error: { code: string; message: string; details?: unknown } };
  assert.equal(parsed.error.code, code, answer.body);
  assert.equal(typeof parsed.error.message, 'string');
  assert.deepEqual(Object.keys(parsed), ['error']);
  assert.ok(!answer.body.includes(marker), `nothing of the request is echoed: ${answer.body}`);
  assert.doesNotMatch(answer.body, /node_modules|\bat .*\(|select |FST_|syntax error/i, 'no internals');
  return parsed.error;
}

before(async () => {
  database = createDatabase({ url: testDatabaseUrl(), schema: 'public', poolSize: 2 });
  const closed = new URL(testDatabaseUrl());
  closed.port = '1'; // nothing listens on port 1
  downDatabase = createDatabase({ url: closed.toString(), schema: 'public', poolSize: 1 });
  app = await createServiceHttp({
    log,
    bodyLimit: 1_024,
    readiness: {
      postgres: postgresCheck(database),
      rabbitmq: () => true,
      router: () => {
        throw new Error('a check that throws counts as not ready');
      },
    },
  });
  app.get('/conflict', async () => {
    throw conflict('Already there', { details: { field: 'name' } });
  });
  app.get('/slow-down', async () => {
    throw rateLimited('Too many', { retryAfterSeconds: 30 });
  });
  app.get('/bug', async () => {
    await sql`select * from no_such_table_for_the_kit_test`.execute(database.db);
  });
  app.get('/database-down', async () => {
    await sql`select 1`.execute(downDatabase.db);
  });
  app.get('/items/:itemId', async (request) => ({ params: request.params }));
  app.post(
    '/items',
    {
      schema: {
        body: Type.Object({ name: Type.String({ maxLength: 10 }) }, { additionalProperties: false }),
      },
    },
    async (request) => request.body,
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as net.AddressInfo).port;
});

after(async () => {
  await app.close();
  await database.close();
  await downDatabase.close();
});

describe('probes', () => {
  it('answers /health while the process runs', async () => {
    const answer = await get('/health');
    assert.equal(answer.status, 200);
    assert.deepEqual(JSON.parse(answer.body), { status: 'ok' });
  });

  it('answers /ready 503 naming the failing checks, 200 when every check passes', async () => {
    const answer = await get('/ready');
    assert.equal(answer.status, 503);
    assert.deepEqual(JSON.parse(answer.body), {
      status: 'not_ready',
      checks: { postgres: true, rabbitmq: true, router: false },
    });
    const onlyPostgres = await createServiceHttp({ log, readiness: { postgres: postgresCheck(database) } });
    const ready = await onlyPostgres.inject({ method: 'GET', url: '/ready' });
    assert.equal(ready.statusCode, 200);
    assert.deepEqual(ready.json(), { status: 'ready', checks: { postgres: true } });
    const downReady = await createServiceHttp({
      log,
      readiness: { postgres: postgresCheck(downDatabase) },
      probePrefix: '/api',
    });
    const down = await downReady.inject({ method: 'GET', url: '/api/ready' });
    assert.equal(down.statusCode, 503);
    assert.deepEqual(down.json(), { status: 'not_ready', checks: { postgres: false } });
  });
});

describe('errors from handlers', () => {
  it('answers a typed error with its status, code, message and details', async () => {
    const answer = await get('/conflict');
    assert.equal(answer.status, 409);
    assert.deepEqual(JSON.parse(answer.body), {
      error: { code: 'conflict', message: 'Already there', details: { field: 'name' } },
    });
    const limited = await get('/slow-down');
    assert.equal(limited.status, 429);
    assert.match(limited.headers, /retry-after: 30/i);
  });

  it('answers a bug with 500 and nothing else, and logs it with its cause', async () => {
    const answer = await get('/bug');
    assert.equal(answer.status, 500);
    assert.deepEqual(JSON.parse(answer.body), { error: { code: 'internal', message: 'Internal error' } });
    const logged = logLines.find((line) => line['msg'] === 'request failed');
    assert.equal(logged?.['level'], 'error');
    assert.match(JSON.stringify(logged), /no_such_table_for_the_kit_test/, 'the cause is in the log');
  });

  it('answers 503 unavailable when PostgreSQL is down', async () => {
    const answer = await get('/database-down');
    assert.equal(answer.status, 503);
    assertErrorShape(answer, 'unavailable');
    assert.match(answer.headers, /retry-after: 1/i);
    assert.ok(logLines.some((line) => line['msg'] === 'dependency unavailable' && line['level'] === 'warn'));
  });
});

describe('refusals before any handler, in the one shape, echoing nothing', () => {
  const cases: [string, () => ReturnType<typeof raw>, number][] = [
    ['an unknown route', () => get(`/nowhere/${marker}?q=${marker}`), 404],
    [
      'an unknown method on a known path',
      () => raw(`PATCH /health?${marker} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
      404,
    ],
    ['a bad percent-encoding in a parameter', () => get(`/items/${marker}%E0%A4%A`), 400],
    ['an overlong parameter', () => get(`/items/${marker}${'p'.repeat(300)}`), 414],
    ['an overlong URL', () => get(`/health?${marker}=${'u'.repeat(9_000)}`), 414],
    ['huge headers', () => get('/health', `X-Big: ${marker}${'h'.repeat(20_000)}\r\n`), 431],
    ['invalid JSON', () => post('/items', 'application/json', `{"name": "${marker}`), 400],
    ['an empty JSON body', () => post('/items', 'application/json', ''), 400],
    ['a text body', () => post('/items', 'text/plain', marker), 415],
    ['an unknown media type', () => post('/items', `application/${marker}`, marker), 415],
    [
      'a body over the limit',
      () => post('/items', 'application/json', `{"name":"${marker}${'b'.repeat(2_000)}"}`),
      413,
    ],
    ['a body that breaks the schema', () => post('/items', 'application/json', `{"name":"${marker}"}`), 400],
    ['an unknown field', () => post('/items', 'application/json', `{"name":"a","${marker}":1}`), 400],
    ['a malformed request line', () => raw(`GET /${marker} HTTP/9\r\n\r\n`), 400],
  ];
  for (const [name, send, status] of cases) {
    it(`${name}: ${status}`, async () => {
      const answer = await send();
      assert.equal(answer.status, status, answer.headers + '\n' + answer.body);
      const error = assertErrorShape(answer, status === 404 ? 'not_found' : 'validation');
      assert.match(answer.headers, /content-type: application\/json/i);
      if (status !== 404)
        assert.ok((error.details as { reason?: string } | undefined)?.reason ?? Array.isArray(error.details));
    });
  }

  it('says which field broke the schema, without its value', async () => {
    const answer = await post('/items', 'application/json', `{"name":"${marker}"}`);
    const error = assertErrorShape(answer, 'validation');
    assert.deepEqual(error.details, [
      { in: 'body', path: '/name', message: 'Expected string length less or equal to 10' },
    ]);
  });

  it('keeps serving after all of them', async () => {
    assert.equal((await get('/health')).status, 200);
  });
});
