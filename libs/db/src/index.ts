/**
 * PostgreSQL access for a service: a kysely instance on a pg pool whose connections use the service's
 * own schema (search_path), numbered migrations run by kysely's migrator, and transactions that
 * repository functions join when they are given one.
 */
import pg from 'pg';
import { Kysely, PostgresDialect, sql, type Transaction } from 'kysely';
import { Migrator, type Migration, type MigrationProvider } from 'kysely/migration';

export { sql, type Kysely, type Transaction } from 'kysely';
export type { Migration } from 'kysely/migration';

const identifier = /^[a-z_][a-z0-9_]{0,62}$/;

export function assertIdentifier(name: string): string {
  if (!identifier.test(name)) throw new Error(`Not a safe SQL identifier: ${JSON.stringify(name)}`);
  return name;
}

// int8 (counts, positions) as numbers: Veche's positions stay far below 2^53.
const parseInt8 = (value: string): number => Number(value);
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary'): unknown =>
    oid === 20 ? parseInt8 : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export interface DatabaseOptions {
  url: string;
  /** The service's schema: created if missing, first on the search_path of every connection. */
  schema: string;
  poolSize?: number;
  applicationName?: string;
  /** Statements running longer than this are cancelled by PostgreSQL (0 = no limit). */
  statementTimeoutMs?: number;
  connectionTimeoutMs?: number;
  /**
   * Ends a session left idle inside a transaction this long (default 60 s, 0 = never). Event-store
   * readers see only events older than the oldest running transaction of the whole cluster, so one
   * leaked transaction would stall every subscription, relay and projection.
   */
  idleInTransactionTimeoutMs?: number;
  /** Further server settings for every session, as `-c name=value` (names are checked). */
  sessionSettings?: Readonly<Record<string, string | number>>;
}

export interface Database<DB = unknown> {
  readonly db: Kysely<DB>;
  readonly pool: pg.Pool;
  readonly schema: string;
  readonly options: DatabaseOptions;
  /** A dedicated client outside the pool (LISTEN, session advisory locks). The caller ends it. */
  connect(): Promise<pg.Client>;
  close(): Promise<void>;
}

export function connectionConfig(options: DatabaseOptions): pg.ClientConfig {
  const schema = assertIdentifier(options.schema);
  const settings = [`-c search_path=${schema},public`];
  if (options.statementTimeoutMs) settings.push(`-c statement_timeout=${options.statementTimeoutMs}`);
  settings.push(`-c idle_in_transaction_session_timeout=${options.idleInTransactionTimeoutMs ?? 60_000}`);
  for (const [name, value] of Object.entries(options.sessionSettings ?? {})) {
    if (!/^[a-z_][a-z0-9_.]*$/.test(name) || !/^[\w.:/+-]+$/.test(String(value)))
      throw new Error(`Invalid session setting ${name}=${String(value)}`);
    settings.push(`-c ${name}=${value}`);
  }
  return {
    connectionString: options.url,
    options: settings.join(' '),
    application_name: options.applicationName ?? schema,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 5_000,
    types,
  };
}

export function createDatabase<DB = unknown>(options: DatabaseOptions): Database<DB> {
  const pool = new pg.Pool({ ...connectionConfig(options), max: options.poolSize ?? 10 });
  // An idle client that loses its server emits 'error' on the pool; the pool replaces it.
  pool.on('error', () => {});
  // A client checked out of the pool has no error listener (pg-pool removes its idle one), so a server
  // that goes away between two statements of a transaction would raise an uncaught 'error' and end
  // the process. The statement in flight or the next one fails instead, and the pool then drops the
  // broken client.
  pool.on('connect', (client) => {
    client.on('error', () => {});
  });
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    pool,
    schema: options.schema,
    options,
    async connect() {
      const client = new pg.Client(connectionConfig(options));
      await client.connect();
      return client;
    },
    async close() {
      await db.destroy();
    },
  };
}

