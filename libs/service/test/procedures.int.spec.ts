/**
 * serveRoutes through a real WAMP router: handlers typed from their route declarations receive the
 * gateway's `{actor, input}`, calls are validated against the route's own schemas, admin routes
 * refuse other actors, a dependency that is down is `unavailable`, and (checked by tsc) a missing
 * handler or a wrong result type does not compile.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Type } from '@sinclair/typebox';
import { defineRoutes } from '@veche/contracts';
import { createDatabase, sql } from '@veche/db';
import { notFound } from '@veche/errors';
import { createLogger } from '@veche/log';
import { testDatabaseUrl } from '@veche/testing';
import { connectService, type WampService } from '@veche/wamp';
import { serviceAuthenticator, startRouter, type WampRouter } from '@veche/wamp-router';
import { serveRoutes, type RouteHandlers } from '../src/index.ts';

const routes = defineRoutes([
  {
    kind: 'rpc',
    method: 'POST',
    url: '/notes/:bookId',
    auth: 'user',
    procedure: 'veche.kittest.addNote',
    summary: 'Add a note',
    tags: ['test'],
    params: Type.Object({ bookId: Type.String({ pattern: '^[a-z]+$' }) }, { additionalProperties: false }),
    body: Type.Object(
      { text: Type.String({ minLength: 1, maxLength: 20 }) },
      { additionalProperties: false },
    ),
    response: Type.Object({ noteId: Type.String(), by: Type.String() }),
    status: 201,
  },
  {
    kind: 'rpc',
    method: 'GET',
    url: '/notes',
    auth: 'public',
    procedure: 'veche.kittest.countNotes',
    summary: 'Count notes',
    tags: ['test'],
    querystring: Type.Object({ bookId: Type.Optional(Type.String()) }, { additionalProperties: false }),
    response: Type.Object({ count: Type.Integer() }),
  },
  {
    kind: 'rpc',
    method: 'DELETE',
    url: '/notes',
    auth: 'admin',
    procedure: 'veche.kittest.purge',
    summary: 'Remove every note',
    tags: ['test'],
    response: Type.Object({ ok: Type.Literal(true) }),
  },
  {
    kind: 'rpc',
    method: 'GET',
    url: '/notes/broken',
    auth: 'user',
    procedure: 'veche.kittest.broken',
    summary: 'Reads a database that is down',
    tags: ['test'],
    response: Type.Object({}),
  },
  {
    kind: 'stream',
    method: 'GET',
    url: '/files',
    auth: 'user',
    service: 'kit',
    summary: 'Not a procedure',
    tags: ['test'],
  },
] as const);

const secret = 'kit-procedures-test-secret';
const log = createLogger({ service: 'kit-test', level: 'silent' });
const closed = new URL(testDatabaseUrl());
closed.port = '1';
const downDatabase = createDatabase({ url: closed.toString(), schema: 'public', poolSize: 1 });
const notes: { bookId: string; text: string }[] = [];
const callsSeen: string[] = [];

const handlers: RouteHandlers<typeof routes> = {
  ['veche.kittest.addNote']: ({ actor, input }) => {
    // Typed from the route: bookId from params, text from the body, actor never null on a user route.
    notes.push({ bookId: input.bookId, text: input.text });
    return { noteId: String(notes.length), by: actor.userId };
  },
  ['veche.kittest.countNotes']: ({ actor, input }) => {
    if (actor !== null) throw new Error('a public route has no actor');
    if (input.bookId === 'none') throw notFound('No such book');
    return { count: notes.filter((n) => input.bookId === undefined || n.bookId === input.bookId).length };
  },
  ['veche.kittest.purge']: () => {
    notes.length = 0;
    return { ok: true };
  },
  ['veche.kittest.broken']: async () => {
    await sql`select 1`.execute(downDatabase.db);
    return {};
  },
};

// Compile-time checks (tsc runs over tests): each must be an error, or tsc fails on the unused directive.
// @ts-expect-error a handler is missing
const missing: RouteHandlers<typeof routes> = {
  ['veche.kittest.addNote']: handlers['veche.kittest.addNote'],
};
const wrongResult: RouteHandlers<typeof routes> = {
  ...handlers,
  // @ts-expect-error the result lacks `by`
  ['veche.kittest.addNote']: () => ({ noteId: '1' }),
};
const wrongInput: RouteHandlers<typeof routes> = {
  ...handlers,
  // @ts-expect-error the input has no `title`
  ['veche.kittest.addNote']: ({ input }) => ({ noteId: input.title, by: '' }),
};
void [missing, wrongResult, wrongInput];

let router: WampRouter;
let service: WampService;
let caller: WampService;

before(async () => {
  router = await startRouter({ log, port: 0, authenticate: serviceAuthenticator(secret) });
  service = await connectService({ url: router.url, authid: 'service:kit-test', secret, log });
  caller = await connectService({ url: router.url, authid: 'service:gateway', secret, log });
  await serveRoutes(service, routes, handlers, { onCall: ({ procedure }) => callsSeen.push(procedure) });
});

after(async () => {
  await caller?.close();
  await service?.close();
  await router?.close();
  await downDatabase.close();
});

const user = { userId: 'u1', role: 'user' } as const;
const admin = { userId: 'a1', role: 'admin' } as const;

describe('serveRoutes', () => {
  it('passes the validated {actor, input} to the handler and returns its result', async () => {
    const result = await caller.call('veche.kittest.addNote', {
      actor: user,
      input: { bookId: 'abc', text: 'hello' },
    });
    assert.deepEqual(result, { noteId: '1', by: 'u1' });
    assert.deepEqual(
      await caller.call('veche.kittest.countNotes', { actor: null, input: { bookId: 'abc' } }),
      {
        count: 1,
      },
    );
    assert.deepEqual(callsSeen.slice(0, 2), ['veche.kittest.addNote', 'veche.kittest.countNotes']);
  });

  it('refuses arguments that break the route schema before the handler runs', async () => {
    const before = notes.length;
    for (const kwargs of [
      { actor: user, input: { bookId: 'ABC', text: 'x' } },
      { actor: user, input: { bookId: 'abc', text: '' } },
      { actor: user, input: { bookId: 'abc', text: 'x', extra: 1 } },
      { actor: null, input: { bookId: 'abc', text: 'x' } },
      { actor: { userId: 'u1', role: 'root' }, input: { bookId: 'abc', text: 'x' } },
      { input: { bookId: 'abc', text: 'x' } },
    ]) {
      await assert.rejects(
        caller.call('veche.kittest.addNote', kwargs),
        { code: 'validation' },
        JSON.stringify(kwargs),
      );
    }
    await assert.rejects(caller.call('veche.kittest.countNotes', { actor: user, input: {} }), {
      code: 'validation',
    });
    assert.equal(notes.length, before);
  });

  it('lets only admins call admin routes', async () => {
    await assert.rejects(caller.call('veche.kittest.purge', { actor: user, input: {} }), {
      code: 'forbidden',
    });
    assert.ok(notes.length > 0);
    assert.deepEqual(await caller.call('veche.kittest.purge', { actor: admin, input: {} }), { ok: true });
    assert.equal(notes.length, 0);
  });

  it('carries typed errors across, and a dependency that is down as unavailable', async () => {
    await assert.rejects(
      caller.call('veche.kittest.countNotes', { actor: null, input: { bookId: 'none' } }),
      {
        code: 'not_found',
        message: 'No such book',
      },
    );
    await assert.rejects(caller.call('veche.kittest.broken', { actor: user, input: {} }), {
      code: 'unavailable',
    });
  });
});
