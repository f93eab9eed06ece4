/**
 * Trace sampling (OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG) in a real service process: a bad
 * setting stops the start (exit 2 naming the variable), and a parent-based ratio sampler at 0 keeps no
 * trace the service starts itself but keeps every trace a sampled caller continues into it. The spans
 * go over OTLP/HTTP to a receiver here, as they go to the stack's collector.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { eventually } from '@veche/testing';

const fixture = new URL('./fixtures/service.ts', import.meta.url).pathname;
const children: ChildProcess[] = [];

after(() => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

const runToEnd = (env: Record<string, string>) =>
  spawnSync(process.execPath, [fixture], {
    encoding: 'utf8',
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    timeout: 90_000,
  });

/** Every span posted to /v1/traces, as `traceId spanId parentSpanId name`. */
async function startReceiver() {
  const spans: { traceId: string; spanId: string; parentSpanId: string; name: string }[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        resourceSpans?: {
          scopeSpans?: {
            spans?: { traceId: string; spanId: string; parentSpanId?: string; name: string }[];
          }[];
        }[];
      };
      for (const resource of body.resourceSpans ?? [])
        for (const scope of resource.scopeSpans ?? [])
          for (const span of scope.spans ?? [])
            spans.push({ ...span, parentSpanId: span.parentSpanId ?? '' });
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, spans, close: () => server.close() };
}

describe('trace sampling', () => {
  it('refuses a ratio outside 0..1, an unknown sampler, and a ratio for a sampler that takes none', () => {
    for (const [env, variable] of [
      [
        { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '1.5' },
        'OTEL_TRACES_SAMPLER_ARG',
      ],
      [
        { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: 'half' },
        'OTEL_TRACES_SAMPLER_ARG',
      ],
      [{ OTEL_TRACES_SAMPLER: 'sometimes' }, 'OTEL_TRACES_SAMPLER'],
      [
        { OTEL_TRACES_SAMPLER: 'parentbased_always_on', OTEL_TRACES_SAMPLER_ARG: '0.1' },
        'OTEL_TRACES_SAMPLER_ARG',
      ],
    ] as const) {
      const result = runToEnd(env);
      assert.equal(result.status, 2, `${JSON.stringify(env)}: ${result.stdout}${result.stderr}`);
      assert.match(result.stdout, new RegExp(`"variable":"${variable}"`), JSON.stringify(env));
      assert.doesNotMatch(result.stdout, /"msg":"listening"/);
    }
  });

  describe('parentbased_traceidratio at 0', () => {
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    let origin = '';
    before(async () => {
      receiver = await startReceiver();
      const child = spawn(process.execPath, [fixture], {
        env: {
          ...process.env,
          LOG_LEVEL: 'info',
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
          OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
          OTEL_TRACES_SAMPLER_ARG: '0',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const port = await eventually(() => /"port":(\d+),"msg":"listening"/.exec(output)?.[1], {
        message: 'the fixture to listen',
        timeoutMs: 60_000,
      });
      assert.match(output, /"sampler":"parentbased_traceidratio","ratio":0/);
      origin = `http://127.0.0.1:${port}`;
    });
    after(() => receiver?.close());

    it('drops the traces it would start, keeps those a sampled caller continues', async () => {
      const own = 'a'.repeat(32);
      const callers = 'b'.repeat(32);
      const parentSpan = 'c'.repeat(16);
      // Its own trace first (the request id is the trace id): ended, hence queued, before the second.
      const first = await fetch(`${origin}/probe-own`, { headers: { 'x-request-id': own } });
      await first.text();
      const second = await fetch(`${origin}/probe-continued`, {
        headers: { traceparent: `00-${callers}-${parentSpan}-01` },
      });
      await second.text();
      // The batch processor exports in the order spans end: once the second is here, so would the first be.
      const continued = await eventually(() => receiver.spans.find((s) => s.traceId === callers), {
        message: "the continued trace's span",
        timeoutMs: 60_000,
      });
      assert.equal(continued.parentSpanId, parentSpan);
      assert.deepEqual(
        receiver.spans.filter((s) => s.traceId !== callers).map((s) => s.name),
        [],
        'no span of a trace the ratio sampler dropped',
      );
    });
  });
});
