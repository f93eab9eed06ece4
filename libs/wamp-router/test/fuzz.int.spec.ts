/**
 * The router fuzzed with generated frame sequences (@veche/fuzz, fast-check): WAMP messages of every
 * type with wrong field types, out of order (before HELLO, a second HELLO, YIELDs and ERRORs nobody
 * asked for, router-to-client types), URIs aimed at another user's topics and at wildcards, JSON that
 * is not WAMP, text that is not JSON, binary and oversize frames; from a client that joined as a user
 * or one that never did. After each sequence: everything the router sent is a WAMP message a router
 * may send; the user got no subscription outside its own prefix, no registration, no publication,
 * no result; the witness got nothing the attacker published; the router still delivers, answers in
 * order, and admits a new user. `FUZZ_RUNS` / `FUZZ_LONG=1` for more cases.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { WebSocket } from 'ws';
import {
  FuzzTally,
  fuzzParameters,
  fuzzRuns,
  routerMessageProblem,
  wampCodes,
  wampFrameArbitrary,
  wampFrameData,
} from '@veche/fuzz';
import { eventually } from '@veche/testing';
import { isAllowed } from '@veche/wamp-policy';
import type { TestClient } from './support/clients.ts';
import { useTestRouter } from './support/router.ts';

const maxPayloadBytes = 16 * 1024;
const runs = fuzzRuns(300);
const attacker = '200';
const victim = '100';
const probeId = 2 ** 53 - 7;

interface Raw {
  socket: WebSocket;
  received: string[];
  closed: Promise<number>;
  /** Resolves when a message matching `test` arrives (or the socket closes: undefined). */
  waitFor(test: (message: unknown[]) => boolean, timeoutMs: number): Promise<unknown[] | undefined>;
}

async function openRaw(url: string): Promise<Raw> {
  const socket = new WebSocket(url, ['wamp.2.json']);
  const received: string[] = [];
  const listeners = new Set<() => void>();
  socket.on('message', (data) => {
    received.push((data as Buffer).toString('utf8'));
    for (const wake of listeners) wake();
  });
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) =>
    socket.on('close', (code) => {
      resolve(code);
      for (const wake of listeners) wake();
    }),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  const parse = (text: string): unknown[] | undefined => {
    try {
      const value: unknown = JSON.parse(text);
      return Array.isArray(value) ? value : undefined;
    } catch {
      return undefined;
    }
  };
  return {
    socket,
    received,
    closed,
    waitFor: (test, timeoutMs) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const found = received.map(parse).find((m) => m !== undefined && test(m));
          if (found || socket.readyState === WebSocket.CLOSED) {
            clearTimeout(timer);
            listeners.delete(check);
            resolve(found);
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`no answer within ${timeoutMs} ms (a hang)`));
        }, timeoutMs);
        listeners.add(check);
        check();
      }),
  };
}

