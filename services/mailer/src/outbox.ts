/**
 * The mail outbox in PostgreSQL: mails are inserted by the event handlers (once per idempotency key),
 * claimed by the sender with `for update skip locked`, and carry their delivery history. Functions
 * take an executor, so callers choose the transaction.
 */
import { sql, type Executor } from '@veche/db';
import { mailTransitions } from '@veche/metrics';
import { mailIdOf, messageIdOf, type MailDraft } from './domain/mails.ts';
import type { NextState } from './domain/delivery.ts';
import type { HistoryEntry, MailRow, MailState } from './tables.ts';

export type { HistoryEntry, MailRow, MailState } from './tables.ts';
export const mailStates: readonly MailState[] = [
  'queued',
  'sending',
  'sent',
  'deferred',
  'failed',
  'suppressed',
];

export interface EnqueueOptions {
  from: string;
  correlationId?: string | undefined;
}

/** Inserts drafts not seen before (by idempotency key); returns the ids of those inserted. */
export async function enqueueMails(
  db: Executor<unknown>,
  drafts: readonly MailDraft[],
  options: EnqueueOptions,
): Promise<string[]> {
  if (drafts.length === 0) return [];
  const inserted: string[] = [];
  for (const d of drafts) {
    const id = mailIdOf(d.idempotencyKey);
    const { rows } = await sql<{ id: string }>`
      insert into mails (id, idempotency_key, kind, category, event_id, correlation_id, user_id, to_address,
                         to_name, locale, subject, text_body, html_body, headers, link_token, message_id)
      values (${id}, ${d.idempotencyKey}, ${d.kind}, ${d.category}, ${d.eventId}, ${options.correlationId ?? null},
              ${d.userId ?? null}, ${d.to}, ${d.toName}, ${d.locale}, ${d.subject}, ${d.text}, ${d.html},
              ${JSON.stringify(d.headers)}::jsonb, ${d.linkToken ? JSON.stringify(d.linkToken) : null}::jsonb,
              ${messageIdOf(id, options.from)})
      on conflict (idempotency_key) do nothing
      returning id`.execute(db);
    if (rows[0]) inserted.push(rows[0].id);
  }
  // Counted when written: the caller's transaction rarely rolls back, and a redelivery then counts again.
  if (inserted.length > 0) mailTransitions.inc({ state: 'queued' }, inserted.length);
  return inserted;
}

export interface ClaimedMail extends MailRow {
  /** Set when a notification's address is on the suppression list: it is not to be sent. */
  suppressed_reason: string | null;
}

/**
 * Claims up to `limit` due mails for this sender: marks them `sending` (attempts + 1) and commits
 * before any SMTP traffic, so another replica never takes the same mail and a crash leaves a trace.
 */
export async function claimDueMails(db: Executor<unknown>, limit: number): Promise<ClaimedMail[]> {
  if (limit <= 0) return [];
  const { rows } = await sql<ClaimedMail>`
    with due as (
      select id from mails
      where state in ('queued', 'deferred') and next_attempt_at <= now()
      order by next_attempt_at
      limit ${limit}
      for update skip locked
    )
    update mails m
    set state = 'sending', attempts = m.attempts + 1, sending_since = now(), updated_at = now()
    from due
    where m.id = due.id
    returning m.*,
      case when m.category = 'notification'
           then (select s.reason from suppressions s where s.address = lower(m.to_address)) end as suppressed_reason`.execute(
    db,
  );
  if (rows.length > 0) mailTransitions.inc({ state: 'sending' }, rows.length);
  return rows;
}

/** Counts a state entered by an update that changed the row (a stale claim changes nothing). */
function countTransition(state: MailState, result: { numAffectedRows?: bigint }): void {
  if (Number(result.numAffectedRows ?? 0) > 0) mailTransitions.inc({ state });
}

const entry = (attempt: number, outcome: HistoryEntry['outcome'], detail: string): string =>
  JSON.stringify([{ attempt, at: new Date().toISOString(), outcome, detail }]);

/**
 * Records how an attempt ended; a permanent refusal of the address also suppresses it. Only the claim
 * that made the attempt may record it (`attempts` matches): an attempt outliving its lease was already
 * handed to another claim.
 */
