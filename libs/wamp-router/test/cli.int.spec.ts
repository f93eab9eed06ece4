import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { connectClient } from './support/clients.ts';

const bin = fileURLToPath(new URL('../bin/wamp-router.ts', import.meta.url));
const secret = 'cli-test-secret-0123456789';

// Three processes start here: a loaded machine takes seconds for each.
describe('wamp-router CLI', () => {
  it('listens, serves a service session, and stops cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, [bin], {
      env: { ...process.env, VECHE_SERVICE_SECRET: secret, WAMP_ROUTER_PORT: '0', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let buffer = '';
        child.stdout.on('data', (chunk: Buffer) => {
          buffer += chunk.toString('utf8');
          const match = /"url":"(ws:\/\/[^"]+)"/.exec(buffer);
          if (match?.[1]) resolve(match[1]);
        });
        child.once('exit', (code) => reject(new Error(`exited early with ${code}`)));
      });
      const client = await connectClient(url, 'service:chat', secret);
      assert.equal(client.details['authrole'], 'service');
      client.close();
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      assert.equal(code, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('refuses to start without a service secret, naming the variable', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, WAMP_ROUTER_PORT: '0' };
    delete env['VECHE_SERVICE_SECRET'];
    const child = spawn(process.execPath, [bin], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 2);
    assert.match(stderr, /VECHE_SERVICE_SECRET/);
  });

  it('prints its usage with --help', async () => {
    const child = spawn(process.execPath, [bin, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0);
    assert.match(stdout, /WAMP_ROUTER_PORT/);
  });
});
