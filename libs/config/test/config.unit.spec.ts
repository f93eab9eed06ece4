import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, commonEnv, env, envSchema, loadConfig } from '../src/index.ts';

const schema = envSchema({
  ...commonEnv,
  VECHE_PORT: env.port({ default: 3000 }),
  API_SECRET: env.secret(),
  FEATURE_ON: env.bool({ default: false }),
  MAX_ITEMS: env.int({ minimum: 1, maximum: 10, default: 5 }),
});

describe('loadConfig', () => {
  it('converts numbers and booleans and fills defaults', () => {
    const config = loadConfig(schema, { VECHE_PORT: '8080', API_SECRET: 's3cret', FEATURE_ON: 'true' });
    assert.equal(config.VECHE_PORT, 8080);
    assert.equal(config.FEATURE_ON, true);
    assert.equal(config.MAX_ITEMS, 5);
    assert.equal(config.LOG_LEVEL, 'info');
    assert.equal(config.AMQP_URL, 'amqp://guest:guest@127.0.0.1:5672');
  });

  it('names every bad variable, and hides secret values', () => {
    assert.throws(
      () =>
        loadConfig(schema, {
          VECHE_PORT: 'eighty',
          MAX_ITEMS: '99',
          LOG_LEVEL: 'loud',
          DATABASE_URL: 'mysql://x@y/z',
        }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        const variables = error.problems.map((p) => p.variable).sort();
        assert.deepEqual(variables, ['API_SECRET', 'DATABASE_URL', 'LOG_LEVEL', 'MAX_ITEMS', 'VECHE_PORT']);
        assert.match(error.message, /VECHE_PORT: .*"eighty"/);
        assert.match(error.message, /API_SECRET: .*required/);
        assert.match(error.message, /DATABASE_URL: must use one of postgres, postgresql/);
        return true;
      },
    );
  });

  it('never prints the value of an invalid secret', () => {
    const secretSchema = envSchema({ TOKEN: env.secret({ minLength: 32 }) });
    assert.throws(
      () => loadConfig(secretSchema, { TOKEN: 'short-but-secret' }),
      (error: unknown) => error instanceof ConfigError && !error.message.includes('short-but-secret'),
    );
  });

  it('treats an empty variable as unset', () => {
    assert.equal(loadConfig(schema, { VECHE_PORT: '', API_SECRET: 'x' }).VECHE_PORT, 3000);
  });
});
