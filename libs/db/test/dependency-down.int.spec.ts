/**
 * isDependencyDown against real failures of a real PostgreSQL: a server that refuses connections, a
 * session the server ends (as a restart or failover does), and ordinary SQL errors that are not.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { unavailable } from '@veche/errors';
import { createDatabase, isDependencyDown, sql, type Database } from '../src/index.ts';

const url = process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/veche_test';

const failureOf = async (work: () => Promise<unknown>): Promise<unknown> => {
  try {
    await work();
  } catch (error) {
    return error;
  }
  throw new Error('expected a failure');
};

/** A port nothing listens on: bound, then released. */
const closedPort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });

describe('isDependencyDown', () => {
  let database: Database;
  let admin: Database;

  before(() => {
    database = createDatabase({
      url,
      schema: 'public',
      poolSize: 1,
      applicationName: 'dependency-down-test',
    });
    admin = createDatabase({ url, schema: 'public', poolSize: 1 });
  });
  after(async () => {
    await database.close();
    await admin.close();
  });

  it('is true when PostgreSQL refuses connections', async () => {
    const target = new URL(url);
    target.port = String(await closedPort());
    const down = createDatabase({ url: target.toString(), schema: 'public', connectionTimeoutMs: 2_000 });
    try {
      const error = await failureOf(() => sql`select 1`.execute(down.db));
      assert.equal(isDependencyDown(error), true, String(error));
    } finally {
      await down.close();
    }
  });

  it('is true when the server ends the session (restart, failover)', async () => {
    const client = await database.pool.connect();
    try {
      const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
      await sql`select pg_terminate_backend(${rows[0]!.pid})`.execute(admin.db);
      const error = await failureOf(() => client.query('select 1'));
      assert.equal(isDependencyDown(error), true, String(error));
    } finally {
      client.release(true);
    }
  });

  it('is false for SQL errors, bugs and errors that are already typed', async () => {
    const syntax = await failureOf(() => sql`selec 1`.execute(database.db));
    assert.equal(isDependencyDown(syntax), false);
    const missing = await failureOf(() => sql`select * from no_such_table_here`.execute(database.db));
    assert.equal(isDependencyDown(missing), false);
    assert.equal(isDependencyDown(new TypeError('x is undefined')), false);
    assert.equal(isDependencyDown(undefined), false);
    assert.equal(isDependencyDown(unavailable('already typed', { cause: syntax })), false);
  });
});
