/**
 * Chat traffic for the failover tests and benchmark: the real chat service, started as its own
 * process (services/chat/src/server.ts) with DATABASE_URL through the failover endpoint, a local WAMP
 * router, and posters that call `veche.chat.postMessage` the way the gateway does. Every
 * acknowledged post is recorded with its time, so a test can prove none was lost and measure when
 * posting worked again after the primary died.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connectWampClient, eventually, type TestWampClient } from '@veche/testing';
import { internalHeaders, signActor } from '../../../../libs/contracts/src/index.ts';
import { createLogger } from '../../../../libs/log/src/index.ts';
import {
  deleteBusNames,
  secret,
  startTestRouter,
  testConfig,
  type Router,
} from '../../../../services/chat/test/support/harness.ts';
import { freePort, root } from './clusters.ts';

export interface Ack {
  key: string;
  messageId: string;
  seq: number;
  /** When the successful attempt was sent, and when its answer came. */
  sentAt: number;
  at: number;
}

export interface ChatTraffic {
  roomId: string;
  /** The chat's UPLOADS_DIR. */
  uploadsDir: string;
  /** Uploads a file through the chat's attachment endpoint, as the gateway forwards it. */
  upload(filename: string, content: Buffer, contentType: string): Promise<{ attachmentId: string }>;
  /** Starts `concurrency` posters; each posts until stopped, retrying a failed post with its key. */
  startPosting(concurrency: number): void;
  stopPosting(): Promise<void>;
  acks: Ack[];
  /** Failed attempts (primary down, endpoint moving), with their time. */
  failures: { at: number; message: string }[];
  /** Resolves with the first acknowledgement of a post sent at or after `since` (ms since the epoch). */
  firstAckAfter(since: number): Promise<Ack>;
  output(): string;
  close(): Promise<void>;
}

interface WampResult {
  args?: unknown[];
  kwargs?: Record<string, unknown>;
}

// autobahn answers a callee's object as a Result {args, kwargs}, or the first argument.
function unwrap<T>(value: unknown): T {
  const result = value as WampResult;
  if (result && typeof result === 'object' && ('kwargs' in result || 'args' in result)) {
    if (result.kwargs && Object.keys(result.kwargs).length > 0) return result.kwargs as T;
    return result.args?.[0] as T;
  }
  return value as T;
}

export async function startChatTraffic(databaseUrl: string): Promise<ChatTraffic> {
  const log = createLogger({ service: 'replica-test', level: 'silent' });
  const router: Router = await startTestRouter(log);
  const uploads = mkdtempSync(path.join(tmpdir(), 'veche-replica-uploads-'));
  const config = testConfig(router.url, { UPLOADS_DIR: uploads });
  const port = await freePort();
  let output = '';
  const chat: ChildProcess = spawn(process.execPath, [path.join(root, 'services/chat/src/server.ts')], {
    cwd: path.join(root, 'services/chat'),
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      AMQP_URL: config.AMQP_URL,
      WAMP_URL: router.url,
      VECHE_SERVICE_SECRET: secret,
      PORT: String(port),
      LOG_LEVEL: 'warn',
      UPLOADS_DIR: uploads,
      CHAT_EXCHANGE: config.CHAT_EXCHANGE,
      CHAT_BOT_EXCHANGE: config.CHAT_BOT_EXCHANGE,
      CHAT_ACCOUNTS_QUEUE: config.CHAT_ACCOUNTS_QUEUE,
      CHAT_BOT_QUEUE: config.CHAT_BOT_QUEUE,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  chat.stdout?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  chat.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  await eventually(
    () =>
      fetch(`http://127.0.0.1:${port}/ready`).then(
        (r) => r.ok,
        () => false,
      ),
    {
      timeoutMs: 60_000,
      message: 'the chat service to be ready',
    },
  ).catch((error: unknown) => {
    throw new Error(`chat did not start:\n${output}`, { cause: error });
  });
  const client: TestWampClient = await connectWampClient(router.url, 'service:gateway', secret);
  const call = async <T>(userId: string, procedure: string, input: Record<string, unknown>) =>
    unwrap<T>(
      await client.session.call(`veche.chat.${procedure}`, [], { actor: { userId, role: 'user' }, input }),
    );
  // The room's procedures register once chat has joined the router: retry until they exist.
  const { roomId } = await eventually(
    () =>
      call<{ roomId: string }>('replica-poster', 'createRoom', { name: 'failover', visibility: 'public' }),
    { timeoutMs: 30_000, message: 'createRoom' },
  );

  const acks: Ack[] = [];
  const failures: { at: number; message: string }[] = [];
  const waiters: { since: number; resolve: (ack: Ack) => void }[] = [];
  let posting = false;
  let posters: Promise<void>[] = [];
  let counter = 0;

  const poster = async (id: number) => {
    while (posting) {
      counter += 1;
      const key = `p${id}-${counter}`;
      // The same key until it is acknowledged: a retry after an unknown outcome never posts twice.
      for (;;) {
        const sentAt = Date.now();
        try {
          const result = await call<{ messageId: string; seq: number }>('replica-poster', 'postMessage', {
            roomId,
            text: `message ${key}`,
            idempotencyKey: key,
          });
          const ack = { key, messageId: result.messageId, seq: result.seq, sentAt, at: Date.now() };
          acks.push(ack);
          for (const waiter of waiters.filter((w) => ack.sentAt >= w.since)) {
            waiters.splice(waiters.indexOf(waiter), 1);
            waiter.resolve(ack);
          }
          break;
        } catch (error) {
          failures.push({ at: Date.now(), message: String((error as { error?: string }).error ?? error) });
          if (!posting) return;
          // A failed call returns at once while the database is down: pace the retries.
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    }
  };

  return {
    roomId,
    uploadsDir: uploads,
    async upload(filename, content, contentType) {
      const send = () => {
        const form = new FormData();
        form.append('file', new Blob([content], { type: contentType }), filename);
        return fetch(`http://127.0.0.1:${port}/rooms/${roomId}/attachments`, {
          method: 'POST',
          headers: {
            [internalHeaders.actor]: signActor({ userId: 'replica-poster', role: 'user' }, secret, 600),
          },
          body: form,
        });
      };
      // A pooled connection the server closed while idle fails the write (EPIPE): send once more.
      const response = await send().catch(() => send());
      if (response.status !== 201) throw new Error(`upload: ${response.status} ${await response.text()}`);
      return (await response.json()) as { attachmentId: string };
    },
    acks,
    failures,
    startPosting(concurrency) {
      posting = true;
      posters = Array.from({ length: concurrency }, (_, i) => poster(i));
    },
    async stopPosting() {
      posting = false;
      await Promise.all(posters);
    },
    firstAckAfter(since) {
      const done = acks.find((a) => a.sentAt >= since);
      if (done) return Promise.resolve(done);
      return new Promise((resolve) => waiters.push({ since, resolve }));
    },
    output: () => output,
    async close() {
      posting = false;
      await Promise.all(posters);
      client.close();
      const exited = new Promise((resolve) => chat.once('exit', resolve));
      chat.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      if (chat.exitCode === null) chat.kill('SIGKILL');
      await deleteBusNames(config, log).catch(() => {});
      await router.close();
      rmSync(uploads, { recursive: true, force: true });
    },
  };
}
