/**
 * The local fleet's other edges fuzzed (@veche/fuzz, fast-check):
 * - `/pubsub` (presence-router): generated frames (odd status codes and operations, forged
 *   publishers, timestamps of every type, JSON that is not a frame, text that is not JSON, binary and
 *   large frames). Every frame back is a status or a typed error, the connection stays open (a frame
 *   over the size limit may close it), and the next subscription is still answered at once.
 * - RabbitMQ consumers (mailer, chat's account and bot-reply queues, presence-router's directory):
 *   messages that are not JSON, not events, with a messageId that is not their eventId, with data
 *   their handler's schema refuses (the mailer's own schemas), and bad batches, sent to each queue.
 *   Each becomes exactly its dead letters, the queues drain, no process restarts, and a real
 *   registration still gets its mail.
 * `FUZZ_RUNS` / `FUZZ_LONG=1` for more cases.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import amqp from 'amqplib';
import type { TSchema } from '@sinclair/typebox';
import fc from 'fast-check';
import { WebSocket } from 'ws';
import { eventually } from '@veche/testing';
import { startFleet, type Fleet } from '../../../scripts/fleet/test/support/fleet.ts';
import { integrationEvents, mailerConsumedEventTypes } from '@veche/contracts';
import {
  busMessageArbitrary,
  FuzzTally,
  fuzzParameters,
  fuzzRuns,
  pubsubAnswerProblem,
  pubsubFrameArbitrary,
  type BusMessage,
} from '../src/index.ts';

const runs = fuzzRuns(200);

interface FleetStatus {
  processes: { name: string; restarts: number; lastExit?: string }[];
}

interface Pubsub {
  socket: WebSocket;
  frames: string[];
  closed: Promise<number>;
  /** Waits for a frame after index `from` that matches. */
  waitFor(from: number, test: (frame: string) => boolean, timeoutMs: number): Promise<string | undefined>;
}

function connect(url: string, token: string): Promise<Pubsub> {
  const socket = new WebSocket(url, {
    headers: { authorization: `Bearer ${token}` },
    perMessageDeflate: false,
  });
  const frames: string[] = [];
  const wakers = new Set<() => void>();
  socket.on('message', (data, binary) => {
    frames.push(binary ? '<binary>' : (data as Buffer).toString('utf8'));
    for (const wake of wakers) wake();
  });
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) =>
    socket.on('close', (code) => {
      resolve(code);
      for (const wake of wakers) wake();
    }),
  );
  return new Promise((resolve, reject) => {
    socket.once('open', () =>
      resolve({
        socket,
        frames,
        closed,
        waitFor: (from, test, timeoutMs) =>
          new Promise((done, fail) => {
            const check = () => {
              const found = frames.slice(from).find(test);
              if (found !== undefined || socket.readyState === WebSocket.CLOSED) {
                clearTimeout(timer);
                wakers.delete(check);
                done(found);
              }
            };
            const timer = setTimeout(() => {
              wakers.delete(check);
              fail(new Error(`no answer within ${timeoutMs} ms (a hang)`));
            }, timeoutMs);
            wakers.add(check);
            check();
          }),
      }),
    );
    socket.once('error', reject);
  });
}

