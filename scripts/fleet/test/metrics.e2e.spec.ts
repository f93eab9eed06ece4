/**
 * The local fleet's metrics, for real: every service's /metrics through the origin and the scripted
 * scrape (scripts/fleet/scrape.ts) of all of them, and one request moving the counters it should — the
 * gateway's request counter for its route and status, and chat's appended events — and no other
 * request's.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { parseExposition, type Sample } from '../metrics.ts';
import { startFleet, type Fleet } from './support/fleet.ts';

const root = path.resolve(import.meta.dirname, '../../..');

describe('local fleet metrics', () => {
  let fleet: Fleet;

  before(async () => {
    fleet = await startFleet({ env: { REQUIRE_VERIFIED_EMAIL: 'false' } });
  });

  after(async () => {
    await fleet?.stop();
  });

  const scrape = async (service: string): Promise<Sample[]> => {
    const response = await fetch(`${fleet.origin}/_fleet/metrics/${service}`);
    assert.equal(response.status, 200, `${service}: ${await response.clone().text()}`);
    assert.match(String(response.headers.get('content-type')), /^text\/plain/);
    return parseExposition(await response.text());
  };
  const sum = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
    samples
      .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
      .reduce((total, s) => total + s.value, 0);

  it("serves every service's metrics through the origin, and a page of them", async () => {
    const services = readdirSync(path.join(root, 'services')).filter((name) =>
      existsSync(path.join(root, 'services', name, 'package.json')),
    );
    const listed = (
      (await (await fetch(`${fleet.origin}/_fleet/metrics.json`)).json()) as { services: { name: string }[] }
    ).services.map((s) => s.name);
    assert.deepEqual([...listed].sort(), [...services].sort());
    for (const service of listed) {
      const samples = await scrape(service);
      // Declared by @veche/metrics in every process, labelled with the service's name.
      assert.ok(
        samples.some(
          (s) => s.name === 'veche_process_cpu_user_seconds_total' && s.labels['service'] === service,
        ),
        `${service} names itself`,
      );
    }
    const unknown = await fetch(`${fleet.origin}/_fleet/metrics/nope`);
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { error: { code: string } }).error.code, 'not_found');
    const page = await fetch(`${fleet.origin}/_fleet/metrics`);
    assert.equal(page.status, 200);
    const html = await page.text();
    for (const service of listed) assert.match(html, new RegExp(`<h2 id="${service}">`));
  });

  it('moves the right counters for one request, and the scripted scrape shows them', async () => {
    const password = 'correct horse battery staple';
    const email = `metrics-${Date.now()}@example.org`;
    const post = async (url: string, body: unknown, token?: string) => {
      const response = await fetch(`${fleet.origin}/api${url}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify(body),
      });
      assert.ok(response.ok, `${url}: ${response.status} ${await response.clone().text()}`);
      return (await response.json()) as Record<string, unknown>;
    };
    await post('/auth/register', { email, password, displayName: 'Counter' });
    const token = String((await post('/auth/login', { email, password }))['accessToken']);

    const route = { method: 'POST', route: '/api/rooms', status: '201' };
    const [gatewayBefore, chatBefore] = [await scrape('gateway'), await scrape('chat')];
    await post('/rooms', { name: 'counted', visibility: 'public' }, token);
    const [gatewayAfter, chatAfter] = [await scrape('gateway'), await scrape('chat')];

    assert.equal(
      sum(gatewayAfter, 'veche_http_requests_total', route) -
        sum(gatewayBefore, 'veche_http_requests_total', route),
      1,
      `one POST /api/rooms answered 201: ${JSON.stringify(gatewayAfter.filter((s) => s.name === 'veche_http_requests_total'))}`,
    );
    assert.equal(
      sum(gatewayAfter, 'veche_http_request_duration_seconds_count', {
        method: 'POST',
        route: '/api/rooms',
      }) -
        sum(gatewayBefore, 'veche_http_request_duration_seconds_count', {
          method: 'POST',
          route: '/api/rooms',
        }),
      1,
    );
    // Nothing else was asked of the gateway between the scrapes (scrapes are not counted).
    assert.equal(
      sum(gatewayAfter, 'veche_http_requests_total') - sum(gatewayBefore, 'veche_http_requests_total'),
      1,
    );
    // chat recorded the new room (room created, owner joined) in its event store.
    assert.ok(
      sum(chatAfter, 'veche_event_store_appended_events_total') >
        sum(chatBefore, 'veche_event_store_appended_events_total'),
      'chat appended events',
    );

    const scraped = spawnSync(
      process.execPath,
      [
        path.join(root, 'scripts/fleet/scrape.ts'),
        '--origin',
        fleet.origin,
        '--match',
        '^veche_http_requests_total$',
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    assert.equal(scraped.status, 0, scraped.stderr);
    assert.match(
      scraped.stdout,
      /^gateway veche_http_requests_total\{.*method="POST".*route="\/api\/rooms".*status="201".*\} 1$/m,
    );
    const help = spawnSync(process.execPath, [path.join(root, 'scripts/fleet/scrape.ts'), '--help'], {
      encoding: 'utf8',
    });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /Usage: node scripts\/fleet\/scrape\.ts/);
    const bad = spawnSync(process.execPath, [path.join(root, 'scripts/fleet/scrape.ts'), '--bogus'], {
      encoding: 'utf8',
    });
    assert.equal(bad.status, 2);
  });
});
