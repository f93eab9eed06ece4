import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Type } from '@sinclair/typebox';
import {
  ConfigError,
  commonEnv,
  env,
  envHelp,
  envSchema,
  loadConfig,
  refusedVariables,
  wampEnv,
} from '../src/index.ts';

const schema = envSchema({
  ...commonEnv,
  VECHE_PORT: env.port({ default: 3000, description: 'the port' }),
  API_SECRET: env.secret({ description: 'the key' }),
  FEATURE_ON: env.bool({ default: false, description: 'the feature' }),
  MAX_ITEMS: env.int({ minimum: 1, maximum: 10, default: 5, description: 'the most items' }),
});

describe('envSchema and --help', () => {
  it('refuses a variable without a description, so --help can never leave one out', () => {
    assert.throws(
      // A schema made without the builders (which require a description) is refused at start.
      () => envSchema({ PORT: Type.Integer() as unknown as ReturnType<typeof env.port> }),
      /without a description: PORT/,
    );
    assert.throws(() => envSchema({ NAME: env.string({ description: ' ' }) }), /NAME/);
  });

  it('lists every variable with its description, default and whether it is required', () => {
    const text = envHelp(envSchema({ ...wampEnv, ...commonEnv }), 'A service.', 'node server.ts');
    assert.match(text, /^A service\.\n\nUsage: node server\.ts\n/);
    for (const name of [...Object.keys(wampEnv), ...Object.keys(commonEnv)]) {
      assert.match(text, new RegExp(`^  ${name} +\\S`, 'm'), `${name} is listed with its description`);
    }
    assert.match(text, /WAMP_REALM +the WAMP realm \(default "veche"\)/);
    assert.match(text, /VECHE_SERVICE_SECRET +.+\(required\)/);
  });
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
    const secretSchema = envSchema({ TOKEN: env.secret({ minLength: 32, description: 'a token' }) });
    assert.throws(
      () => loadConfig(secretSchema, { TOKEN: 'short-but-secret' }),
      (error: unknown) => error instanceof ConfigError && !error.message.includes('short-but-secret'),
    );
  });

  it('refusedVariables names what a loader refuses, nothing when it loads, and passes other errors on', () => {
    const valid = { API_SECRET: 'a-long-enough-secret-value', DATABASE_URL: 'postgres://x@y/z' };
    assert.deepEqual(
      refusedVariables(() => loadConfig(schema, valid)),
      [],
    );
    assert.deepEqual(
      refusedVariables(() => loadConfig(schema, { ...valid, MAX_ITEMS: '99' })),
      ['MAX_ITEMS'],
    );
    assert.throws(
      () =>
        refusedVariables(() => {
          throw new TypeError('not a configuration problem');
        }),
      TypeError,
    );
  });

  it('treats an empty variable as unset', () => {
    assert.equal(loadConfig(schema, { VECHE_PORT: '', API_SECRET: 'x' }).VECHE_PORT, 3000);
  });

  describe('<NAME>_FILE (Docker secrets)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'veche-config-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const secretFile = path.join(dir, 'api_secret');
    writeFileSync(secretFile, 'from-a-file\n');
    const urlFile = path.join(dir, 'database_url');
    writeFileSync(urlFile, 'postgres://veche:pw@db:5432/veche');

    it('reads the value from the file, without its trailing line break', () => {
      const config = loadConfig(schema, { API_SECRET_FILE: secretFile, DATABASE_URL_FILE: urlFile });
      assert.equal(config.API_SECRET, 'from-a-file');
      assert.equal(config.DATABASE_URL, 'postgres://veche:pw@db:5432/veche');
    });

    it('names the _FILE variable when the file cannot be read', () => {
      assert.throws(
        () => loadConfig(schema, { API_SECRET_FILE: path.join(dir, 'missing') }),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError);
          assert.deepEqual(
            error.problems.map((p) => p.variable),
            ['API_SECRET_FILE'],
          );
          assert.match(error.message, /API_SECRET_FILE: cannot read .*ENOENT/);
          return true;
        },
      );
    });

    it('refuses a variable given both directly and as a file', () => {
      assert.throws(
        () => loadConfig(schema, { API_SECRET: 'direct', API_SECRET_FILE: secretFile }),
        /API_SECRET_FILE: must not be set together with API_SECRET/,
      );
    });

    it('validates a value read from a file like any other, hiding secrets', () => {
      writeFileSync(path.join(dir, 'bad_url'), 'mysql://x@y/z');
      assert.throws(
        () => loadConfig(schema, { API_SECRET: 'x', DATABASE_URL_FILE: path.join(dir, 'bad_url') }),
        /DATABASE_URL: must use one of postgres, postgresql/,
      );
    });
  });
});
