/**
 * Keeps the schema from growing for ever: forgets handled event ids after the inbox retention and
 * finished mails after the mail retention (longer, so idempotency keys outlive the inbox). Runs in
 * every replica; the deletes are idempotent.
 */
import { pruneInbox } from '@veche/bus';
import type { Database } from '@veche/db';
import type { Logger } from '@veche/log';
import { pruneFinishedMails } from './outbox.ts';

const day = 86_400_000;

export interface Retention {
  start(): void;
  stop(): void;
  runOnce(now?: Date): Promise<{ inbox: number; mails: number }>;
}

export function createRetention(options: {
  database: Database<unknown>;
  log: Logger;
  mailDays: number;
  inboxDays: number;
  intervalMs?: number;
}): Retention {
  const log = options.log.child({ component: 'retention' });
  let timer: NodeJS.Timeout | undefined;
  async function runOnce(now = new Date()) {
    const inbox = await pruneInbox(options.database.db, new Date(now.getTime() - options.inboxDays * day));
    const mails = await pruneFinishedMails(
      options.database.db,
      new Date(now.getTime() - options.mailDays * day),
    );
    if (inbox + mails > 0) log.info({ inbox, mails }, 'pruned');
    return { inbox, mails };
  }
  return {
    runOnce,
    start() {
      timer ??= setInterval(() => {
        runOnce().catch((error: unknown) =>
          log.warn({ err: error }, 'pruning failed; trying at the next interval'),
        );
      }, options.intervalMs ?? 3_600_000);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
