/**
 * The test command on a machine where PostgreSQL and RabbitMQ are not reachable and no Docker engine
 * runs: it stops within seconds with a message saying what is missing and how to provide it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { freePort } from '../../fleet/processes.ts';
import { ensureServers } from '../preflight.ts';

const root = path.resolve(import.meta.dirname, '../../..');

describe('preflight', () => {
  it('finds the configured servers when they answer', async () => {
    const servers = await ensureServers({
      databaseUrl: process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/veche_test',
      amqpUrl: process.env['AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672',
      log: () => {},
      allowContainers: false,
    });
    assert.match(servers.databaseUrl, /^postgres/);
    await servers.stop();
  });

  it('stops the test command within seconds, naming what is missing and how to provide it', async () => {
    const [pgPort, mqPort] = [await freePort(), await freePort()];
    const started = Date.now();
    const result = spawnSync(process.execPath, [path.join(root, 'scripts/test-all.ts'), '--skip-static'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 30_000,
      env: {
        ...process.env,
        TEST_DATABASE_URL: `postgres://postgres@127.0.0.1:${pgPort}/veche_test`,
        AMQP_URL: `amqp://guest:secret-pass@127.0.0.1:${mqPort}`,
        VECHE_NO_CONTAINERS: '1',
      },
    });
    const elapsed = Date.now() - started;
    assert.equal(result.status, 3, result.stdout + result.stderr);
    assert.ok(elapsed < 15_000, `took ${elapsed} ms`);
    assert.match(result.stderr, new RegExp(`PostgreSQL at postgres://postgres@127.0.0.1:${pgPort}`));
    assert.match(result.stderr, /RabbitMQ at amqp:\/\/guest:\*\*\*@/);
    assert.match(result.stderr, /apt-get install postgresql rabbitmq-server/);
    assert.match(result.stderr, /TEST_DATABASE_URL/);
    assert.doesNotMatch(result.stderr + result.stdout, /secret-pass/);
    assert.doesNotMatch(result.stderr, /\n\s+at .*\(/, 'no stack trace');
  });
});
