/**
 * End-to-end throughput of the integration-event path: append to the event store → outbox relay →
 * RabbitMQ (publisher confirms) → consumer with inbox (one effect row per event, written in the
 * inbox's transaction). The consumer runs in a process of its own, as a consuming service would.
 * Creates its own schema, exchange and queues, and removes them afterwards.
 *
 * Usage: node bench/bus-relay.ts [--events 50000] [--append-size 100] [--appenders 4]
 *          [--relay-batch 5000] [--consumer-batch 512] [--prefetch 2048] [--per-event] [--backlog]
 * --per-event: the consumer's handler runs one statement per event instead of one per batch.
 * --backlog: append every event first, then start the relay and time only relay → consumer (the relay's
 *   own throughput; by default appends run at the same time and share the two cores).
 * Reads DATABASE_URL (default: the test database) and AMQP_URL; PROGRESS=1 prints progress.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createDatabase, ensureDatabaseExists, migrate, sql } from '@veche/db';
import { createLogger } from '@veche/log';
import { createEventStore, eventStoreMigrations } from '../libs/event-store/src/index.ts';
import {
  busMigrations,
  createBusConnection,
  createConsumer,
  createOutboxRelay,
  deleteTopology,
  type ConsumerHandler,
} from '../libs/bus/src/index.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '50000' },
    'append-size': { type: 'string', default: '100' },
    appenders: { type: 'string', default: '4' },
    'relay-batch': { type: 'string', default: '5000' },
    'consumer-batch': { type: 'string', default: '512' },
    prefetch: { type: 'string', default: '2048' },
    'per-event': { type: 'boolean', default: false },
    backlog: { type: 'boolean', default: false },
    role: { type: 'string', default: 'main' },
    help: { type: 'boolean', short: 'h', default: false },
    id: { type: 'string', default: '' },
  },
});
if (values.help) {
  console.log(`Usage: node bench/bus-relay.ts [--events 50000] [--append-size 100] [--appenders 4]
         [--relay-batch 5000] [--consumer-batch 512] [--prefetch 2048] [--per-event] [--backlog]
  End-to-end throughput of the integration-event path: event store append → outbox relay →
  RabbitMQ (publisher confirms) → a consumer process with its inbox, one effect row per event.
  Prints events/s appended and end to end, effects stored, duplicates (must be 0).
  --events          events in all
  --append-size     events per append
  --appenders       concurrent appenders
  --relay-batch     outbox rows the relay reads at a time
  --consumer-batch  deliveries the consumer handles in one transaction
  --prefetch        the consumer's AMQP prefetch
  --per-event       the consumer runs one statement per event instead of one per batch
  --backlog         append everything first, then time only relay → consumer
  -h, --help        this text
  Reads DATABASE_URL (default: the test database) and AMQP_URL; PROGRESS=1 prints progress.`);
  process.exit(0);
}
const total = Number(values.events);
const databaseUrl =
  process.env['DATABASE_URL'] ??
  process.env['TEST_DATABASE_URL'] ??
  'postgres://postgres@127.0.0.1:5432/veche_test';
const amqpUrl = process.env['AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
const id = values.id || randomBytes(4).toString('hex');
const schema = `bench_bus_${id}`;
const exchange = `bench.${id}.events`;
const queue = `bench_${id}.effects`;
const log = createLogger({ service: 'bench-bus', level: process.env['LOG_LEVEL'] ?? 'warn' });

interface Progress {
  handled: number;
  duplicates: number;
}

/** The consuming service: reports progress to the main process and stops when told. */
async function runConsumer(): Promise<void> {
  const database = createDatabase({
    url: databaseUrl,
    schema,
    poolSize: 2,
    applicationName: 'bench-bus-consumer',
  });
  const connection = createBusConnection({ url: amqpUrl, name: `bench:${id}:consumer`, log });
  const handler: ConsumerHandler = values['per-event']
    ? {
        handle: async (event, trx) => {
          await sql`insert into effects (event_id, count) values (${event.metadata.eventId}, 1)
            on conflict (event_id) do update set count = effects.count + 1`.execute(trx);
        },
      }
    : {
        // One statement per batch; the inbox has already dropped the events seen before.
        handleBatch: async (deliveries, trx) => {
          const ids = deliveries.map((delivery) => delivery.event.metadata.eventId);
          await sql`insert into effects (event_id, count) select id, 1 from unnest(${ids}::text[]) as id
            on conflict (event_id) do update set count = effects.count + 1`.execute(trx);
        },
      };
  const consumer = createConsumer({
    connection,
    database,
    log,
    exchange,
    queue,
    bindings: ['bench.#'],
    batchSize: Number(values['consumer-batch']),
    prefetch: Number(values.prefetch),
    ...handler,
  });
  await connection.start();
  await consumer.start();
  const report = setInterval(() => process.send?.(consumer.stats() satisfies Progress), 10);
  process.send?.('ready');
  await once(process, 'message');
  clearInterval(report);
  await consumer.stop();
  await deleteTopology(connection, {
    queues: [queue, ...consumer.names.retryQueues.map((r) => r.name), consumer.names.deadLetterQueue],
    exchanges: [exchange],
  });
  await connection.stop();
  await database.close();
  process.disconnect?.();
}

