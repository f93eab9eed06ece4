/**
 * Test isolation on the real servers: each test file gets its own PostgreSQL schema and its own
 * RabbitMQ names, so the suite runs files in parallel without interference, and cleans up after.
 */
import { randomBytes } from 'node:crypto';
import { basename } from 'node:path';
import { createDatabase, ensureDatabaseExists, sql, type Database, type DatabaseOptions } from '@veche/db';

export const testDatabaseUrl = (): string =>
  process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/veche_test';

export const testAmqpUrl = (): string => process.env['AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';

/** A short, unique, identifier-safe name: `<prefix>_<random>`. */
export function uniqueName(prefix = 't'): string {
  const clean = prefix
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .slice(0, 40);
  return `${clean}_${randomBytes(5).toString('hex')}`;
}

export interface TestDatabase<DB = unknown> extends Database<DB> {
  /** Drops the schema and closes the pool. */
  drop(): Promise<void>;
}

/**
 * A fresh schema in the test database. Pass the test file's `import.meta.filename` to name it after the
 * file, which makes leftovers easy to trace.
 */
export async function createTestDatabase<DB = unknown>(
  options: { name?: string; poolSize?: number } & Partial<Pick<DatabaseOptions, 'statementTimeoutMs'>> = {},
): Promise<TestDatabase<DB>> {
  const url = testDatabaseUrl();
  await ensureDatabaseExists(url);
  const schema = uniqueName(options.name ? basename(options.name).replace(/\..*$/, '') : 't');
  const database = createDatabase<DB>({
    url,
    schema,
    poolSize: options.poolSize ?? 5,
    applicationName: `test:${schema}`,
    ...(options.statementTimeoutMs ? { statementTimeoutMs: options.statementTimeoutMs } : {}),
  });
  await sql`create schema if not exists ${sql.id(schema)}`.execute(database.db);
  return {
    ...database,
    async drop() {
      try {
        await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(database.db);
      } finally {
        await database.close();
      }
    },
  };
}

/**
 * How much longer than its stated limit a wait may take: TEST_TIME_SCALE (default 3). The limits are
 * there to end a test that will never pass, not to time the code; on a machine shared with other
 * suites every step is slower, and a limit tuned on a quiet one failed tests that were right.
 */
const timeScale = Math.max(1, Number(process.env['TEST_TIME_SCALE'] ?? 3) || 3);

/** A stated limit as a test may hold a step to it (× TEST_TIME_SCALE), for a latency a test asserts. */
export const scaledMs = (ms: number): number => ms * timeScale;

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs` (× TEST_TIME_SCALE). */
export async function eventually<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  {
    timeoutMs = 10_000,
    intervalMs = 25,
    message = 'condition',
  }: { timeoutMs?: number; intervalMs?: number; message?: string } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs * timeScale;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs * timeScale} ms waiting for ${message}`, {
        cause: lastError,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
export * from './captured-log.ts';
export * from './wamp-client.ts';
export * from './curl.ts';
export * from './kdc.ts';
export * from './ports.ts';
