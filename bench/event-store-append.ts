/**
 * Append throughput of @veche/event-store against the PostgreSQL in TEST_DATABASE_URL, with the
 * server's own durability settings. Creates a schema of its own and drops it at the end.
 * Usage: node bench/event-store-append.ts [secondsPerCase]
 */
import { randomBytes } from 'node:crypto';
import { createDatabase, ensureDatabaseExists, migrate, sql } from '@veche/db';
import { createLogger } from '@veche/log';
import {
  createEventStore,
  eventStoreMigrations,
  type EventStore,
  type NewEvent,
} from '../libs/event-store/src/index.ts';

const url = process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/veche_test';
const seconds = Number(process.argv[2] ?? 5);
const schema = `bench_es_${randomBytes(4).toString('hex')}`;

const payload = (n: number): NewEvent => ({
  type: 'chat.message_posted',
  data: { roomId: 'room-1', seq: n, senderId: 'user-1', text: `message number ${n} with a little text` },
});

/** `writers` loops, each appending `eventsPerAppend` events to its own stream with an exact expected version. */
async function measure(
  store: EventStore,
  label: string,
  writers: number,
  eventsPerAppend: number,
): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  let events = 0;
  let appends = 0;
  const started = performance.now();
  const run = randomBytes(3).toString('hex');
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      const streamId = `bench-${run}-${w}`;
      let version = 0;
      while (Date.now() < deadline) {
        const batch = Array.from({ length: eventsPerAppend }, (_, i) => payload(version + i));
        const result = await store.append(streamId, batch, { expectedVersion: version });
        version = result.nextVersion;
        events += eventsPerAppend;
        appends += 1;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  console.log(
    `${label.padEnd(44)} ${Math.round(events / elapsed)
      .toString()
      .padStart(7)} events/s  (${Math.round(appends / elapsed)} appends/s, ${elapsed.toFixed(1)} s)`,
  );
}

await ensureDatabaseExists(url);
const database = createDatabase({ url, schema, poolSize: 8, applicationName: 'bench:event-store' });
try {
  await migrate(database, eventStoreMigrations);
  const { rows } = await sql<{ fsync: string; synchronous_commit: string }>`
    select current_setting('fsync') as fsync, current_setting('synchronous_commit') as synchronous_commit`.execute(
    database.db,
  );
  console.log(
    `PostgreSQL fsync=${rows[0]?.fsync} synchronous_commit=${rows[0]?.synchronous_commit}; ${seconds} s per case`,
  );
  const store = createEventStore({ database, log: createLogger({ service: 'bench', level: 'warn' }) });
  await measure(store, 'one writer, single events', 1, 1);
  await measure(store, '32 concurrent writers, single events', 32, 1);
  await measure(store, 'one writer, appends of 100 events', 1, 100);
  await measure(store, '32 concurrent writers, appends of 100 events', 32, 100);
  await store.close();
} finally {
  await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(database.db);
  await database.close();
}