async function runMain(): Promise<void> {
  const appendSize = Number(values['append-size']);
  const appenders = Number(values.appenders);
  await ensureDatabaseExists(databaseUrl);
  const database = createDatabase({ url: databaseUrl, schema, poolSize: 6, applicationName: 'bench-bus' });
  await migrate(database, {
    ...eventStoreMigrations,
    ...busMigrations,
    '0001-effects': {
      async up(db) {
        await sql`create table effects (event_id text primary key, count int not null)`.execute(db);
      },
    },
  });
  const store = createEventStore({ database, log });
  const connection = createBusConnection({ url: amqpUrl, name: `bench:${id}:relay`, log });
  let published = 0;
  const publishedIds = new Set<string>();
  const relay = createOutboxRelay({
    database,
    store,
    connection,
    log,
    exchange,
    batchSize: Number(values['relay-batch']),
    pollIntervalMs: 20,
    onBatchConfirmed(events) {
      published += events.length;
      for (const event of events) publishedIds.add(event.eventId);
    },
  });
  const consumer = fork(import.meta.filename, [...process.argv.slice(2), '--role', 'consumer', '--id', id], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let progress: Progress = { handled: 0, duplicates: 0 };
  let finished: () => void = () => undefined;
  const allHandled = new Promise<void>((resolve) => {
    finished = resolve;
  });
  consumer.on('message', (message: unknown) => {
    if (message === 'ready') return;
    progress = message as Progress;
    if (progress.handled >= total) finished();
  });
  try {
    await once(consumer, 'message');
    await connection.start();
    if (!values.backlog) await relay.start();
    console.log(
      `bus-relay: ${total} events, appends of ${appendSize} by ${appenders} appenders, relay batch ${values['relay-batch']}, ` +
        `consumer batch ${values['consumer-batch']} (${values['per-event'] ? 'a statement per event' : 'a statement per batch'}), prefetch ${values.prefetch}`,
    );
    let started = performance.now();
    const elapsed = (): string => ((performance.now() - started) / 1000).toFixed(2);
    let next = 0;
    const ticker = setInterval(() => {
      if (process.env['PROGRESS'])
        console.log(`${elapsed()} s: appended ${next}, published ${published}, handled ${progress.handled}`);
    }, 500);
    await Promise.all(
      Array.from({ length: appenders }, async (_, appender) => {
        while (next < total) {
          const count = Math.min(appendSize, total - next);
          next += count;
          await store.append(
            `bench-${appender}-${next % 97}`,
            Array.from({ length: count }, (_, n) => ({ type: 'bench.happened', data: { n } })),
          );
        }
      }),
    );
    const appendSeconds = elapsed();
    if (values.backlog) {
      started = performance.now();
      await relay.start();
    }
    const timeoutSeconds = Number(process.env['BENCH_TIMEOUT_S'] ?? 120);
    await Promise.race([
      allHandled,
      new Promise((_, reject) =>
        setTimeout(
          () => reject(new Error(`timed out after ${timeoutSeconds} s`)),
          timeoutSeconds * 1000,
        ).unref(),
      ),
    ]);
    const seconds = Number(elapsed());
    clearInterval(ticker);
    const { rows } = await sql<{
      n: number;
      max: number;
    }>`select count(*) as n, max(count) as max from effects`.execute(database.db);
    console.log(`appended in ${appendSeconds} s (${Math.round(total / Number(appendSeconds))} events/s)`);
    console.log(
      `${values.backlog ? 'relayed from a backlog' : 'end to end'}: ${total} events in ${seconds.toFixed(2)} s = ${Math.round(total / seconds)} events/s`,
    );
    console.log(`effects: ${rows[0]?.n} rows, max count ${rows[0]?.max}; duplicates ${progress.duplicates}`);
  } catch (error) {
    // Say where the missing events got lost before cleaning up.
    const { rows } = await sql<{ event_id: string; transaction_id: string; global_position: number }>`
      select metadata->>'eventId' as event_id, transaction_id::text as transaction_id, global_position from events e
      where not exists (select 1 from effects f where f.event_id = e.metadata->>'eventId')
      order by transaction_id, global_position`.execute(database.db);
    const unpublished = rows.filter((row) => !publishedIds.has(row.event_id));
    console.log(
      `${rows.length} events without effect; ${unpublished.length} of them never published; checkpoint ${JSON.stringify(await relay.checkpoint())}`,
    );
    console.log(JSON.stringify(rows.slice(0, 3)), JSON.stringify(rows.slice(-3)));
    throw error;
  } finally {
    await relay.stop();
    await connection.stop();
    if (consumer.connected) {
      consumer.send('stop');
      await once(consumer, 'exit');
    }
    await store.close();
    await sql`drop schema ${sql.id(schema)} cascade`.execute(database.db);
    await database.close();
  }
}

if (values.role === 'consumer') await runConsumer();
else await runMain();
