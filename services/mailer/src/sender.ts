/**
 * Drains the mail outbox into the SMTP pool: claims due mails as the rate limit allows, sends them
 * concurrently, records each outcome right after the relay answers, and hands mails that used up their
 * retries to the dead-letter queue. Any number of replicas may run one (claims skip locked rows).
 */
import { openMailToken } from '@veche/contracts';
import type { Database } from '@veche/db';
import type { Logger } from '@veche/log';
import { decideAfterAttempt, type RetryPolicy } from './domain/delivery.ts';
import { linkTokenPlaceholder } from './domain/mails.ts';
import { createTokenBucket } from './domain/rate-limit.ts';
import {
  claimDueMails,
  markDeadLettered,
  recordAttempt,
  recordSuppressed,
  releaseInterrupted,
  undeadLetteredMails,
  type ClaimedMail,
  type MailRow,
} from './outbox.ts';
import type { MailTransport } from './transport.ts';

export interface SenderOptions {
  database: Database<unknown>;
  transport: MailTransport;
  log: Logger;
  from: string;
  policy: RetryPolicy;
  ratePerSecond: number;
  maxInFlight: number;
  pollIntervalMs: number;
  sendingLeaseMs: number;
  /** Publishes exhausted mails (with their history) to the dead-letter queue; resolves once confirmed. */
  deadLetter?: ((mails: readonly MailRow[]) => Promise<void>) | undefined;
  /** Opens the sealed link tokens (VECHE_SERVICE_SECRET, shared with the gateway). */
  linkTokenSecret: string | undefined;
}

export interface SenderStats {
  sent: number;
  deferred: number;
  failed: number;
  suppressed: number;
}

export interface Sender {
  start(): void;
  /** Stops claiming and waits for the mails already handed to SMTP to be recorded. */
  stop(): Promise<void>;
  /** Looks for due mails now rather than at the next poll (after an event queued some). */
  wake(): void;
  stats(): SenderStats;
}

/**
 * The bodies as the recipient gets them: the link's token opened and put in place of the placeholder
 * (the stored mail never holds it). Undefined when the token cannot be opened.
 */
export function withLinkToken(
  mail: Pick<MailRow, 'text_body' | 'html_body' | 'link_token'>,
  secret: string | undefined,
): { text: string; html: string } | undefined {
  if (!mail.link_token) return { text: mail.text_body, html: mail.html_body };
  const { purpose, userId, sealed } = mail.link_token;
  const token = secret === undefined ? undefined : openMailToken(secret, purpose, userId, sealed);
  if (token === undefined) return undefined;
  return {
    text: mail.text_body.replaceAll(linkTokenPlaceholder, token),
    html: mail.html_body.replaceAll(linkTokenPlaceholder, token),
  };
}

