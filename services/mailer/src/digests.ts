/**
 * Sends offline-notification digests: once a user's oldest unread notification has waited the digest
 * delay, everything waiting for them goes out in one mail. Any number of replicas may run this (rows
 * being composed elsewhere are skipped).
 */
import type { Database } from '@veche/db';
import type { Logger } from '@veche/log';
import { notificationMail } from './domain/mails.ts';
import type { Brand } from './domain/templates.ts';
import { unsubscribeToken } from './domain/unsubscribe.ts';
import { enqueueMails } from './outbox.ts';
import { takeDigest, usersWithDueDigest } from './projections/pending-notifications.ts';
import { loadRecipients } from './projections/recipients.ts';

export interface DigestSchedulerOptions {
  database: Database<unknown>;
  log: Logger;
  brand: Brand;
  from: string;
  unsubscribeSecret: string;
  pollIntervalMs: number;
  onMailsQueued?: () => void;
}

export interface DigestScheduler {
  start(): void;
  stop(): Promise<void>;
  /** Composes every digest that is due now; returns how many mails were queued. */
  runOnce(): Promise<number>;
}

export function createDigestScheduler(options: DigestSchedulerOptions): DigestScheduler {
  const log = options.log.child({ component: 'digests' });
  const db = options.database.db;
  let running = false;
  let loop: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;

  async function composeFor(userId: string): Promise<boolean> {
    return db.transaction().execute(async (trx) => {
      const pending = await takeDigest(trx, userId);
      const oldest = pending[0];
      if (!oldest) return false;
      const recipient = (await loadRecipients(trx, [userId])).get(userId);
      if (!recipient || recipient.notify === 'never') return false; // unsubscribed meanwhile: dropped
      const mail = notificationMail(
        options.brand,
        pending.length === 1 ? 'chat_notification' : 'chat_digest',
        oldest.eventId,
        recipient,
        pending.map((p) => p.item),
        unsubscribeToken(options.unsubscribeSecret, userId),
      );
      const queued = await enqueueMails(trx, [mail], { from: options.from });
      return queued.length > 0;
    });
  }

  async function runOnce(): Promise<number> {
    let queued = 0;
    for (;;) {
      const users = await usersWithDueDigest(db, 50);
      if (users.length === 0) break;
      let progressed = false;
      for (const userId of users) {
        if (await composeFor(userId)) queued += 1;
        progressed = true;
      }
      if (!progressed || users.length < 50) break;
    }
    if (queued > 0) {
      log.info({ mails: queued }, 'digests queued');
      options.onMailsQueued?.();
    }
    return queued;
  }

  async function run(): Promise<void> {
    while (running) {
      try {
        await runOnce();
      } catch (error) {
        log.error({ err: error }, 'composing digests failed; trying again');
      }
      if (!running) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(resolve, options.pollIntervalMs);
      });
    }
  }

  return {
    runOnce,
    start() {
      if (running) return;
      running = true;
      loop = run();
    },
    async stop() {
      running = false;
      if (timer) clearTimeout(timer);
      wake?.();
      await loop;
    },
  };
}
