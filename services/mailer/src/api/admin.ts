/**
 * Admin procedures over the mail outbox: what happened to a mail, which mails are stuck or failed, and
 * lifting a suppression. Their requests are the routes declared in @veche/contracts (mailerRoutes),
 * validated before they get here (api/procedures.ts).
 */
import type { mailerProcedures, mailerRoutes, RouteInput } from '@veche/contracts';
import type { Executor } from '@veche/db';
import { notFound, validationError } from '@veche/errors';
import { hideLinkTokens } from '../domain/mails.ts';
import { tablesOf, type HistoryEntry, type MailRow, type MailState } from '../tables.ts';
import type { RouteOfProcedure } from '@veche/service';

/** The filters of `GET /api/admin/mails`, as declared in @veche/contracts (mailerRoutes). */
export type ListMailsFilter = RouteInput<
  RouteOfProcedure<typeof mailerRoutes, typeof mailerProcedures.listMails>
>;

export interface MailSummary {
  mailId: string;
  kind: string;
  category: string;
  state: MailState;
  to: string;
  subject: string;
  eventId: string;
  userId: string | null;
  attempts: number;
  nextAttemptAt: string | null;
  relayMessageId: string | null;
  messageId: string;
  failure: string | null;
  lastError: string | null;
  createdAt: string;
  sentAt: string | null;
}

export interface MailDetail extends MailSummary {
  idempotencyKey: string;
  correlationId: string | null;
  relayResponse: string | null;
  history: HistoryEntry[];
  deadLetteredAt: string | null;
  text: string;
  html: string;
}

const iso = (date: Date | null): string | null => (date ? date.toISOString() : null);

function summary(row: MailRow): MailSummary {
  return {
    mailId: row.id,
    kind: row.kind,
    category: row.category,
    state: row.state,
    to: row.to_address,
    subject: row.subject,
    eventId: row.event_id,
    userId: row.user_id,
    attempts: row.attempts,
    nextAttemptAt: row.state === 'queued' || row.state === 'deferred' ? iso(row.next_attempt_at) : null,
    relayMessageId: row.relay_message_id,
    messageId: row.message_id,
    failure: row.failure,
    lastError: row.last_error,
    createdAt: row.created_at.toISOString(),
    sentAt: iso(row.sent_at),
  };
}

/** The cursor is `<created_at ISO>|<id>`, so pages stay stable while mails keep arriving. */
const encodeCursor = (row: MailRow): string => `${row.created_at.toISOString()}|${row.id}`;

export async function listMails(
  executor: Executor<unknown>,
  request: ListMailsFilter,
): Promise<{ mails: MailSummary[]; nextBefore: string | null }> {
  const limit = request.limit ?? 50;
  let query = tablesOf(executor).selectFrom('mails').selectAll();
  if (request.state) query = query.where('state', '=', request.state);
  const { address, recipientUserId, eventId, before } = request;
  if (address)
    query = query.where((eb) => eb(eb.fn('lower', ['to_address']), '=', eb.fn('lower', [eb.val(address)])));
  if (recipientUserId) query = query.where('user_id', '=', recipientUserId);
  if (eventId) query = query.where('event_id', '=', eventId);
  if (before) {
    const [at, id] = before.split('|');
    if (!at || !id || Number.isNaN(Date.parse(at)))
      throw validationError('before: not a cursor from a previous page');
    query = query.where((eb) => eb(eb.refTuple('created_at', 'id'), '<', eb.tuple(new Date(at), id)));
  }
  const rows = await query
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit + 1)
    .execute();
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return { mails: page.map(summary), nextBefore: rows.length > limit && last ? encodeCursor(last) : null };
}

export async function getMail(db: Executor<unknown>, mailId: string): Promise<MailDetail> {
  const row = await tablesOf(db).selectFrom('mails').selectAll().where('id', '=', mailId).executeTakeFirst();
  if (!row) throw notFound('No such mail', { details: { mailId } });
  return {
    ...summary(row),
    idempotencyKey: row.idempotency_key,
    correlationId: row.correlation_id,
    relayResponse: row.relay_response,
    history: row.history,
    deadLetteredAt: iso(row.dead_lettered_at),
    // The stored bodies never hold the secret link token; unsubscribe tokens are hidden too.
    text: hideLinkTokens(row.text_body),
    html: hideLinkTokens(row.html_body),
  };
}

export async function listSuppressions(db: Executor<unknown>): Promise<{
  suppressions: { address: string; reason: string; mailId: string | null; createdAt: string }[];
}> {
  const rows = await tablesOf(db)
    .selectFrom('suppressions')
    .selectAll()
    .orderBy('created_at', 'desc')
    .limit(1000)
    .execute();
  return {
    suppressions: rows.map((r) => ({
      address: r.address,
      reason: r.reason,
      mailId: r.mail_id,
      createdAt: r.created_at.toISOString(),
    })),
  };
}

export async function removeSuppression(
  db: Executor<unknown>,
  address: string,
): Promise<{ removed: boolean }> {
  const result = await tablesOf(db)
    .deleteFrom('suppressions')
    .where((eb) => eb('address', '=', eb.fn<string>('lower', [eb.val(address)])))
    .executeTakeFirst();
  return { removed: Number(result.numDeletedRows) > 0 };
}
