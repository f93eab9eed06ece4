/**
 * Asynchronous projections: read models that follow the log through a transactional subscription,
 * so each event's effect on them happens exactly once, and that can be rebuilt from zero.
 */
import { sql, type Database } from '@veche/db';
import type { Logger } from '@veche/log';
import { notificationChannel } from './append-plan.ts';
import { zeroCheckpoint } from './checkpoint.ts';
import { createSubscription } from './subscription.ts';
import type { AsyncProjection, EventStore, Subscription, SubscriptionOptions } from './types.ts';

/** The subscription (checkpoint and lock) name of a projection. */
export const projectionSubscriptionName = (projection: Pick<AsyncProjection, 'name'>): string =>
  `projection:${projection.name}`;

export interface ProjectionRunnerOptions extends Partial<
  Pick<SubscriptionOptions, 'batchSize' | 'pollIntervalMs' | 'leaseRetryMs'>
> {
  database: Database<unknown>;
  store: EventStore;
  log: Logger;
}

export function createProjectionRunner(
  projection: AsyncProjection,
  options: ProjectionRunnerOptions,
): Subscription {
  return createSubscription({
    ...options,
    name: projectionSubscriptionName(projection),
    mode: 'transactional',
    ...(projection.eventTypes ? { eventTypes: projection.eventTypes } : {}),
    handle: async (events, trx) => {
      // Transactional mode always passes the transaction; its absence would be a bug in this library.
      if (!trx) throw new Error('A projection runs only in a transactional subscription');
      await projection.apply(trx, events);
    },
  });
}

/**
 * Empties the projection's tables and moves its checkpoint back to the start, in one transaction, so
 * the running runner (in whichever replica leads) rebuilds it from the first event. Services expose it
 * as a CLI command. Locking the checkpoint row first waits for a batch the runner is applying, and
 * makes that runner's next batch see the moved checkpoint and start over.
 */
export async function rebuildProjection(options: {
  database: Database<unknown>;
  projection: AsyncProjection;
}): Promise<void> {
  const { database, projection } = options;
  const db = database.db;
  const name = projectionSubscriptionName(projection);
  await db.transaction().execute(async (trx) => {
    await sql`
      insert into subscription_checkpoints (name, transaction_id, global_position)
      values (${name}, ${zeroCheckpoint.transactionId}::xid8, ${zeroCheckpoint.globalPosition})
      on conflict (name) do update
      set transaction_id = excluded.transaction_id, global_position = excluded.global_position, updated_at = now()`.execute(
      trx,
    );
    await projection.reset(trx);
    // Wakes the runner at once rather than at its next poll.
    await sql`select pg_notify(${notificationChannel(database.schema)}, '')`.execute(trx);
  });
}
