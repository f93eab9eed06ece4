import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { refusedVariables } from '@veche/config';
import { loadLogsConfig } from '../src/env.ts';

/** The one variable without a default. */
const base = { VECHE_SERVICE_SECRET: 'log-listener-config-test-secret' };

const problemsOf = (env: Record<string, string>): string[] =>
  refusedVariables(() => loadLogsConfig({ ...base, ...env }));

describe('configuration', () => {
  it('writes two batches at once by default, within the pool', () => {
    const config = loadLogsConfig(base);
    assert.equal(config.LOGS_WRITE_CONCURRENCY, 2);
    assert.equal(config.LOGS_BATCH_LINES, 5_000);
    assert.ok(config.LOGS_WRITE_CONCURRENCY <= config.LOGS_DB_POOL_SIZE - 2);
  });

  it('names the bad variable', () => {
    assert.deepEqual(problemsOf({ LOGS_WRITE_CONCURRENCY: '0' }), ['LOGS_WRITE_CONCURRENCY']);
    assert.deepEqual(problemsOf({ LOGS_WRITE_CONCURRENCY: 'many' }), ['LOGS_WRITE_CONCURRENCY']);
    // Batches in flight hold their connections until they commit: readers keep two at least.
    assert.deepEqual(problemsOf({ LOGS_DB_POOL_SIZE: '4', LOGS_WRITE_CONCURRENCY: '3' }), [
      'LOGS_WRITE_CONCURRENCY',
    ]);
    assert.deepEqual(problemsOf({ LOGS_DB_POOL_SIZE: '4', LOGS_WRITE_CONCURRENCY: '2' }), []);
    assert.deepEqual(problemsOf({ LOGS_PORT_MIN: '21000', LOGS_PORT_MAX: '20000' }), ['LOGS_PORT_MAX']);
    assert.deepEqual(problemsOf({ LOGS_TLS_CERT_FILE: '/nonexistent/cert.pem' }).sort(), [
      'LOGS_TLS_CERT_FILE',
      'LOGS_TLS_KEY_FILE',
    ]);
  });
});
