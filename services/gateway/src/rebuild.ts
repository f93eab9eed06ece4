/**
 * Rebuilds the gateway's read models from the event log with the event store's one rebuild
 * (`rebuildReadModels` of @veche/event-store: appends locked out, the accounts projection reset, every
 * event replayed through the same `apply` the appends use, in one transaction).
 */
import type { Database } from '@veche/db';
import { rebuildReadModels as rebuild } from '@veche/event-store';
import { accountsProjection } from './projections/accounts.ts';

export async function rebuildReadModels(
  database: Database<unknown>,
  batchSize = 1_000,
): Promise<{ events: number }> {
  const { events } = await rebuild({ database, projections: [accountsProjection], batchSize });
  return { events };
}