export async function recordAttempt(
  db: Executor<unknown>,
  mail: ClaimedMail,
  next: NextState,
): Promise<void> {
  let result: { numAffectedRows?: bigint };
  switch (next.state) {
    case 'sent':
      result = await sql`
        update mails set state = 'sent', relay_message_id = ${next.relayMessageId}, relay_response = ${next.response},
          sent_at = now(), sending_since = null, last_error = null, updated_at = now(),
          history = history || ${entry(mail.attempts, 'sent', next.response)}::jsonb
        where id = ${mail.id} and state = 'sending' and attempts = ${mail.attempts}`.execute(db);
      countTransition('sent', result);
      return;
    case 'deferred':
      result = await sql`
        update mails set state = 'deferred', next_attempt_at = ${next.nextAttemptAt}, sending_since = null,
          last_error = ${next.reason}, updated_at = now(),
          history = history || ${entry(mail.attempts, 'deferred', next.reason)}::jsonb
        where id = ${mail.id} and state = 'sending' and attempts = ${mail.attempts}`.execute(db);
      countTransition('deferred', result);
      return;
    case 'failed': {
      // One statement: whoever sees the mail failed (an admin, a test) already finds its address
      // suppressed; two statements left a moment between them.
      const suppress = next.failure === 'rejected' && next.suppressAddress;
      const { rows } = await sql<{ n: number }>`
        with failed as (
          update mails set state = 'failed', failure = ${next.failure}, sending_since = null,
            last_error = ${next.reason}, updated_at = now(),
            history = history || ${entry(mail.attempts, next.failure, next.reason)}::jsonb
          where id = ${mail.id} and state = 'sending' and attempts = ${mail.attempts}
          returning id, to_address),
        suppressed as (
          insert into suppressions (address, reason, mail_id)
          select lower(to_address), ${next.reason}, id from failed where ${suppress}
          on conflict (address) do nothing)
        select count(*)::int as n from failed`.execute(db);
      countTransition('failed', { numAffectedRows: BigInt(rows[0]?.n ?? 0) });
      return;
    }
  }
}

export async function recordSuppressed(
  db: Executor<unknown>,
  mail: ClaimedMail,
  reason: string,
): Promise<void> {
  const result = await sql`
    update mails set state = 'suppressed', sending_since = null, attempts = attempts - 1,
      last_error = ${`address suppressed: ${reason}`}, updated_at = now(),
      history = history || ${entry(mail.attempts - 1, 'suppressed', reason)}::jsonb
    where id = ${mail.id} and state = 'sending' and attempts = ${mail.attempts}`.execute(db);
  countTransition('suppressed', result);
}

/**
 * Mails left in `sending` longer than the lease were cut off by a crash (or a hung relay): whether the
 * relay took them is unknown, so they go back to the queue; the resend carries the same Message-ID.
 */
export async function releaseInterrupted(db: Executor<unknown>, leaseMs: number): Promise<number> {
  const result = await sql`
    update mails set state = 'deferred', next_attempt_at = now(), sending_since = null, updated_at = now(),
      last_error = 'interrupted while sending; outcome unknown',
      history = history || jsonb_build_array(jsonb_build_object(
        'attempt', attempts, 'at', now(), 'outcome', 'interrupted',
        'detail', 'the sender stopped before recording the outcome'))
    where state = 'sending' and sending_since < now() - make_interval(secs => ${leaseMs / 1000})`.execute(db);
  const released = Number(result.numAffectedRows ?? 0);
  if (released > 0) mailTransitions.inc({ state: 'deferred' }, released);
  return released;
}

/** Exhausted mails not yet handed to the dead-letter queue. */
export async function undeadLetteredMails(db: Executor<unknown>, limit: number): Promise<MailRow[]> {
  const { rows } = await sql<MailRow>`
    select * from mails where failure = 'exhausted' and dead_lettered_at is null order by updated_at limit ${limit}`.execute(
    db,
  );
  return rows;
}

export async function markDeadLettered(db: Executor<unknown>, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await sql`update mails set dead_lettered_at = now() where id = any(${[...ids]}::text[])`.execute(db);
}

export async function isSuppressed(db: Executor<unknown>, address: string): Promise<string | undefined> {
  const { rows } = await sql<{ reason: string }>`
    select reason from suppressions where address = lower(${address})`.execute(db);
  return rows[0]?.reason;
}

/**
 * Forgets finished mails (sent, failed, suppressed) older than `before`. Their idempotency keys go
 * with them, so `before` must lie beyond any redelivery of their events (the inbox keeps less).
 */
export async function pruneFinishedMails(db: Executor<unknown>, before: Date): Promise<number> {
  const result = await sql`
    delete from mails where state in ('sent', 'failed', 'suppressed') and updated_at < ${before}
      and (failure is distinct from 'exhausted' or dead_lettered_at is not null)`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}