export function createSender(options: SenderOptions): Sender {
  const log = options.log.child({ component: 'sender' });
  const db = options.database.db;
  const bucket = createTokenBucket({ ratePerSecond: options.ratePerSecond, nowMs: Date.now() });
  const stats: SenderStats = { sent: 0, deferred: 0, failed: 0, suppressed: 0 };
  const inFlight = new Set<Promise<void>>();
  let running = false;
  let loop: Promise<void> | undefined;
  let wakeUp: (() => void) | undefined;
  let lastHousekeeping = 0;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wakeUp = undefined;
        resolve();
      }
      wakeUp = done;
    });

  async function deliver(mail: ClaimedMail): Promise<void> {
    const mailLog = log.child({ mailId: mail.id, correlationId: mail.correlation_id, kind: mail.kind });
    if (mail.suppressed_reason !== null) {
      await recordSuppressed(db, mail, mail.suppressed_reason);
      stats.suppressed += 1;
      mailLog.info('not sent: the address is suppressed');
      return;
    }
    const content = withLinkToken(mail, options.linkTokenSecret);
    if (!content) {
      // A secret that changed since the gateway sealed the token: no attempt can succeed.
      await recordAttempt(db, mail, {
        state: 'failed',
        failure: 'rejected',
        suppressAddress: false,
        reason: 'the link token cannot be opened (VECHE_SERVICE_SECRET differs from the gateway’s?)',
      });
      stats.failed += 1;
      mailLog.error('failed for good: its link token cannot be opened');
      return;
    }
    const result = await options.transport.send({
      from: options.from,
      to: { name: mail.to_name, address: mail.to_address },
      subject: mail.subject,
      text: content.text,
      html: content.html,
      messageId: mail.message_id,
      headers: mail.headers,
    });
    const next = decideAfterAttempt(mail.attempts, result, options.policy, new Date());
    await recordAttempt(db, mail, next);
    if (next.state === 'sent') {
      stats.sent += 1;
      mailLog.debug({ relayMessageId: next.relayMessageId }, 'sent');
    } else if (next.state === 'deferred') {
      stats.deferred += 1;
      mailLog.warn(
        { attempt: mail.attempts, nextAttemptAt: next.nextAttemptAt, reason: next.reason },
        'deferred',
      );
    } else {
      stats.failed += 1;
      mailLog.error(
        { attempt: mail.attempts, failure: next.failure, reason: next.reason },
        'failed for good',
      );
      if (next.failure === 'exhausted') lastHousekeeping = 0;
    }
  }

  function track(mail: ClaimedMail): void {
    const task = deliver(mail)
      .catch((error: unknown) => {
        // The outcome could not be recorded (PostgreSQL down): the mail stays `sending` until the lease
        // runs out, then goes round again.
        log.error({ err: error, mailId: mail.id }, 'could not record a delivery outcome');
      })
      .finally(() => {
        inFlight.delete(task);
        wakeUp?.();
      });
    inFlight.add(task);
  }

  async function housekeeping(): Promise<void> {
    const released = await releaseInterrupted(db, options.sendingLeaseMs);
    if (released > 0) log.warn({ released }, 'mails interrupted while sending go round again');
    if (!options.deadLetter) return;
    const dead = await undeadLetteredMails(db, 100);
    if (dead.length === 0) return;
    await options.deadLetter(dead);
    await markDeadLettered(
      db,
      dead.map((m) => m.id),
    );
    log.warn({ mails: dead.length }, 'mails that used up their retries sent to the dead-letter queue');
  }

  async function run(): Promise<void> {
    while (running) {
      try {
        const now = Date.now();
        if (now - lastHousekeeping >= Math.min(options.sendingLeaseMs / 2, 5_000)) {
          lastHousekeeping = now;
          await housekeeping();
        }
        const room = options.maxInFlight - inFlight.size;
        if (room <= 0) {
          await sleep(options.pollIntervalMs);
          continue;
        }
        const tokens = bucket.take(room, Date.now());
        if (tokens === 0) {
          await sleep(Math.max(1, Math.min(bucket.waitMs(Date.now()), options.pollIntervalMs)));
          continue;
        }
        const claimed = await claimDueMails(db, tokens);
        bucket.refund(tokens - claimed.length);
        for (const mail of claimed) track(mail);
        if (claimed.length < tokens) await sleep(options.pollIntervalMs);
      } catch (error) {
        log.error({ err: error }, 'sender loop failed; trying again');
        await sleep(Math.max(options.pollIntervalMs, 1_000));
      }
    }
  }

  return {
    stats: () => ({ ...stats }),
    wake: () => wakeUp?.(),
    start() {
      if (running) return;
      running = true;
      loop = run();
      log.info(
        { ratePerSecond: options.ratePerSecond, maxInFlight: options.maxInFlight, policy: options.policy },
        'sender started',
      );
    },
    async stop() {
      running = false;
      wakeUp?.();
      await loop;
      await Promise.allSettled([...inFlight]);
      log.info(stats, 'sender stopped');
    },
  };
}
