import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  createDatabase,
  ensureDatabaseExists,
  inTransaction,
  migrate,
  sql,
  type Database,
  type Migrations,
} from '../src/index.ts';

// @veche/testing builds on this library, so this test makes its schema by hand.
const url = process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/veche_test';

interface Tables {
  notes: { id: number; body: string };
}

const migrations: Migrations = {
  '0001-notes': {
    up: async (db) => {
      await db.schema
        .createTable('notes')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('body', 'text', (c) => c.notNull())
        .execute();
    },
  },
};

describe('db', () => {
  let database: Database<Tables>;
  before(async () => {
    await ensureDatabaseExists(url);
    database = createDatabase<Tables>({ url, schema: `db_${randomBytes(5).toString('hex')}`, poolSize: 3 });
  });
  after(async () => {
    await sql`drop schema if exists ${sql.id(database.schema)} cascade`.execute(database.db);
    await database.close();
  });

  it('runs migrations once, in the service schema', async () => {
    assert.deepEqual((await migrate(database, migrations)).applied, ['0001-notes']);
    assert.deepEqual((await migrate(database, migrations)).applied, []);
    const { rows } = await sql<{ table_schema: string }>`
      select table_schema from information_schema.tables where table_name = 'notes'
        and table_schema = ${database.schema}`.execute(database.db);
    assert.equal(rows.length, 1);
  });

  it('migrates a fresh schema from several replicas at once: each succeeds, the migration runs once', async () => {
    // Found by the chaos run (two replicas of every service on a fresh database): the slower
    // `create schema if not exists` failed on pg_namespace's unique index and the replica exited.
    const schema = `db_${randomBytes(5).toString('hex')}`;
    const replicas = Array.from({ length: 6 }, () => createDatabase<Tables>({ url, schema, poolSize: 2 }));
    try {
      const outcomes = await Promise.all(replicas.map((replica) => migrate(replica, migrations)));
      assert.deepEqual(
        outcomes.flatMap((outcome) => outcome.applied),
        ['0001-notes'],
      );
    } finally {
      await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(replicas[0]!.db);
      await Promise.all(replicas.map((replica) => replica.close()));
    }
  });

  it('lets repository functions join the caller transaction', async () => {
    const insert = (executor: typeof database.db, id: number) =>
      inTransaction(executor, (trx) =>
        trx
          .insertInto('notes')
          .values({ id, body: `n${id}` })
          .execute(),
      );
    await assert.rejects(
      database.db.transaction().execute(async (trx) => {
        await insert(trx, 1);
        await insert(trx, 2);
        throw new Error('roll back both');
      }),
    );
    assert.equal((await database.db.selectFrom('notes').selectAll().execute()).length, 0);
    await insert(database.db, 3);
    assert.equal((await database.db.selectFrom('notes').selectAll().execute()).length, 1);
  });

  it('ends sessions left idle in a transaction, so they cannot hold back event readers', async () => {
    const short = createDatabase({
      url,
      schema: database.schema,
      poolSize: 1,
      idleInTransactionTimeoutMs: 200,
    });
    try {
      const { rows } = await sql<{
        v: string;
      }>`select current_setting('idle_in_transaction_session_timeout') as v`.execute(short.db);
      assert.equal(rows[0]?.v, '200ms');
      const client = await short.pool.connect();
      client.on('error', () => {}); // the server ends the session; the test observes that below
      try {
        await client.query('begin');
        await client.query('select 1');
        await new Promise((resolve) => setTimeout(resolve, 600));
        await assert.rejects(client.query('select 1'));
      } finally {
        client.release(true);
      }
    } finally {
      await short.close();
    }
    const { rows } = await sql<{
      v: string;
    }>`select current_setting('idle_in_transaction_session_timeout') as v`.execute(database.db);
    assert.equal(rows[0]?.v, '1min');
  });

  it('applies further session settings, and refuses a name or value that could smuggle in another', async () => {
    const tuned = createDatabase({
      url,
      schema: database.schema,
      poolSize: 1,
      sessionSettings: { deadlock_timeout: '2500ms', 'application.note': 'a-b' },
    });
    try {
      const { rows } = await sql<{ v: string; note: string }>`
        select current_setting('deadlock_timeout') as v, current_setting('application.note') as note`.execute(
        tuned.db,
      );
      assert.deepEqual(rows[0], { v: '2500ms', note: 'a-b' });
    } finally {
      await tuned.close();
    }
    for (const sessionSettings of [{ 'work_mem -c x': '1' }, { work_mem: '4MB -c statement_timeout=1' }])
      assert.throws(
        () => createDatabase({ url, schema: database.schema, sessionSettings }),
        /Invalid session setting/,
      );
  });

  it('parses bigint counts as numbers', async () => {
    const { rows } = await sql<{ n: number }>`select count(*) as n from notes`.execute(database.db);
    assert.equal(typeof rows[0]?.n, 'number');
  });
});
