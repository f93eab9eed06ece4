/**
 * Admin procedures over the mail outbox: what happened to a mail, which mails are stuck or failed, and
 * lifting a suppression. Each request schema is the validator and the type; the gateway calls these as
 * `veche.mailer.admin.*` for administrators only.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { sql, type Executor } from '@veche/db';
import { notFound, validationError } from '@veche/errors';
import type { HistoryEntry, MailRow, MailState } from '../outbox.ts';

export const procedures = {
  listMails: 'veche.mailer.admin.list_mails',
  getMail: 'veche.mailer.admin.get_mail',
  listSuppressions: 'veche.mailer.admin.list_suppressions',
  removeSuppression: 'veche.mailer.admin.remove_suppression',
} as const;

const State = Type.Union([
  Type.Literal('queued'),
  Type.Literal('sending'),
  Type.Literal('sent'),
  Type.Literal('deferred'),
  Type.Literal('failed'),
  Type.Literal('suppressed'),
]);

/** The gateway passes the acting administrator as `userId` (for the log); filters are the rest. */
const ActingUser = Type.Optional(Type.String({ minLength: 1, maxLength: 200 }));

export const ListMailsRequest = Type.Object(
  {
    userId: ActingUser,
    state: Type.Optional(State),
    address: Type.Optional(Type.String({ minLength: 1, maxLength: 320 })),
    recipientUserId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    eventId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    /** Newest first; pass the previous page's `nextBefore` to go on. */
    before: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
  },
  { additionalProperties: false },
);
export type ListMailsRequest = Static<typeof ListMailsRequest>;

export const GetMailRequest = Type.Object(
  { userId: ActingUser, mailId: Type.String({ minLength: 1, maxLength: 100 }) },
  { additionalProperties: false },
);
export const ListSuppressionsRequest = Type.Object({ userId: ActingUser }, { additionalProperties: false });
export const RemoveSuppressionRequest = Type.Object(
  { userId: ActingUser, address: Type.String({ minLength: 1, maxLength: 320 }) },
  { additionalProperties: false },
);

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

export function check<T extends TSchema>(schema: T, input: unknown): Static<T> {
  if (Value.Check(schema, input)) return input;
  const problems = [...Value.Errors(schema, input)].slice(0, 10).map((e) => `${e.path || '/'}: ${e.message}`);
  throw validationError('The request does not match its schema', { details: { problems } });
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
  db: Executor<unknown>,
  input: unknown,
): Promise<{ mails: MailSummary[]; nextBefore: string | null }> {
  const request = check(ListMailsRequest, input);
  const limit = request.limit ?? 50;
  const conditions = [sql`true`];
  if (request.state) conditions.push(sql`state = ${request.state}`);
  if (request.address) conditions.push(sql`lower(to_address) = lower(${request.address})`);
  if (request.recipientUserId) conditions.push(sql`user_id = ${request.recipientUserId}`);
  if (request.eventId) conditions.push(sql`event_id = ${request.eventId}`);
  if (request.before) {
    const [at, id] = request.before.split('|');
    if (!at || !id || Number.isNaN(Date.parse(at)))
      throw validationError('before: not a cursor from a previous page');
    conditions.push(sql`(created_at, id) < (${new Date(at)}, ${id})`);
  }
  const { rows } = await sql<MailRow>`
    select * from mails where ${sql.join(conditions, sql` and `)}
    order by created_at desc, id desc limit ${limit + 1}`.execute(db);
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return { mails: page.map(summary), nextBefore: rows.length > limit && last ? encodeCursor(last) : null };
}

export async function getMail(db: Executor<unknown>, input: unknown): Promise<MailDetail> {
  const { mailId } = check(GetMailRequest, input);
  const { rows } = await sql<MailRow>`select * from mails where id = ${mailId}`.execute(db);
  const row = rows[0];
  if (!row) throw notFound('No such mail', { details: { mailId } });
  return {
    ...summary(row),
    idempotencyKey: row.idempotency_key,
    correlationId: row.correlation_id,
    relayResponse: row.relay_response,
    history: row.history,
    deadLetteredAt: iso(row.dead_lettered_at),
    text: row.text_body,
    html: row.html_body,
  };
}

export async function listSuppressions(db: Executor<unknown>): Promise<{
  suppressions: { address: string; reason: string; mailId: string | null; createdAt: string }[];
}> {
  const { rows } = await sql<{ address: string; reason: string; mail_id: string | null; created_at: Date }>`
    select * from suppressions order by created_at desc limit 1000`.execute(db);
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
  input: unknown,
): Promise<{ removed: boolean }> {
  const { address } = check(RemoveSuppressionRequest, input);
  const result = await sql`delete from suppressions where address = lower(${address})`.execute(db);
  return { removed: Number(result.numAffectedRows ?? 0) > 0 };
}
