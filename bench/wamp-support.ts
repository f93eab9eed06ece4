/**
 * What the WAMP benches share: the local router (libs/wamp-router) in a child process, as the fleet
 * runs it; services connected to it with the client services use (libs/wamp); an echo procedure and
 * a pipelined caller for RPC throughput.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Logger } from '../libs/log/src/index.ts';
import { connectService, type WampService } from '../libs/wamp/src/index.ts';

type Schema = Parameters<WampService['register']>[1];
// TypeBox is a dependency of libs/wamp, not of the workspace root: load it from there.
export const { Type } = createRequire(new URL('../libs/wamp/package.json', import.meta.url))(
  '@sinclair/typebox',
) as { Type: { Object(properties: Record<string, Schema>): Schema; Integer(): Schema } };

export interface BenchRouter {
  url: string;
  /** A service session `service:<name>`. */
  connect: (name: string) => Promise<WampService>;
  stop: () => void;
}

export async function startBenchRouter(log: Logger): Promise<BenchRouter> {
  const secret = randomBytes(24).toString('base64url');
  const router = spawn(
    process.execPath,
    [new URL('../libs/wamp-router/bin/wamp-router.ts', import.meta.url).pathname],
    {
      env: { ...process.env, VECHE_SERVICE_SECRET: secret, WAMP_ROUTER_PORT: '0', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let buffer = '';
    router.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      const match = /"url":"(ws:\/\/[^"]+)"/.exec(buffer);
      if (match?.[1]) resolve(match[1]);
    });
    router.once('exit', (code) => reject(new Error(`router exited with ${code}`)));
  });
  return {
    url,
    connect: (name) => connectService({ url, authid: `service:${name}`, secret, log }),
    stop: () => router.kill('SIGTERM'),
  };
}

/** `veche.bench.echo`: answers its kwargs `{n}`, validated by a TypeBox schema on the callee. */
export const registerEcho = (callee: WampService) =>
  callee.register('veche.bench.echo', Type.Object({ n: Type.Integer() }), (args) => args);

/** `calls` calls of `veche.bench.echo`, `window` in flight; the seconds they took. */
export async function echoCalls(caller: WampService, calls: number, window: number): Promise<number> {
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < calls) {
      const n = next++;
      const result = await caller.call<{ n: number }>('veche.bench.echo', { n });
      if (result.n !== n) throw new Error('wrong result');
    }
  };
  await Promise.all(Array.from({ length: window }, worker));
  return (performance.now() - started) / 1000;
}
