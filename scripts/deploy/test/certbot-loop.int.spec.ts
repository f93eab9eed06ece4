/**
 * The certbot service's loop (nginx/bin/veche-certbot) against Let's Encrypt's failed-validation limit
 * (5 an hour per account and host name): failures back off, a success resets the backoff, and no
 * attempt is made while the challenge path does not serve the webroot. certbot and sleep are stand-ins
 * that record their calls (sleep ends the loop after a set number of calls); the challenge path is a
 * real HTTP server reading the webroot, as nginx would.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { nginxBin, requireCommands, tempDir, withSbin, writeFile } from './support/system.ts';

const hour = 3600;
const letsEncryptFailuresPerHour = 5;

// certbot: fails while $STATE/certbot-fails holds a positive count (decremented per call), else succeeds.
const fakeCertbot = `#!/bin/sh
echo "certbot $*" >>"$STATE/calls"
n=$(cat "$STATE/certbot-fails" 2>/dev/null || echo 0)
if [ "$n" -gt 0 ]; then echo $((n - 1)) >"$STATE/certbot-fails"; exit 1; fi
exit 0
`;
// sleep: records its argument; on call number $SERVE_AFTER the challenge server starts serving; after
// $SLEEP_LIMIT calls it fails, which ends the loop (set -e).
const fakeSleep = `#!/bin/sh
echo "sleep $1" >>"$STATE/calls"
n=$(($(grep -c '^sleep' "$STATE/calls")))
if [ "$n" = "\${SERVE_AFTER:-0}" ]; then touch "$SERVE_FLAG"; fi
if [ "$n" -ge "$SLEEP_LIMIT" ]; then exit 1; fi
`;

interface Run {
  calls: string[];
  sleeps: number[];
}

describe('veche-certbot loop', () => {
  const dir = tempDir('certbot-loop');
  const bin = path.join(dir, 'bin');
  const webroot = path.join(dir, 'acme');
  const serveFlag = path.join(dir, 'serving');
  let server: http.Server;
  let port = 0;

  before(async () => {
    requireCommands('wget');
    for (const [name, text] of [
      ['certbot', fakeCertbot],
      ['sleep', fakeSleep],
    ] as const) {
      writeFile(path.join(bin, name), text);
      chmodSync(path.join(bin, name), 0o755);
    }
    // The outside view of http://<domain>/.well-known/acme-challenge/: the webroot, once "nginx is up".
    server = http.createServer((request, response) => {
      const file = path.join(webroot, decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname));
      if (!existsSync(serveFlag) || !existsSync(file)) {
        response.writeHead(404).end();
        return;
      }
      response.writeHead(200, { 'content-type': 'text/plain' }).end(readFileSync(file));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  /** Runs the loop until the stand-in sleep has been called `sleepLimit` times. */
  function runLoop(options: {
    certbotFails: number;
    sleepLimit: number;
    env?: NodeJS.ProcessEnv;
  }): Promise<Run> {
    const state = tempDir('certbot-loop-state');
    writeFile(path.join(state, 'certbot-fails'), String(options.certbotFails));
    writeFile(path.join(state, 'calls'), '');
    return new Promise((resolve, reject) => {
      const child = spawn('sh', [path.join(nginxBin, 'veche-certbot')], {
        env: withSbin({
          ...process.env,
          PATH: `${bin}:${process.env['PATH'] ?? ''}`,
          STATE: state,
          SERVE_FLAG: serveFlag,
          SLEEP_LIMIT: String(options.sleepLimit),
          VECHE_DOMAIN: 'veche.test',
          VECHE_ACME_EMAIL: 'ops@veche.test',
          VECHE_ACME_ROOT: webroot,
          VECHE_LETSENCRYPT_DIR: path.join(state, 'letsencrypt'),
          VECHE_ACME_PRECHECK_URL: `http://127.0.0.1:${port}`,
          ...options.env,
        }),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      child.on('error', reject);
      child.on('exit', (code) => {
        const calls = readFileSync(path.join(state, 'calls'), 'utf8').trim().split('\n').filter(Boolean);
        if (code === 0) reject(new Error(`the loop ended by itself: ${output}`));
        resolve({
          calls,
          sleeps: calls.filter((c) => c.startsWith('sleep ')).map((c) => Number(c.slice(6))),
        });
      });
    });
  }

  it('backs off after each failure: at most 3 failed validations in any hour, then twice a day', async () => {
    const run = await runLoop({ certbotFails: 100, sleepLimit: 8, env: { VECHE_ACME_PRECHECK: '0' } });
    assert.deepEqual(run.sleeps, [900, 1800, 3600, 7200, 14400, 28800, 43200, 43200]);
    // Attempt times (s): each attempt follows the previous sleep.
    const attempts = run.sleeps.reduce<number[]>((times, s, i) => [...times, (times[i] ?? 0) + s], [0]);
    attempts.pop();
    const worstHour = Math.max(...attempts.map((t) => attempts.filter((u) => u >= t && u < t + hour).length));
    assert.ok(worstHour <= 3, `${worstHour} attempts in one hour`);
    assert.ok(worstHour < letsEncryptFailuresPerHour);
    assert.equal(run.calls.filter((c) => c.startsWith('certbot certonly')).length, 8);
  });

  it('goes back to the renewal interval after a success, and backs off afresh after the next failure', async () => {
    const run = await runLoop({ certbotFails: 2, sleepLimit: 4, env: { VECHE_ACME_PRECHECK: '0' } });
    assert.deepEqual(run.sleeps, [900, 1800, 43200, 43200]);
  });

  it('asks the CA nothing while the challenge path does not serve the webroot', async () => {
    const run = await runLoop({
      certbotFails: 0,
      sleepLimit: 3,
      env: { SERVE_AFTER: '2', VECHE_ACME_PRECHECK_PAUSE: '30' },
    });
    // Two checks fail (30 s pauses, no certbot call), the third passes, certbot obtains, then 12 h.
    assert.deepEqual(
      run.calls.map((c) => c.split(' ').slice(0, 2).join(' ')),
      ['sleep 30', 'sleep 30', 'certbot certonly', 'sleep 43200'],
    );
    // Each probe file is removed after its check.
    assert.deepEqual(readdirSync(path.join(webroot, '.well-known/acme-challenge')), []);
  });

  it('runs the deploy hook once as it starts (--seed), then hands it to certbot for each certificate', async () => {
    const hook = path.join(bin, 'deploy-hook');
    writeFile(hook, '#!/bin/sh\necho "hook $* $VECHE_DOMAIN" >>"$STATE/calls"\n');
    chmodSync(hook, 0o755);
    const run = await runLoop({
      certbotFails: 0,
      sleepLimit: 1,
      env: { VECHE_ACME_PRECHECK: '0', VECHE_DEPLOY_HOOK: hook },
    });
    assert.equal(run.calls[0], 'hook --seed veche.test');
    assert.match(run.calls[1] ?? '', /^certbot certonly .*--deploy-hook \S*deploy-hook\b/);
  });
});