describe(`fuzzing the WAMP router (${runs} frame sequences)`, { timeout: 60_000 + runs * 300 }, () => {
  const router = useTestRouter({ logLevel: 'warn', maxPayloadBytes });
  const { captured } = router;
  let service: TestClient;
  let witness: TestClient;
  const witnessEvents: unknown[][] = [];
  let pings = 0;

  before(async () => {
    service = await router.connect('service:chat');
    witness = await router.connect(victim);
    await witness.session.subscribe(`veche.user.${victim}.rooms`, (args) => witnessEvents.push(args ?? []));
  });

  async function stillDelivers(): Promise<void> {
    pings += 1;
    const ping = pings;
    await service.session.publish(`veche.user.${victim}.rooms`, [ping], {}, { acknowledge: true });
    await eventually(() => witnessEvents.some((args) => args[0] === ping), {
      timeoutMs: 10_000,
      message: 'the witness’s event',
    });
  }

  async function admitsNewUser(): Promise<void> {
    const user = await router.connect('300');
    try {
      const received: unknown[] = [];
      await user.session.subscribe('veche.user.300.rooms', (args) => received.push(args));
      await service.session.publish('veche.user.300.rooms', ['hello'], {}, { acknowledge: true });
      await eventually(() => received.length === 1, { timeoutMs: 10_000, message: 'the new user’s event' });
    } finally {
      user.close();
    }
  }

  it('ignores a YIELD for no pending invocation (fox-wamp answered ERROR 103; found by this fuzzing)', async () => {
    const raw = await openRaw(router.url);
    try {
      raw.socket.send(JSON.stringify([1, 'veche', { authmethods: ['ticket'], authid: attacker, roles: {} }]));
      await raw.waitFor((m) => m[0] === wampCodes.CHALLENGE, 10_000);
      raw.socket.send(JSON.stringify([wampCodes.AUTHENTICATE, `ticket-${attacker}`, {}]));
      await raw.waitFor((m) => m[0] === wampCodes.WELCOME, 10_000);
      raw.socket.send(JSON.stringify([wampCodes.YIELD, 12, {}, [], {}]));
      raw.socket.send(JSON.stringify([wampCodes.SUBSCRIBE, probeId, {}, `veche.user.${attacker}.rooms`]));
      const answer = await raw.waitFor((m) => m[1] === probeId, 10_000);
      assert.equal(answer?.[0], wampCodes.SUBSCRIBED);
      assert.deepEqual(
        raw.received.map((text) => (JSON.parse(text) as unknown[])[0]),
        [wampCodes.CHALLENGE, wampCodes.WELCOME, wampCodes.SUBSCRIBED],
        'nothing answered the YIELD',
      );
    } finally {
      raw.socket.terminate();
    }
  });

  it('keeps every frame sequence within what a user may do, and stays healthy', async () => {
    const tally = new FuzzTally('WAMP router (frame sequences)');
    // Half the sequences only well-typed messages after joining (they must be judged by meaning, not
    // shape: the connection stays open); the others anything, joined or not.
    const sequence = fc.oneof(
      fc.record({
        join: fc.constant(true),
        frames: fc.array(wampFrameArbitrary(attacker, victim, maxPayloadBytes, { wellTypedOnly: true }), {
          minLength: 1,
          maxLength: 8,
        }),
      }),
      fc.record({
        join: fc.constantFrom(true, true, true, false),
        frames: fc.array(wampFrameArbitrary(attacker, victim, maxPayloadBytes), {
          minLength: 1,
          maxLength: 6,
        }),
      }),
    );
    await fc.assert(
      fc.asyncProperty(sequence, async ({ join, frames }) => {
        const raw = await openRaw(router.url);
        try {
          if (join) {
            raw.socket.send(
              JSON.stringify([
                1,
                'veche',
                {
                  authmethods: ['ticket'],
                  authid: attacker,
                  roles: { subscriber: {}, publisher: {}, caller: {}, callee: {} },
                },
              ]),
            );
            await raw.waitFor((m) => m[0] === wampCodes.CHALLENGE, 10_000);
            raw.socket.send(JSON.stringify([wampCodes.AUTHENTICATE, `ticket-${attacker}`, {}]));
            const welcome = await raw.waitFor((m) => m[0] === wampCodes.WELCOME, 10_000);
            assert.ok(welcome, 'joined');
          }
          const before = raw.received.length;
          const sent = new Map<unknown, unknown[]>();
          for (const frame of frames) {
            if (raw.socket.readyState !== WebSocket.OPEN) break;
            if (frame.kind === 'json' && Array.isArray(frame.value)) sent.set(frame.value[1], frame.value);
            const { data, binary } = wampFrameData(frame);
            raw.socket.send(data, { binary });
          }
          let outcome: string;
          if (join && raw.socket.readyState === WebSocket.OPEN) {
            // Messages are handled in order: the answer to this one means every frame before it was.
            raw.socket.send(
              JSON.stringify([wampCodes.SUBSCRIBE, probeId, {}, `veche.user.${attacker}.rooms`]),
            );
            const answer = await raw.waitFor((m) => m[1] === probeId || m[2] === probeId, 10_000);
            outcome = answer ? 'open, answered in order' : `closed ${await raw.closed}`;
          } else {
            const closedCode = await Promise.race([
              raw.closed,
              new Promise<undefined>((r) => setTimeout(() => r(undefined), 300)),
            ]);
            outcome =
              closedCode === undefined ? (join ? 'closed' : 'waiting for HELLO') : `closed ${closedCode}`;
          }
          for (const text of raw.received.slice(join ? before : 0)) {
            const message = JSON.parse(text) as unknown[];
            const problem = routerMessageProblem(message);
            assert.equal(problem, undefined, `${problem}: ${text}`);
            const [code, id] = message as [number, unknown];
            assert.ok(
              ![wampCodes.PUBLISHED, wampCodes.REGISTERED, wampCodes.RESULT, wampCodes.INVOCATION].includes(
                code as 17,
              ),
              `a user got ${text}`,
            );
            if (code === wampCodes.SUBSCRIBED && id !== probeId) {
              const request = sent.get(id);
              assert.ok(
                request &&
                  isAllowed({ authrole: 'user', authid: attacker }, 'subscribe', request[3] as string),
                `subscribed by ${JSON.stringify(request)}: ${text}`,
              );
            }
          }
          tally.count(outcome);
        } finally {
          raw.socket.terminate();
        }
        await stillDelivers();
        assert.ok(
          witnessEvents.every((args) => args.length === 1 && typeof args[0] === 'number'),
          `the witness got what the attacker published: ${JSON.stringify(witnessEvents.find((a) => typeof a[0] !== 'number'))}`,
        );
      }),
      fuzzParameters(runs),
    );
    tally.print();
    await admitsNewUser();
    assert.deepEqual(
      captured.lines.filter((line) => /unhandled|uncaught/i.test(String(line['msg']))),
      [],
    );
  });
});
