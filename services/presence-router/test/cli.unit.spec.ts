/** The `veche-presence` command line: what it accepts, and what it refuses with exit code 2. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCli, parseStatus, UsageError } from '../src/cli/args.ts';
import { main } from '../src/cli/main.ts';

const api = { VECHE_URL: 'https://veche.example.org/', VECHE_TOKEN: 't0ken' };
const service = { VECHE_SERVICE_SECRET: 'a-long-enough-secret', WAMP_URL: 'ws://router:8081/' };

describe('veche-presence arguments', () => {
  it('reads commands, with the connection from flags or the environment', () => {
    assert.deepEqual(parseCli(['set', '1001', 'busy'], api), {
      help: false,
      json: false,
      connection: { kind: 'api', url: 'https://veche.example.org', token: 't0ken' },
      command: { name: 'set', extension: '1001', status: 2 },
    });
    assert.deepEqual(parseCli(['--service', '--json', 'get', '*'], service), {
      help: false,
      json: true,
      connection: {
        kind: 'service',
        wampUrl: 'ws://router:8081/',
        realm: 'veche',
        secret: 'a-long-enough-secret',
      },
      command: { name: 'get', extensions: '*' },
    });
    const parsed = parseCli(['--url', 'http://127.0.0.1:3000', '--token', 'x', 'get', '1001', '1002'], {});
    assert.ok(!parsed.help && parsed.command.name === 'get');
    assert.deepEqual(parseCli(['watch', '1000*'], api), {
      help: false,
      json: false,
      connection: { kind: 'api', url: 'https://veche.example.org', token: 't0ken' },
      command: { name: 'watch', pattern: '1000*' },
    });
    const remote = parseCli(['watch', 'u-1@b.example.org'], api);
    assert.ok(!remote.help);
    assert.deepEqual(remote.command, { name: 'watch', pattern: 'u-1@b.example.org' });
    assert.deepEqual(parseCli(['--help'], {}), { help: true });
  });

  it('statuses by name, code or auto', () => {
    assert.equal(parseStatus('DO_NOT_DISTURB'), 5);
    assert.equal(parseStatus('do-not-disturb'), 5);
    assert.equal(parseStatus('7'), 7);
    assert.equal(parseStatus('auto'), null);
    for (const bad of ['0', '9', 'SUBSCRIBE', 'busyy', ''])
      assert.throws(() => parseStatus(bad), UsageError, bad);
  });

  it('refuses what it cannot do, naming why', () => {
    const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
      [['get', '1001'], {}, /--url and --token/],
      [['--service', 'get', '1001'], {}, /VECHE_SERVICE_SECRET/],
      [['--url', 'ftp://x', '--token', 't', 'get', '1001'], {}, /http\(s\) origin/],
      [['set', '1001'], api, /a number and a status/],
      [['set', 'abc', 'busy'], api, /not an extension number/],
      [['get'], api, /numbers, or '\*'/],
      [['get', '1001', '1'], api, /not an extension number/],
      [['find', '10%'], api, /pattern/],
      [['watch'], api, /pattern/],
      [['watch', 'u-1@B.example'], api, /pattern/],
      [['--service', 'watch', 'u-1@b.example.org'], { VECHE_SERVICE_SECRET: 's' }, /a user’s --token/],
      [['dance'], api, /unknown command/],
      [[], api, /no command/],
      [['--bogus'], api, /bogus/],
    ];
    for (const [argv, env, message] of cases) {
      assert.throws(
        () => parseCli(argv, env),
        (error: unknown) => error instanceof UsageError && message.test(error.message),
        argv.join(' '),
      );
    }
  });

  it('exits 2 with the usage on bad usage, 0 with it on --help', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const signal = new AbortController().signal;
    assert.equal(
      await main(
        ['get'],
        api,
        (l) => out.push(l),
        (l) => err.push(l),
        signal,
      ),
      2,
    );
    assert.match(err.join('\n'), /Usage:/);
    assert.equal(
      await main(
        ['--help'],
        {},
        (l) => out.push(l),
        (l) => err.push(l),
        signal,
      ),
      0,
    );
    assert.match(out.join('\n'), /watch <pattern>/);
  });
});
