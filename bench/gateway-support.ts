/**
 * What the gateway benches share: the local WAMP router and the gateway each in their own process (as
 * the fleet runs them), a fresh schema, and a keep-alive HTTP client that runs requests with a fixed
 * number in flight and reports throughput and latency percentiles.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { createDatabase, ensureDatabaseExists, sql } from '../libs/db/src/index.ts';

export const secret = randomBytes(24).toString('base64url');
export const databaseUrl =
  process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/veche_test';

function waitForLine(child: ChildProcess, pattern: RegExp, what: string): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start within 60 s`)), 60_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      const match = pattern.exec(buffer);
      if (match) {
        clearTimeout(timer);
        resolve(match);
      }
    });
    child.once('exit', (code) => reject(new Error(`${what} exited with ${code}`)));
  });
}

export interface Fleet {
  routerUrl: string;
  baseUrl: string;
  stop(): Promise<void>;
}

/** Router and gateway as child processes; the gateway's env is merged with `gatewayEnv`. */
export async function startFleet(gatewayEnv: Record<string, string>): Promise<Fleet> {
  const schema = `bench_gateway_${randomBytes(4).toString('hex')}`;
  await ensureDatabaseExists(databaseUrl);
  const router = spawn(
    process.execPath,
    [new URL('../libs/wamp-router/bin/wamp-router.ts', import.meta.url).pathname],
    {
      env: { ...process.env, VECHE_SERVICE_SECRET: secret, WAMP_ROUTER_PORT: '0', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const routerUrl = (await waitForLine(router, /"url":"(ws:\/\/[^"]+)"/, 'the router'))[1] ?? '';
  const gateway = spawn(
    process.execPath,
    [new URL('../services/gateway/src/server.ts', import.meta.url).pathname],
    {
      env: {
        ...process.env,
        NODE_ENV: 'test',
        LOG_LEVEL: 'info',
        DATABASE_URL: databaseUrl,
        GATEWAY_DB_SCHEMA: schema,
        WAMP_URL: routerUrl,
        VECHE_SERVICE_SECRET: secret,
        PORT: '0',
        REQUIRE_VERIFIED_EMAIL: 'false',
        REGISTER_LIMIT_PER_IP: '1000000',
        LOGIN_LIMIT_PER_IP: '1000000',
        GATEWAY_EXCHANGE: `bench.${schema}`,
        ...gatewayEnv,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  // Whatever happens to this process, the children go with it.
  const killChildren = () => {
    for (const child of [gateway, router]) if (child.exitCode === null) child.kill('SIGKILL');
  };
  process.once('exit', killChildren);
  const port = await waitForLine(gateway, /"port":(\d+)[^\n]*"gateway started"/, 'the gateway').then(
    (match) => match[1],
    (error: unknown) => {
      killChildren();
      throw error;
    },
  );
  // Keep the pipes drained: a full stdout pipe would stall the children.
  router.stdout.resume();
  gateway.stdout.resume();
  return {
    routerUrl,
    baseUrl: `http://127.0.0.1:${port}`,
    async stop() {
      for (const child of [gateway, router]) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      }
      const database = createDatabase({ url: databaseUrl, schema: 'public' });
      await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(database.db);
      await database.close();
    },
  };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });

export function request(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${baseUrl}${path}`,
      {
        method,
        agent,
        headers: {
          ...headers,
          ...(payload
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
            : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

export interface LoadResult {
  count: number;
  seconds: number;
  perSecond: number;
  p50: number;
  p99: number;
  failures: number;
}

/** Runs `total` calls of `one(i)` with `concurrency` in flight; latencies in ms. */
export async function load(
  total: number,
  concurrency: number,
  one: (i: number) => Promise<boolean>,
): Promise<LoadResult> {
  const latencies: number[] = [];
  let next = 0;
  let failures = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < total; i = next++) {
        const t = performance.now();
        if (!(await one(i))) failures += 1;
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return { count: total, seconds, perSecond: total / seconds, p50: at(0.5), p99: at(0.99), failures };
}

export const fmt = (r: LoadResult) =>
  `${Math.round(r.perSecond).toLocaleString('en')}/s (${r.count} in ${r.seconds.toFixed(2)} s, p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, failures ${r.failures})`;
