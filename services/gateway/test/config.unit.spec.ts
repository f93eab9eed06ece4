import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConfigError } from '@veche/config';
import { loadGatewayConfig } from '../src/env.ts';

const base = { VECHE_SERVICE_SECRET: 'a service secret of some length' };

describe('gateway configuration', () => {
  it('names the bad variable and refuses to start without the secrets production needs', () => {
    assert.throws(
      () => loadGatewayConfig({}),
      (e: ConfigError) => e.problems.some((p) => p.variable === 'VECHE_SERVICE_SECRET'),
    );
    assert.throws(
      () => loadGatewayConfig({ ...base, PORT: 'eighty' }),
      (e: ConfigError) => e.problems[0]?.variable === 'PORT',
    );
    assert.throws(
      () => loadGatewayConfig({ ...base, NODE_ENV: 'production' }),
      (e: ConfigError) => e.problems[0]?.variable === 'GATEWAY_TOKEN_SECRET',
    );
    assert.throws(
      () => loadGatewayConfig({ ...base, TRUST_PROXY: 'a b c; rm' }),
      (e: ConfigError) => e.problems[0]?.variable === 'TRUST_PROXY',
    );
    assert.throws(
      () => loadGatewayConfig({ ...base, GATEWAY_TOKEN_SECRET: 'short' }),
      (e: ConfigError) => e.problems[0]?.variable === 'GATEWAY_TOKEN_SECRET',
    );
  });

  it('keeps production’s per-address limits strict and relaxes them only for the local fleet', () => {
    const production = loadGatewayConfig({
      ...base,
      NODE_ENV: 'production',
      GATEWAY_TOKEN_SECRET: 'x'.repeat(32),
    });
    assert.equal(production.REGISTER_LIMIT_PER_IP, 10);
    assert.equal(production.LOGIN_LIMIT_PER_IP, 30);
    const development = loadGatewayConfig(base);
    assert.equal(development.REGISTER_LIMIT_PER_IP, 1000);
    assert.equal(development.LOGIN_FAILURES_PER_ACCOUNT, 5);
    assert.equal(loadGatewayConfig({ ...base, REGISTER_LIMIT_PER_IP: '3' }).REGISTER_LIMIT_PER_IP, 3);
  });
});
