/**
 * One trace across three services, for real: the local fleet sends its spans over OTLP/HTTP to a
 * receiver here (an HTTP server decoding what the OpenTelemetry exporters post to /v1/traces, as the
 * stack's collector receives them), and one message posted through the gateway's HTTP API is followed
 * from the gateway (HTTP, then its WAMP call) into chat (the procedure, then the event-store append)
 * and, over RabbitMQ, into the mailer (chat's outbox relay publishing it, the mailer consuming
 * chat.message_posted and what it appends). The
 * trace id is the request's correlation id (the X-Request-Id the gateway answers and logs with).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { eventually } from '@veche/testing';
import { startFleet, type Fleet } from './support/fleet.ts';

interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
}

interface OtlpAnyValue {
  stringValue?: string;
}
interface OtlpExport {
  resourceSpans?: {
    resource?: { attributes?: { key: string; value: OtlpAnyValue }[] };
    scopeSpans?: {
      spans?: { traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number }[];
    }[];
  }[];
}

/** The OTLP/HTTP JSON trace receiver: every span posted to /v1/traces, with its service's name. */
function startReceiver(): Promise<{
  url: string;
  spans: ReceivedSpan[];
  refused: string[];
  close: () => Promise<void>;
}> {
  const spans: ReceivedSpan[] = [];
  const refused: string[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const type = request.headers['content-type'] ?? '';
      if (request.method !== 'POST' || request.url !== '/v1/traces' || !type.startsWith('application/json')) {
        refused.push(`${request.method} ${request.url} ${type}`);
        response.writeHead(415, { 'content-type': 'application/json' }).end('{}');
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpExport;
      for (const resourceSpans of body.resourceSpans ?? []) {
        const service =
          resourceSpans.resource?.attributes?.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
        for (const scope of resourceSpans.scopeSpans ?? []) {
          for (const span of scope.spans ?? []) {
            spans.push({
              service,
              traceId: span.traceId,
              spanId: span.spanId,
              parentSpanId: span.parentSpanId ?? '',
              name: span.name,
              kind: span.kind,
            });
          }
        }
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      resolve({
        url: `http://127.0.0.1:${port}`,
        spans,
        refused,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}

describe('traces across the fleet', () => {
  let fleet: Fleet;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;

  before(async () => {
    receiver = await startReceiver();
    fleet = await startFleet({
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, REQUIRE_VERIFIED_EMAIL: 'false' },
    });
  });

  after(async () => {
    await fleet?.stop();
    await receiver?.close();
  });

  const api = async (path: string, body: unknown, token?: string) => {
    const response = await fetch(`${fleet.origin}/api${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    assert.ok(response.ok, `${path}: ${response.status} ${text}`);
    return {
      body: JSON.parse(text) as Record<string, unknown>,
      requestId: response.headers.get('x-request-id'),
    };
  };

  it('follows one posted message from the gateway through chat to the mailer in one trace', async () => {
    const password = 'correct horse battery staple';
    const user = async (name: string) => {
      const email = `traces-${name}-${Date.now()}@example.org`;
      await api('/auth/register', { email, password, displayName: name });
      const login = await api('/auth/login', { email, password });
      return { token: String(login.body['accessToken']), userId: String(login.body['userId']) };
    };
    const [ann, bob] = [await user('ann'), await user('bob')];
    // A direct message notifies its recipient: chat sends it to the mailer (chat.message_posted).
    const dm = await api('/dms', { userId: bob.userId }, ann.token);
    const posted = await api(
      `/rooms/${String(dm.body['roomId'])}/messages`,
      { text: 'follow me', idempotencyKey: `trace-${Date.now()}` },
      ann.token,
    );

    // The correlation id the gateway answered (and logged) is the trace's id.
    const traceId = posted.requestId ?? '';
    assert.match(traceId, /^[0-9a-f]{32}$/);
    const inTrace = () => receiver.spans.filter((s) => s.traceId === traceId);
    const seen = () =>
      `trace ${traceId}: ${JSON.stringify(inTrace().map((s) => `${s.service}:${s.name}`))}; all: ${JSON.stringify(
        [...new Set(receiver.spans.map((s) => `${s.service}:${s.name}`))],
      )}`;
    const find = (service: string, name: RegExp) =>
      inTrace().find((s) => s.service === service && name.test(s.name));

    // Each process exports its spans on its own timer (a batch a second at most), and chat's publish
    // span ends at the broker's confirm, which can come after the mailer consumed the message: every
    // span asserted below is waited for, not only the last one to happen.
    const expected: [string, RegExp][] = [
      ['gateway', /^POST \/api\/rooms\/:roomId\/messages$/],
      ['gateway', /^wamp\.call veche\.chat\.postMessage$/],
      ['chat', /^wamp veche\.chat\.postMessage$/],
      ['chat', /^event-store append$/],
      ['chat', /^publish chat\.message_posted$/],
      ['mailer', /^consume /],
    ];
    await eventually(
      () => {
        for (const [service, name] of expected)
          assert.ok(find(service, name), `${service} ${String(name)} is in the trace; ${seen()}`);
        // …and the consumer's parent and grandparent (the ones asserted), not just spans of that name.
        const spans = new Map(inTrace().map((s) => [s.spanId, s]));
        const parent = spans.get(find('mailer', /^consume /)!.parentSpanId);
        assert.ok(parent && spans.has(parent.parentSpanId), `the consumer's ancestors; ${seen()}`);
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 200, message: 'the spans of gateway, chat and mailer' },
    );
    assert.deepEqual(receiver.refused, []);

    const byId = new Map(inTrace().map((s) => [s.spanId, s]));
    const http = find('gateway', /^POST \/api\/rooms\/:roomId\/messages$/);
    assert.ok(http, `the gateway's request span; ${seen()}`);
    assert.equal(http.parentSpanId, '', 'the request starts the trace');
    const call = inTrace().find(
      (s) => s.service === 'gateway' && s.name === 'wamp.call veche.chat.postMessage',
    );
    assert.equal(call?.parentSpanId, http.spanId, "the WAMP call is the request's child");
    const procedure = find('chat', /^wamp veche\.chat\.postMessage$/);
    assert.equal(procedure?.parentSpanId, call?.spanId, 'chat continues the call it was sent');
    // Over RabbitMQ: the mailer's consumer continues chat's outbox relay publish (its context in the
    // AMQP message's traceparent header), which continues the append that recorded the event.
    const consume = find('mailer', /^consume /)!;
    const publish = byId.get(consume.parentSpanId);
    assert.equal(publish?.service, 'chat', "the mailer continues chat's span");
    assert.equal(publish.name, 'publish chat.message_posted', "the consumer is the relay publish's child");
    assert.equal(publish.kind, 4, 'the publish is a producer span');
    assert.equal(consume.kind, 5, 'the consume is a consumer span');
    const append = byId.get(publish.parentSpanId);
    assert.equal(append?.service, 'chat');
    assert.equal(append.name, 'event-store append', "the publish is the append's child");
    assert.equal(append.parentSpanId, procedure?.spanId, "chat's append is the procedure's child");
    assert.deepEqual([...new Set(inTrace().map((s) => s.service))].sort(), ['chat', 'gateway', 'mailer']);
  });
});
