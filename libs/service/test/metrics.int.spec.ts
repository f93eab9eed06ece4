/**
 * The kit's metrics: GET /metrics on every service's HTTP server, in Prometheus' text format, where one
 * request moves exactly its own counter (method, route pattern, status) and duration histogram, and
 * probes and scrapes count nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { notFound } from '@veche/errors';
import { createLogger } from '@veche/log';
import { setServiceName } from '@veche/metrics';
import { createServiceHttp } from '../src/index.ts';

const log = createLogger({ service: 'metrics-test', level: 'silent' });
let app: FastifyInstance;
let base = '';

/** The value of one sample in an exposition text (0 when absent). */
function sample(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const inside = line.slice(name.length + 1, line.lastIndexOf('}'));
    const found = Object.fromEntries(
      [...inside.matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]),
    );
    if (Object.entries(labels).every(([k, v]) => found[k] === v))
      return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

const scrape = async (): Promise<string> => {
  const response = await fetch(`${base}/metrics`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return response.text();
};

before(async () => {
  setServiceName('metrics-test');
  app = await createServiceHttp({ log, readiness: { always: () => true } });
  app.get('/rooms/:roomId', async (request) => ({ roomId: (request.params as { roomId: string }).roomId }));
  app.get('/missing/:id', async () => {
    throw notFound('No such thing');
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
});

after(() => app.close());

describe('GET /metrics', () => {
  it('counts one request under its route pattern and status, with its duration', async () => {
    const route = { method: 'GET', route: '/rooms/:roomId', status: '200', service: 'metrics-test' };
    const beforeText = await scrape();
    const counted = sample(beforeText, 'veche_http_requests_total', route);
    const timed = sample(beforeText, 'veche_http_request_duration_seconds_count', {
      method: 'GET',
      route: '/rooms/:roomId',
    });
    assert.equal((await fetch(`${base}/rooms/r-1`)).status, 200);
    const afterText = await scrape();
    assert.equal(sample(afterText, 'veche_http_requests_total', route), counted + 1);
    assert.equal(
      sample(afterText, 'veche_http_request_duration_seconds_count', {
        method: 'GET',
        route: '/rooms/:roomId',
      }),
      timed + 1,
    );
    assert.doesNotMatch(afterText, /r-1/, 'the pattern, never the raw URL');
  });

  it('counts errors by their status, unknown routes under one label, and neither probes nor scrapes', async () => {
    const beforeText = await scrape();
    const missing = { route: '/missing/:id', status: '404' };
    const unmatched = { route: '(unmatched)', status: '404' };
    const was = [
      sample(beforeText, 'veche_http_requests_total', missing),
      sample(beforeText, 'veche_http_requests_total', unmatched),
    ];
    await fetch(`${base}/missing/x`);
    await fetch(`${base}/no/such/path`);
    await fetch(`${base}/health`);
    await fetch(`${base}/ready`);
    const afterText = await scrape();
    assert.equal(sample(afterText, 'veche_http_requests_total', missing), was[0]! + 1);
    assert.equal(sample(afterText, 'veche_http_requests_total', unmatched), was[1]! + 1);
    for (const quiet of ['/health', '/ready', '/metrics']) {
      assert.equal(sample(afterText, 'veche_http_requests_total', { route: quiet }), 0, quiet);
    }
    assert.match(
      afterText,
      /^veche_process_cpu_user_seconds_total\{service="metrics-test"\} /m,
      'process metrics',
    );
  });
});
