/**
 * The inbox: the ids of messages a consumer has handled, written in the same transaction as the
 * handler's effects, so a message RabbitMQ delivers again (a lost ack, a republished batch) has no
 * second effect.
 */
import { sql, type Executor, type Migrations } from '@veche/db';

/** Run with the service's own migrations; names sort before a service's `0001-…`. */
export const busMigrations: Migrations = {
  '0000.bus.001-inbox': {
    async up(db) {
      await sql`
        create table bus_inbox (
          consumer text not null,
          message_id text not null,
          handled_at timestamptz not null default now(),
          primary key (consumer, message_id)
        )`.execute(db);
      await sql`create index bus_inbox_handled_at on bus_inbox (handled_at)`.execute(db);
    },
  },
};

/**
 * Records `messageIds` for `consumer` and returns those not seen before, in input order. A concurrent
 * transaction recording the same id makes this wait for its outcome, so two replicas never both
 * handle one message.
 */
export async function recordInInbox(
  trx: Executor<unknown>,
  consumer: string,
  messageIds: readonly string[],
): Promise<Set<string>> {
  if (messageIds.length === 0) return new Set();
  const { rows } = await sql<{ message_id: string }>`
    insert into bus_inbox (consumer, message_id)
    select ${consumer}, id from unnest(${[...messageIds]}::text[]) as id
    on conflict do nothing
    returning message_id`.execute(trx);
  return new Set(rows.map((row) => row.message_id));
}

/** Forgets handled ids older than `before`; redeliveries older than that are assumed impossible. */
export async function pruneInbox(db: Executor<unknown>, before: Date): Promise<number> {
  const result = await sql`delete from bus_inbox where handled_at < ${before}`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}
