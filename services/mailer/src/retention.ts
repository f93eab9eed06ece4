/**
 * Keeps the schema from growing for ever: forgets handled event ids after the inbox retention,
 * finished mails after the mail retention (longer, so idempotency keys outlive the inbox) and
 * notifications that waited more than a day for a recipient's registration. Runs in every replica;
 * the deletes are idempotent.
 */
import { pruneInbox } from '@veche/bus';
import type { Database } from '@veche/db';
import type { Logger } from '@veche/log';
import { pruneFinishedMails } from './outbox.ts';
import { pruneAwaitingNotifications } from './projections/recipients.ts';

const day = 86_400_000;

export interface Retention {
  start(): void;
  stop(): void;
  runOnce(now?: Date): Promise<{ inbox: number; mails: number; awaitingNotifications: number }>;
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
    const awaitingNotifications = await pruneAwaitingNotifications(
      options.database.db,
      new Date(now.getTime() - day),
    );
    if (inbox + mails + awaitingNotifications > 0)
      log.info({ inbox, mails, awaitingNotifications }, 'pruned');
    return { inbox, mails, awaitingNotifications };
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