/** Creates the database named in `url` when it does not exist (connecting to `postgres` to do so). */
export async function ensureDatabaseExists(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ''));
  if (!name) throw new Error('DATABASE_URL names no database');
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (found.rowCount === 0) {
      try {
        await client.query(`create database ${pg.escapeIdentifier(name)}`);
      } catch (error) {
        // Another process created it in the meantime.
        if ((error as { code?: string }).code !== '42P04' && (error as { code?: string }).code !== '23505')
          throw error;
      }
    }
  } finally {
    await client.end();
  }
}

export type Migrations = Record<string, Migration>;

export interface MigrationOutcome {
  applied: string[];
}

/**
 * Runs the pending migrations of one schema. Libraries contribute their own migrations by name
 * (`0000.event-store.001-…`); a service's own start at `0001-…`, so names sort in dependency order.
 * Concurrent migrators (two replicas starting) are serialised by kysely's lock table. A library's
 * migration added later (`0000.event-store.003-…`) sorts before the service's own migrations already
 * run: it is applied on upgrade all the same (unordered migrations allowed), never an error.
 */
export async function migrate<DB>(database: Database<DB>, migrations: Migrations): Promise<MigrationOutcome> {
  const schema = assertIdentifier(database.schema);
  await sql`create schema if not exists ${sql.id(schema)}`.execute(database.db).catch((error: unknown) => {
    // Two replicas starting on a fresh database: `if not exists` is not atomic in PostgreSQL, and the
    // slower one fails on pg_namespace's unique index (23505) or with duplicate_schema (42P06). The
    // schema is there then; the lock table below serialises the rest.
    const code = (error as { code?: string }).code;
    if (code !== '23505' && code !== '42P06') throw error;
  });
  const provider: MigrationProvider = { getMigrations: async () => migrations };
  const migrator = new Migrator({
    db: database.db as Kysely<unknown>,
    provider,
    migrationTableSchema: schema,
    migrationTableName: 'migrations',
    migrationLockTableName: 'migrations_lock',
    allowUnorderedMigrations: true,
  });
  let { error, results } = await migrator.migrateToLatest();
  // kysely's migrator lists the tables of every schema before it starts; a schema or table another
  // process drops during that listing (parallel tests do) fails it with invalid_schema_name or
  // undefined_table, naming the other schema, before anything ran. Nothing of ours is wrong: list again.
  for (let attempt = 1; attempt <= 5 && isForeignSchemaVanished(error, schema, results); attempt += 1) {
    await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
    ({ error, results } = await migrator.migrateToLatest());
  }
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new Error(`Migration ${failed ?? '(unknown)'} of schema ${schema} failed`, { cause: error });
  }
  return { applied: (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName) };
}

function isForeignSchemaVanished(
  error: unknown,
  schema: string,
  results: readonly { status: string }[] | undefined,
): boolean {
  if (!error || (results ?? []).some((r) => r.status !== 'NotExecuted')) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  return (
    (code === '3F000' || code === '42P01') &&
    typeof message === 'string' &&
    !message.includes(`"${schema}"`) &&
    !message.includes(`"${schema}.`)
  );
}

export type Executor<DB> = Kysely<DB> | Transaction<DB>;

/**
 * Runs `fn` in a transaction: the caller's when `executor` already is one (so repository functions
 * compose), a new one otherwise.
 */
export async function inTransaction<DB, T>(
  executor: Executor<DB>,
  fn: (trx: Transaction<DB>) => Promise<T>,
): Promise<T> {
  if (executor.isTransaction) return fn(executor as Transaction<DB>);
  return executor.transaction().execute(fn);
}

/** PostgreSQL error codes Veche reacts to. */
export const pgErrorCodes = {
  uniqueViolation: '23505',
  serializationFailure: '40001',
  deadlockDetected: '40P01',
  undefinedTable: '42P01',
} as const;

export function pgErrorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export { isDependencyDown } from './dependency-down.ts';
