/**
 * Hostile input on every chat procedure: each malformed call is refused with a typed `validation` error
 * (never `internal`, never a crash), and the service answers normally afterwards.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { procedureSchemas } from '../src/api/procedures.ts';
import { startHarness, type Harness } from './support/harness.ts';

let h: Harness;
before(async () => {
  h = await startHarness(import.meta.filename, { http: false });
});
after(() => h.close());

const goodActor = { userId: 'hostile', role: 'user' };
const long = 'x'.repeat(100_000);

/** Kwargs no procedure accepts. */
const hostileKwargs: [string, Record<string, unknown>][] = [
  ['no actor', { input: {} }],
  ['null actor', { actor: null, input: {} }],
  ['actor as a string', { actor: 'hostile', input: {} }],
  ['actor with a dotted id', { actor: { userId: 'a.b', role: 'user' }, input: {} }],
  ['actor with a wildcard id', { actor: { userId: '#', role: 'user' }, input: {} }],
  ['actor with an empty id', { actor: { userId: '', role: 'user' }, input: {} }],
  ['actor with a huge id', { actor: { userId: long, role: 'user' }, input: {} }],
  ['actor with an unknown role', { actor: { userId: 'x', role: 'root' }, input: {} }],
  ['actor with extra fields', { actor: { ...goodActor, admin: true }, input: {} }],
  ['no input', { actor: goodActor }],
  ['input as an array', { actor: goodActor, input: [] }],
  ['input as a string', { actor: goodActor, input: 'DROP TABLE rooms' }],
  ['input with an unknown field', { actor: goodActor, input: { senderId: 'mallory', zzz: 1 } }],
  ['extra top-level field', { actor: goodActor, input: {}, sudo: true }],
];

/** What no text field accepts: a NUL, lone surrogates (JSON carries them as `\ud800` escapes). */
const notText = ['a\u0000b', '\u0000', 'a\uD800b', 'end\uD83D', '\uDC00start'];

/** Per-field attacks for the fields a procedure declares. */
const badValues: Record<string, unknown[]> = {
  roomId: ['', '../../etc/passwd', 'a b', 'x'.repeat(65), 42, null, { $ne: 1 }, '%00'],
  userId: ['', 'bob.rooms', '#', 'x'.repeat(65), 7],
  messageId: ['', "'; drop table messages; --", 1],
  text: ['', '   ', 'x'.repeat(10_001), 5, null, ...notText],
  idempotencyKey: ['', 'has space', 'x'.repeat(101), 1],
  name: ['', ' ', 'x'.repeat(101), [], ...notText],
  visibility: ['secret', '', 1],
  topic: ['x'.repeat(501), 3, ...notText],
  role: ['admin', 'OWNER', ''],
  emoji: ['', 'two words', 'x'.repeat(33), ...notText],
  before: [-1, 1.5, 'abc', 2 ** 40],
  after: [-1, 1.5, 'abc'],
  limit: [0, 501, -5, 'ten', 1.5],
  deliveredUpTo: [-1, 1.5, '9'],
  readUpTo: [-1, 2 ** 40],
  typing: ['yes', 1, null],
  q: ['', ' ', 'x'.repeat(201), ...notText],
  offset: [-1, 10_001],
  scope: ['all', 1],
  replyTo: ['', '../x'],
  attachments: ['a', [1], Array.from({ length: 11 }, (_, i) => `a${i}`), ['a', 'a']],
};

const validSample: Record<string, unknown> = {
  roomId: 'room1',
  userId: 'other',
  messageId: 'msg1',
  text: 'hi',
  idempotencyKey: 'k',
  name: 'n',
  visibility: 'public',
  topic: 't',
  role: 'member',
  emoji: 'x',
  typing: true,
  q: 'x',
};

async function code(procedure: string, kwargs: Record<string, unknown>): Promise<string> {
  try {
    await h.caller.call(procedure, kwargs, { timeoutMs: 10_000 });
    return 'accepted';
  } catch (error) {
    return (error as { code: string }).code;
  }
}

it('every procedure refuses hostile kwargs with a validation error', async () => {
  const procedures = Object.keys(procedureSchemas);
  assert.ok(procedures.length >= 27, `${procedures.length} procedures`);
  const failures: string[] = [];
  for (const procedure of procedures) {
    for (const [label, kwargs] of hostileKwargs) {
      const got = await code(procedure, kwargs);
      if (got !== 'validation') failures.push(`${procedure} / ${label}: ${got}`);
    }
    const schema = procedureSchemas[procedure]!;
    const inputSchema = (
      schema.properties as unknown as Record<
        string,
        { properties: Record<string, unknown>; required?: string[] }
      >
    )['input']!;
    const fields = Object.keys(inputSchema.properties);
    const required = new Set(inputSchema.required ?? []);
    const base = Object.fromEntries(
      fields.filter((f) => required.has(f)).map((f) => [f, validSample[f] ?? 'x']),
    );
    for (const field of fields) {
      for (const value of badValues[field] ?? []) {
        const got = await code(procedure, { actor: goodActor, input: { ...base, [field]: value } });
        if (got !== 'validation')
          failures.push(`${procedure} / ${field}=${JSON.stringify(value).slice(0, 40)}: ${got}`);
      }
    }
  }
  assert.deepEqual(failures, []);
  // Still serving.
  const { roomId } = await h.call<{ roomId: string }>('hostile', 'createRoom', {
    name: 'Still here',
    visibility: 'public',
  });
  assert.ok(roomId);
});

it('well-formed but pointless calls are refused with the right typed error, never internal', async () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['getRoom', { roomId: 'nope' }, 'not_found'],
    ['joinRoom', { roomId: 'nope' }, 'not_found'],
    ['postMessage', { roomId: 'nope', text: 'x', idempotencyKey: 'k' }, 'not_found'],
    ['listMessages', { roomId: 'nope' }, 'not_found'],
    ['editMessage', { roomId: 'nope', messageId: 'm', text: 'x' }, 'not_found'],
    ['kickMember', { roomId: 'nope', userId: 'x' }, 'not_found'],
    ['postReceipts', { roomId: 'nope' }, 'validation'],
    ['search', { q: '&&&| !!! (((' }, 'accepted'],
  ];
  for (const [procedure, input, expected] of cases) {
    assert.equal(await code(`veche.chat.${procedure}`, { actor: goodActor, input }), expected, procedure);
  }
});
