/**
 * Traces across the bus, with the real OpenTelemetry SDK (the service kit's, sending OTLP/HTTP JSON to
 * a receiver here): the publisher's span continues each message's first event's trace and travels in
 * the AMQP `traceparent` header, and a batch consumer's span is the publish's child when the batch is
 * one trace, or a trace of its own linked to every event's context when it is several.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { migrate } from '@veche/db';
import { createTestDatabase, eventually, testAmqpUrl, uniqueName, type TestDatabase } from '@veche/testing';
// The kit's SDK set-up (libs/service): what every service process runs.
import { startTracing, type Tracing } from '../../service/src/tracing.ts';
import {
  busMigrations,
  createBusConnection,
  createConsumer,
  createPublisher,
  type BusConnection,
  type Consumer,
  type DeliveredEvent,
  type IntegrationEvent,
  type Publisher,
} from '../src/index.ts';
import { connectAdmin, sampleEvent, testLog, type Admin } from './support.ts';

interface Received {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  links: { traceId: string; spanId: string }[];
}

async function startReceiver() {
  const spans: Received[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        resourceSpans?: {
          scopeSpans?: { spans?: (Omit<Received, 'parentSpanId' | 'links'> & Partial<Received>)[] }[];
        }[];
      };
      for (const resource of body.resourceSpans ?? [])
        for (const scope of resource.scopeSpans ?? [])
          for (const span of scope.spans ?? [])
            spans.push({ ...span, parentSpanId: span.parentSpanId ?? '', links: span.links ?? [] });
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, spans, close: () => server.close() };
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

/** An event appended inside trace `traceId` by span `spanId` (what the event store writes). */
function tracedEvent(type: string, traceId: string, spanId: string): IntegrationEvent {
  const event = sampleEvent(type);
  return { ...event, metadata: { ...event.metadata, traceparent: `00-${traceId}-${spanId}-01` } };
}

describe('bus traces', () => {
  const log = testLog();
  const testId = uniqueName('bus_tracing');
  const exchange = `${testId}.events`;
  let database: TestDatabase;
  let admin: Admin;
  let connection: BusConnection;
  let publisher: Publisher;
  let consumer: Consumer;
  let tracing: Tracing;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const batches: DeliveredEvent[][] = [];

  before(async () => {
    receiver = await startReceiver();
    tracing = startTracing({ service: 'bus-test', endpoint: receiver.url, log });
    database = await createTestDatabase({ name: import.meta.filename, poolSize: 3 });
    await migrate(database, busMigrations);
    admin = await connectAdmin();
    connection = createBusConnection({ url: testAmqpUrl(), name: `${testId}:bus`, log });
    await connection.start();
    publisher = createPublisher({ connection, log, exchange });
    await publisher.start();
    consumer = createConsumer({
      connection,
      database,
      log,
      exchange,
      queue: `${testId}.batch`,
      bindings: ['traced.*'],
      retryDelaysMs: [200],
      batchSize: 50,
      prefetch: 100,
      handleBatch: async (deliveries) => {
        batches.push([...deliveries]);
      },
    });
    await consumer.start();
  });

  after(async () => {
    await consumer?.stop();
    await publisher?.stop();
    await connection?.stop();
    await admin?.cleanUp(
      [
        consumer.names.queue,
        consumer.names.deadLetterQueue,
        ...consumer.names.retryQueues.map((r) => r.name),
      ],
      [exchange],
    );
    await database?.drop();
    await tracing?.shutdown();
    receiver?.close();
  });

  const spansOf = (traceId: string) => receiver.spans.filter((s) => s.traceId === traceId);

  it("continues one request's events: append → publish → the batch consumer", async () => {
    const traceId = hex(16);
    const appendSpan = hex(8);
    // Three events of one type from one request: the publisher packs them into one message.
    await publisher.publish([1, 2, 3].map(() => tracedEvent('traced.one', traceId, appendSpan)));
    const consume = await eventually(
      () => spansOf(traceId).find((s) => s.name === `consume ${testId}.batch`),
      { message: "the batch consumer's span in the request's trace", timeoutMs: 30_000 },
    );
    // The publish span ends at the broker's confirm, possibly after the consumer's: it may come in
    // the exporter's next batch.
    const publish = await eventually(() => spansOf(traceId).find((s) => s.name === 'publish traced.one'), {
      message: 'the publish span in the same trace',
    });
    assert.equal(publish.parentSpanId, appendSpan, "the publish continues the append's span");
    assert.equal(publish.kind, 4, 'producer');
    assert.equal(consume.parentSpanId, publish.spanId, "the batch consumer is the publish's child");
    assert.equal(consume.kind, 5, 'consumer');
    assert.equal(consume.links.length, 3, 'linked to each event');
    assert.ok(consume.links.every((l) => l.spanId === publish.spanId));
    assert.equal(batches.flat().length, 3);
  });

  it('gives a batch of several traces a span of its own, linked to each event', async () => {
    const [traceA, traceB] = [hex(16), hex(16)];
    const [spanA, spanB] = [hex(8), hex(8)];
    await publisher.publish([
      tracedEvent('traced.many', traceA, spanA),
      tracedEvent('traced.many', traceB, spanB),
    ]);
    const publish = await eventually(() => spansOf(traceA).find((s) => s.name === 'publish traced.many'), {
      message: 'the publish span, in the first event’s trace',
      timeoutMs: 30_000,
    });
    assert.deepEqual(
      publish.links.map((l) => [l.traceId, l.spanId]),
      [[traceB, spanB]],
      "linked to the other event's append",
    );
    const consume = await eventually(
      () =>
        receiver.spans.find(
          (s) => s.name === `consume ${testId}.batch` && s.links.some((l) => l.traceId === traceB),
        ),
      { message: "the batch consumer's span", timeoutMs: 30_000 },
    );
    assert.equal(consume.parentSpanId, '', 'a trace of its own');
    assert.notEqual(consume.traceId, traceA);
    assert.notEqual(consume.traceId, traceB);
    // A's context is the publish (its header); B's the append (the header is A's trace, not B's).
    assert.deepEqual(
      consume.links.map((l) => [l.traceId, l.spanId]).sort(),
      [
        [traceA, publish.spanId],
        [traceB, spanB],
      ].sort(),
    );
  });
});
