/**
 * The exporters' read-only PostgreSQL role (replica/bin/veche-pg-monitor-role, run by the postgres
 * service's health check and its initdb): created on a real PostgreSQL as a login in pg_monitor and
 * nothing more (statistics yes; table data, writes, roles no), its password applied again only when
 * the secret changes. On the shared test server, under a role name of its own, dropped afterwards.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { testDatabaseUrl, uniqueName } from '@veche/testing';
import { requireCommands, root, run, tempDir } from './support/system.ts';

const script = path.join(root, 'replica/bin/veche-pg-monitor-role');
const server = new URL(testDatabaseUrl());
const role = uniqueName('ops_monitor')
  .toLowerCase()
  .replace(/[^a-z0-9_]/g, '_');
const schema = `${role}_data`;

/** psql on the test server as `user` (the superuser by default); -A -t: bare values. */
const psql = (sql: string, user = decodeURIComponent(server.username) || 'postgres') =>
  run('psql', ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
    PGHOST: server.hostname,
    PGPORT: server.port || '5432',
    PGUSER: user,
    PGDATABASE: server.pathname.slice(1),
  });

describe('veche-pg-monitor-role', () => {
  const state = tempDir('pg-monitor');
  const passwordFile = path.join(state, 'password');
  const ensure = (env: Record<string, string> = {}) =>
    run(script, [], {
      PGHOST: server.hostname,
      PGPORT: server.port || '5432',
      POSTGRES_USER: decodeURIComponent(server.username) || 'postgres',
      POSTGRES_DB: server.pathname.slice(1),
      VECHE_PG_MONITOR_USER: role,
      VECHE_PG_MONITOR_PASSWORD_FILE: passwordFile,
      VECHE_PG_MONITOR_STATE: state,
      ...env,
    });
  const password = () => psql(`select rolpassword from pg_authid where rolname = '${role}'`).stdout.trim();

  before(() => {
    requireCommands('psql');
    const made = psql(
      `create schema ${schema}; create table ${schema}.secrets (v text); insert into ${schema}.secrets values ('x')`,
    );
    assert.equal(made.status, 0, made.stderr);
  });
  after(() => {
    psql(`drop schema if exists ${schema} cascade`);
    psql(`drop role if exists ${role}`);
  });

  it('does nothing without its password file', () => {
    const result = ensure({ VECHE_PG_MONITOR_PASSWORD_FILE: path.join(state, 'absent') });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(psql(`select count(*) from pg_roles where rolname = '${role}'`).stdout.trim(), '0');
  });

  it('creates a login in pg_monitor and nothing more', () => {
    writeFileSync(passwordFile, 'first-password\n');
    const result = ensure();
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`role ${role} is ready`));
    const [login, superuser, createrole, createdb, replication, monitor] = psql(
      `select rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolreplication, pg_has_role(oid, 'pg_monitor', 'member')
         from pg_roles where rolname = '${role}'`,
    )
      .stdout.trim()
      .split('|');
    assert.deepEqual(
      [login, superuser, createrole, createdb, replication, monitor],
      ['t', 'f', 'f', 'f', 'f', 't'],
    );
    assert.match(password(), /^SCRAM-SHA-256\$/);
    // What the exporter reads, it may; the data and any change, it may not.
    const stats = psql(
      'select count(*) > 0 from pg_stat_activity; select count(*) >= 0 from pg_stat_replication',
      role,
    );
    assert.equal(stats.status, 0, stats.stderr);
    for (const sql of [
      `select * from ${schema}.secrets`,
      `create table ${schema}.mine (v int)`,
      `create role ${role}_other`,
    ]) {
      const refused = psql(sql, role);
      assert.notEqual(refused.status, 0, sql);
      assert.match(refused.stderr, /permission denied/, sql);
    }
  });

  it('applies a changed password, and only then', () => {
    const before = password();
    assert.equal(ensure().status, 0);
    assert.equal(password(), before, 'unchanged secret: the role is left alone');
    writeFileSync(passwordFile, 'second-password\n');
    assert.equal(ensure().status, 0);
    assert.notEqual(password(), before, 'the rotated password is set');
    // A role lost (a restored database) is made again even though the marker matches.
    psql(`drop role ${role}`);
    assert.equal(ensure().status, 0);
    assert.equal(psql(`select count(*) from pg_roles where rolname = '${role}'`).stdout.trim(), '1');
  });
});