describe(
  `fuzzing /pubsub and the RabbitMQ consumers of the local fleet (${runs} cases each)`,
  { timeout: 180_000 + runs * 600 },
  () => {
    let fleet: Fleet;
    const people: Record<string, { userId: string; token: string; email: string }> = {};

    const call = async <T>(method: string, path: string, body?: unknown) => {
      const response = await fetch(`${fleet.origin}/api${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: response.status, json: (await response.json()) as T };
    };

    async function signUp(name: string) {
      const email = `${name}-${Date.now()}@example.org`;
      const password = 'a long enough password';
      const registered = await call('POST', '/auth/register', { email, password, displayName: name });
      assert.equal(registered.status, 201, JSON.stringify(registered.json));
      const login = await call<{ accessToken: string; userId: string }>('POST', '/auth/login', {
        email,
        password,
      });
      assert.equal(login.status, 200, JSON.stringify(login.json));
      return { userId: login.json.userId, token: login.json.accessToken, email };
    }

    before(async () => {
      fleet = await startFleet({
        env: { REQUIRE_VERIFIED_EMAIL: 'false', ACCESS_TOKEN_TTL_SECONDS: '3600' },
      });
      people['alice'] = await signUp('alice');
      people['bob'] = await signUp('bob');
    });

    after(async () => {
      await fleet?.stop();
    });

    it('answers every /pubsub frame with a status or a typed error, and keeps the connection', async () => {
      const alice = people['alice']!;
      const bob = people['bob']!;
      const url = `${fleet.origin.replace('http', 'ws')}/pubsub`;
      const tally = new FuzzTally('/pubsub (frames)');
      const probe = JSON.stringify({ events: { [alice.userId]: 9 } });
      const answersProbe = (frame: string) => frame.includes(`"publisher":"${alice.userId}"`);
      await fc.assert(
        fc.asyncProperty(pubsubFrameArbitrary(alice.userId, bob.userId), async (frame) => {
          // A connection per case: what one case subscribed to (up to the limit) is not the next's.
          const client = await connect(url, alice.token);
          try {
            client.socket.send(frame.kind === 'text' ? frame.text : frame.bytes, {
              binary: frame.kind === 'binary',
            });
            client.socket.send(probe);
            const answer = await client.waitFor(0, answersProbe, 15_000);
            for (const text of client.frames) {
              const problem = pubsubAnswerProblem(text);
              assert.equal(
                problem,
                undefined,
                `${problem}: ${text.slice(0, 300)} (after ${frame.kind === 'text' ? frame.text.slice(0, 300) : 'a binary frame'})`,
              );
            }
            if (answer === undefined) {
              const code = await client.closed;
              // Only a frame over the server's size limit may end the connection.
              assert.ok(
                frame.kind === 'text' && frame.text.length > 10_000 && code === 1009,
                `closed with ${code} after ${JSON.stringify(frame).slice(0, 300)}`,
              );
              tally.count(`closed ${code} (oversize)`);
              return;
            }
            tally.count(
              client.frames.some((text) => text.includes('"error"'))
                ? 'error frame, still open'
                : 'no error, still open',
            );
          } finally {
            client.socket.terminate();
          }
        }),
        fuzzParameters(runs),
      );
      tally.print();
    });

    it('dead-letters every message a consumer cannot take, and keeps consuming', async () => {
      const connection = await amqp.connect(fleet.amqpUrl);
      const channel = await connection.createConfirmChannel();
      // The data schemas of every integration event, as the producers declare them.
      const schemas: Partial<Record<string, TSchema>> = integrationEvents;
      const queues = [
        { queue: `${fleet.names}.mailer`, types: [...mailerConsumedEventTypes], schemas },
        {
          queue: `${fleet.names}.chat-accounts`,
          types: ['account.registered', 'account.profile_updated'],
          schemas,
        },
        {
          queue: `${fleet.names}.presence-accounts`,
          types: ['account.registered', 'account.directory_updated', 'account.disabled', 'account.enabled'],
          schemas,
        },
        { queue: `${fleet.names}.chat-bot-replies`, types: ['bot.registered', 'bot.reply'], schemas },
      ];
      const expected = new Map(queues.map(({ queue }) => [queue, 0]));
      const initial = new Map<string, number>();
      for (const { queue } of queues)
        initial.set(queue, (await channel.checkQueue(`${queue}.dead`)).messageCount);
      const tally = new FuzzTally('RabbitMQ consumers (messages they cannot take)');
      const cases = fc.oneof(
        ...queues.map(({ queue, types, schemas }) =>
          busMessageArbitrary(types, schemas).map((message): [string, BusMessage] => [queue, message]),
        ),
      );
      try {
        await fc.assert(
          fc.asyncProperty(cases, async ([queue, message]) => {
            channel.sendToQueue(queue, message.content, {
              persistent: true,
              contentType: message.contentType,
              ...(message.messageId === undefined ? {} : { messageId: message.messageId }),
            });
            await channel.waitForConfirms();
            expected.set(queue, expected.get(queue)! + message.deadLetters);
            tally.count(`${queue.slice(fleet.names.length + 1)} ${message.kind}`);
          }),
          fuzzParameters(runs),
        );
        tally.print();
        for (const { queue } of queues) {
          const want = initial.get(queue)! + expected.get(queue)!;
          await eventually(
            async () => {
              const dead = (await channel.checkQueue(`${queue}.dead`)).messageCount;
              const waiting = (await channel.checkQueue(queue)).messageCount;
              assert.ok(dead <= want, `${queue}: ${dead} dead letters, more than the ${want} sent`);
              return dead === want && waiting === 0;
            },
            { timeoutMs: 90_000, intervalMs: 500, message: `${want} dead letters in ${queue}.dead` },
          );
        }
      } finally {
        await connection.close();
      }
      const status = (await (await fetch(`${fleet.origin}/_fleet/status`)).json()) as FleetStatus;
      for (const process of status.processes)
        assert.equal(
          process.restarts,
          0,
          `${process.name} restarted (${process.lastExit}):\n${fleet.output().slice(-3000)}`,
        );
      // The consumers still take real events: a registration's mail arrives.
      const carol = await signUp('carol');
      assert.match(await fleet.mailLink(carol.email, '/verify-email'), /token=/);
    });
  },
);
