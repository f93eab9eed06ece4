/**
 * The replication and backup part of stack.yml, resolved by the real docker client and checked by the
 * stack checker: the standby runs the primary's image, settings and volume name in the standby role on
 * the standby's node; the seed's PostgreSQL settings are variables the checker still budgets; the
 * backup and uploads sync run only where they can (a standby node, an SFTP account).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { parse } from 'yaml';
import { checkStackFile, dockerStackConfig, type Stack } from '../../deploy/stack-check.ts';
import { postgresSettingsOf } from '../../deploy/stack-rules.ts';
import { requireCommands, root } from '../../deploy/test/support/system.ts';

const stackFile = path.join(root, 'stack.yml');
const resolve = (env: NodeJS.ProcessEnv = {}) => {
  const result = dockerStackConfig(stackFile, env);
  if (!result.ok) throw new Error(result.error);
  return parse(result.yaml) as Stack;
};
const envOf = (service: Stack['services'][string] | undefined) =>
  (service?.environment ?? {}) as Record<string, string>;

describe('stack.yml: PostgreSQL standby, backups, uploads sync', () => {
  it('runs the standby with the primary’s image, settings and volume, in the standby role, on its node', () => {
    requireCommands('docker');
    const stack = resolve({ VECHE_STANDBY_NODE: 'node-b', VECHE_STANDBY_REPLICAS: '1' });
    const primary = stack.services['postgres']!;
    const standby = stack.services['postgres-standby']!;
    assert.equal(standby.image, primary.image);
    assert.deepEqual(standby.command, primary.command);
    const dataOf = (s: typeof primary) =>
      (s.volumes ?? []).find((v) => typeof v !== 'string' && v.target === '/var/lib/postgresql/data');
    assert.equal(
      (dataOf(standby) as { source: string }).source,
      (dataOf(primary) as { source: string }).source,
    );
    assert.equal(envOf(primary)['VECHE_PG_ROLE'], 'primary');
    assert.equal(envOf(standby)['VECHE_PG_ROLE'], 'standby');
    assert.equal(envOf(standby)['VECHE_PG_PRIMARY_HOST'], 'postgres');
    assert.equal(standby.deploy?.replicas, 1);
    assert.deepEqual(standby.deploy?.placement?.constraints, ['node.id == node-b']);
    assert.equal(stack.services['uploads-mirror']!.deploy?.replicas, 1);
    assert.deepEqual(stack.services['uploads-mirror']!.deploy?.placement?.constraints, ['node.id == node-b']);
    assert.deepEqual(
      checkStackFile(stackFile, { VECHE_STANDBY_NODE: 'node-b', VECHE_STANDBY_REPLICAS: '1' }),
      [],
    );
  });

  it('without a standby node or an SFTP account, runs no standby, sync or backup task', () => {
    // What scripts/deploy/env exports when no node is labelled veche.pg=standby.
    const noStandby = { VECHE_STANDBY_NODE: 'none', VECHE_STANDBY_REPLICAS: '0' };
    const stack = resolve(noStandby);
    for (const name of ['postgres-standby', 'uploads-sync', 'uploads-mirror', 'backup']) {
      assert.equal(stack.services[name]!.deploy?.replicas, 0, name);
    }
    assert.equal(envOf(stack.services['postgres'])['VECHE_BACKUP_SFTP_HOST'], '');
    const on = resolve({
      ...noStandby,
      VECHE_BACKUP_REPLICAS: '1',
      VECHE_BACKUP_SFTP_HOST: 'backup.example.org',
    });
    assert.equal(on.services['backup']!.deploy?.replicas, 1);
    assert.equal(envOf(on.services['backup'])['VECHE_BACKUP_SFTP_HOST'], 'backup.example.org');
    assert.equal(envOf(on.services['postgres'])['VECHE_BACKUP_SFTP_HOST'], 'backup.example.org');
  });

  it('takes the seed’s PostgreSQL settings from variables, and the checker still budgets them', () => {
    const seed = {
      VECHE_PG_MAX_CONNECTIONS: '1000',
      VECHE_PG_SHARED_BUFFERS: '512MB',
      VECHE_PG_EFFECTIVE_CACHE_SIZE: '1024MB',
      VECHE_PG_WORK_MEM: '40MB',
    };
    const settings = postgresSettingsOf(resolve(seed).services['postgres']!.command);
    assert.equal(settings['max_connections'], '1000');
    assert.equal(settings['work_mem'], '40MB');
    assert.equal(settings['effective_cache_size'], '1024MB');
    // 1,000 × 40 MB does not fit the default 2 GB limit: the checker says so, for both roles.
    const refused = checkStackFile(stackFile, seed).join('\n');
    assert.match(refused, /service postgres: shared_buffers \+ max_connections \(1000\)/);
    assert.match(refused, /service postgres-standby: shared_buffers \+ max_connections \(1000\)/);
    assert.deepEqual(checkStackFile(stackFile, { ...seed, VECHE_PG_MEMORY_LIMIT: '48G' }), []);
  });
});
