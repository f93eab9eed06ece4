/** Shared set-up of the integration tests: a migrated schema of its own, a quiet logger. */
import { migrate } from '@veche/db';
import { createLogger, type Logger } from '@veche/log';
import { createTestDatabase, type TestDatabase } from '@veche/testing';
import { eventStoreMigrations } from '../src/index.ts';

export async function migratedDatabase(name: string, poolSize = 5): Promise<TestDatabase> {
  const database = await createTestDatabase({ name, poolSize });
  await migrate(database, eventStoreMigrations);
  return database;
}

export const testLog = (): Logger =>
  createLogger({ service: 'event-store-test', level: process.env['LOG_LEVEL'] ?? 'silent' });
