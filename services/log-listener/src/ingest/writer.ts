/**
 * The write path of received lines: a bounded in-memory queue written in batches (the batch's ids
 * from the sequence, then one COPY of its lines, with the sources' counters in the same transaction), into
 * the day's partition of `log_lines`, made on demand. Lines are published to their owners' live tail
 * only after their batch commits. When the queue is full the listeners pause their sockets (TCP
 * back-pressure reaches the senders) until it drains to half. Full means `maxPending` lines, or fewer:
 * as many as the measured write rate stores in `maxWaitMs`, so that when senders outpace storage a
 * line still reaches the live tail in about that long after it arrived (the rest waits at the
 * senders). A failed write keeps its batch and retries: nothing received is dropped while the process
 * lives; SIGTERM writes everything first.
 * Two batches are in flight at once (`concurrency`): the next takes its ids after the previous one's
 * and commits after it, so one process's batches commit and are published in id order.
 *
 * The same transaction records, per source, the runs of consecutive ids it stored (`line_runs`,
 * stamped with the transaction id): batches of different replicas commit in any order, so readers that must see every line
 * (the alert evaluator) follow the runs in commit-safe order instead of the ids.
 */
import type { Database } from '@veche/db';
import type { Logger } from '@veche/log';
import type { LogEvent } from '@veche/contracts';
import { copyField, copyFrom } from './copy.ts';

export interface LineRecord {
  sourceId: string;
  ownerId: string;
  userId: string;
  receivedAt: number;
  createdAt: number;
  senderIp: string;
  fileName: string;
  message: string;
  severity: number | null;
  facility: number | null;
  hostname: string | null;
  appName: string | null;
  truncated: boolean;
  invalidUtf8: boolean;
}

export type CounterName = 'rejected_connections' | 'dropped' | 'closed_connections';

export interface WriterOptions {
  database: Database<unknown>;
  log: Logger;
  batchLines: number;
  flushMs: number;
  maxPending: number;
  /**
   * Longest a queued line should wait for its batch (the live tail's promise when senders outpace
   * storage): the queue's limit is the measured write rate times this, at least twice the batches in
   * flight and at most `maxPending`; past it every sender is paused, so the excess waits in its
   * socket and its own queue instead of in this process. 0 or undefined: `maxPending` alone.
   */
  maxWaitMs?: number;
  /**
   * Batches in flight at once (default 2): the next is built and copied while the one before
   * commits; commits and publications still follow batch (and id) order.
   */
  concurrency?: number;
  /** Called after each committed batch, with its lines by owner and source. */
  onCommitted?: (ownerId: string, sourceId: string, events: LogEvent[]) => void;
  /**
   * Runs inside each batch's transaction once its lines are written, before the counters and the
   * commit (tests hold a batch's transaction open with it to arrange commits out of id order).
   */
  afterLines?: (lines: number) => Promise<void>;
}

/** A batch being written: `taken` once its ids are, `done` once it committed and was published. */
interface InFlight {
  batch: LineRecord[];
  deltas: Map<string, Record<string, number>>;
  taken: Promise<void>;
  done: Promise<void>;
  /** Its ids, once taken. */
  ids: string[];
  /** When its COMMIT was sent (undefined: not sent, so it cannot have committed). */
  commitSentAt: number | undefined;
  /** The PostgreSQL backend its transaction ran on. */
  backendPid: number | undefined;
  /** Its transaction's id (`pg_current_xact_id()`): asked for its outcome if the COMMIT's answer is lost. */
  xid: string | undefined;
  /** When it was started (the write rate is measured from it when nothing committed meanwhile). */
  startedAt: number;
}

interface Run {
  sourceId: string;
  firstId: string;
  lastId: string;
  from: number;
  to: number;
}

/**
 * Per source, the runs of the batch's ids that hold its lines: ids are allocated in arrival order
 * but another writer's allocation may interleave, so the batch's ids fall into runs of consecutive
 * numbers (usually one). A run spans the whole allocation run, other sources' ids included: readers
 * take a source's lines in `[firstId, lastId]` from the `(source_id, id)` index, where only that
 * source's lines are, and every id of the run is this transaction's.
 */
export function runsOf(batch: readonly LineRecord[], ids: readonly string[]): Run[] {
  const runs: Run[] = [];
  let start = 0;
  for (let i = 1; i <= ids.length; i++) {
    if (i < ids.length && Number(ids[i]) === Number(ids[i - 1]) + 1) continue;
    const bySource = new Map<string, Run>();
    for (let j = start; j < i; j++) {
      const r = batch[j]!;
      const run = bySource.get(r.sourceId);
      if (run) {
        run.from = Math.min(run.from, r.receivedAt);
        run.to = Math.max(run.to, r.receivedAt);
      } else {
        bySource.set(r.sourceId, {
          sourceId: r.sourceId,
          firstId: ids[start]!,
          lastId: ids[i - 1]!,
          from: r.receivedAt,
          to: r.receivedAt,
        });
      }
    }
    runs.push(...bySource.values());
    start = i;
  }
  return runs;
}

export interface Writer {
  add(record: LineRecord): void;
  count(sourceId: string, counter: CounterName, by?: number): void;
  /** True while the queue is over its limit: listeners pause reading. */
  readonly isFull: boolean;
  /** `listener` runs once the queue has drained to half its limit. */
  onDrain(listener: () => void): void;
  /** The queue's limit now: `maxPending`, or less when `maxWaitMs` and the write rate ask for less. */
  readonly limit: number;
  /** Lines committed a second, as last measured (an average over the last few batches; 0: none yet). */
  readonly rate: number;
  readonly pending: number;
  /** Resolves when everything added so far is committed. */
  flush(): Promise<void>;
  /** Partitions for the days around now (maintenance and start). */
  ensurePartitions(days: readonly number[]): Promise<void>;
  stop(): Promise<void>;
}

const dayMs = 86_400_000;
const lineCounters = new Set(['received', 'truncated', 'invalid_utf8', 'last']);
const dayOf = (ms: number): number => Math.floor(ms / dayMs);
const partitionName = (day: number): string =>
  `log_lines_${new Date(day * dayMs).toISOString().slice(0, 10).replaceAll('-', '')}`;

/**
 * Stamps as ISO text, remembering the last one: lines of a burst arrive in the same millisecond (at
 * 100,000 lines/s, about 100 of them) and often carry the sender's same stamp, and each is written to
 * COPY and to the live tail. One memory per kind of stamp, so the two do not evict each other.
 */
function stampText(): (ms: number) => string {
  let lastMs = Number.NaN;
  let lastIso = '';
  return (ms) => {
    if (ms !== lastMs) {
      lastIso = new Date(ms).toISOString();
      lastMs = ms;
    }
    return lastIso;
  };
}
const receivedText = stampText();
const createdText = stampText();

export function toLogEvent(id: string | number, r: LineRecord): LogEvent {
  return {
    id: String(id),
    sourceId: r.sourceId,
    createdAt: createdText(r.createdAt),
    receivedAt: receivedText(r.receivedAt),
    userId: r.userId,
    senderIp: r.senderIp,
    fileName: r.fileName,
    message: r.message,
    severity: r.severity,
    facility: r.facility,
    hostname: r.hostname,
    appName: r.appName,
    truncated: r.truncated,
    invalidUtf8: r.invalidUtf8,
  };
}

/** A line as COPY text, all but its id (which the batch's transaction takes). */
export function copyTail(r: LineRecord): string {
  return (
    `\t${r.sourceId}\t${receivedText(r.receivedAt)}\t${createdText(r.createdAt)}\t` +
    `${copyField(r.senderIp)}\t${copyField(r.fileName)}\t${copyField(r.message)}\t${copyField(r.severity)}\t` +
    `${copyField(r.facility)}\t${copyField(r.hostname)}\t${copyField(r.appName)}\t${r.truncated ? 't' : 'f'}\t` +
    `${r.invalidUtf8 ? 't' : 'f'}\n`
  );
}

/** Values we made ourselves (uuids, decimal ids, ISO stamps, counts) as SQL literals, in one statement. */
const literal = (value: string | number | null): string =>
  value === null ? 'null' : typeof value === 'number' ? String(value) : `'${value.replaceAll("'", "''")}'`;

export function createWriter(options: WriterOptions): Writer {
  const { database, batchLines, flushMs, maxPending } = options;
  const concurrency = Math.max(1, options.concurrency ?? 2);
  const log = options.log.child({ component: 'log-writer' });
  const schema = database.schema;
  let queue: LineRecord[] = [];
  let counters = new Map<string, Record<string, number>>();
  const drainListeners: (() => void)[] = [];
  const knownPartitions = new Set<number>();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let failures = 0;
  /** Batches being written, oldest first (each commits after the one before it). */
  const inFlight: InFlight[] = [];
  /** Set while failed batches are being put back and the writer waits to try again. */
  let backingOff = false;
  let stopped = false;
  let full = false;
  const maxWaitMs = options.maxWaitMs ?? 0;
  /** The fewest lines the limit allows: the batches in flight and as many again waiting. */
  const floor = Math.min(maxPending, batchLines * concurrency * 2);
  let limit = maxPending;
  let rate = 0;
  let lastCommitAt = 0;

  /** A committed batch updates the write rate, and with it the queue's limit. */
  function measured(flight: InFlight): void {
    const now = performance.now();
    // The time since the previous commit while batches follow each other, else this batch's own.
    const ms = now - Math.max(lastCommitAt, flight.startedAt);
    lastCommitAt = now;
    if (flight.batch.length === 0 || ms <= 0) return;
    const sample = (flight.batch.length * 1000) / ms;
    rate = rate === 0 ? sample : rate * 0.7 + sample * 0.3;
    if (maxWaitMs > 0) limit = Math.min(maxPending, Math.max(floor, Math.round((rate * maxWaitMs) / 1000)));
  }

  function bump(sourceId: string, name: string, by: number): void {
    let entry = counters.get(sourceId);
    if (!entry) counters.set(sourceId, (entry = {}));
    entry[name] = (entry[name] ?? 0) + by;
  }

  async function ensurePartitions(days: readonly number[]): Promise<void> {
    for (const day of days) {
      if (knownPartitions.has(day)) continue;
      const from = new Date(day * dayMs).toISOString();
      const to = new Date((day + 1) * dayMs).toISOString();
      try {
        await database.pool.query(
          `create table if not exists "${schema}".${partitionName(day)} partition of "${schema}".log_lines for values from ('${from}') to ('${to}')`,
        );
      } catch (error) {
        // Another replica made it at the same moment.
        if ((error as { code?: string }).code !== '42P07' && (error as { code?: string }).code !== '23505')
          throw error;
      }
      knownPartitions.add(day);
    }
  }

  /**
   * One batch in its own transaction: ids (after the previous batch's, so ids follow batch order),
   * COPY, then, once the previous batch has committed and been published, its runs, the counters
   * and the commit, then its publication. `previous` is the batch started just before (undefined:
   * none in flight); if it fails, this one rolls back too (and goes back to the queue behind it).
   */
  function writeBatch(
    batch: LineRecord[],
    deltas: Map<string, Record<string, number>>,
    previous: InFlight | undefined,
  ): InFlight {
    let idsTaken!: () => void;
    const taken = new Promise<void>((resolve) => (idsTaken = resolve));
    const flight: InFlight = {
      batch,
      deltas,
      taken,
      done: Promise.resolve(),
      ids: [],
      commitSentAt: undefined,
      backendPid: undefined,
      xid: undefined,
      startedAt: performance.now(),
    };
    flight.done = (async () => {
      await ensurePartitions([...new Set(batch.map((r) => dayOf(r.receivedAt)))]);
      const client = await database.pool.connect();
      flight.backendPid = (client as unknown as { processID?: number }).processID;
      let ids: string[] = [];
      /** Statements sent at once after COPY (one simple query: no parameters, literals we made). */
      const finish: string[] = [];
      try {
        // One round trip to open the transaction and take the ids, one for COPY, one to finish.
        if (batch.length > 0) {
          // Ids first (in arrival order), so the lines can go by COPY, which returns nothing; after the
          // previous batch's, so the ids of batches in flight at once do not interleave.
          await previous?.taken;
          const results = (await client.query(
            `begin; select pg_current_xact_id()::text as xid, string_agg(v::text, ',' order by v) as ids
             from (select nextval('"${schema}".log_line_ids') as v from generate_series(1, ${batch.length})) s`,
          )) as unknown as { rows: { xid: string; ids: string }[] }[];
          flight.xid = results[1]!.rows[0]!.xid;
          ids = results[1]!.rows[0]!.ids.split(',');
          flight.ids = ids;
          idsTaken();
          await copyFrom(
            client,
            `"${schema}".log_lines (id, source_id, received_at, created_at, sender_ip, file_name, message, severity,
               facility, hostname, app_name, truncated, invalid_utf8)`,
            copyData(batch, ids, deltas),
          );
          if (options.afterLines) {
            // Held (tests) with its runs written, as a transaction of another replica would be.
            await client.query(runsStatement(runsOf(batch, ids)));
            await options.afterLines(batch.length);
          }
        } else {
          // Counters alone (rare: refused connections while no line arrives): the transaction's id is
          // taken first, the one way to tell later whether a commit whose answer was lost happened.
          const results = (await client.query(
            'begin; select pg_current_xact_id()::text as xid',
          )) as unknown as { rows: { xid: string }[] }[];
          flight.xid = results[1]!.rows[0]!.xid;
        }
        // Commits follow batch order: what the live tail was shown stays in id order, and a batch
        // whose predecessor failed is not committed ahead of it.
        if (previous) await previous.done;
        if (batch.length > 0 && !options.afterLines) finish.push(runsStatement(runsOf(batch, ids)));
        if (deltas.size > 0) finish.push(countersStatement(deltas));
        finish.push('commit');
        flight.commitSentAt = Date.now();
        await client.query(finish.join(';\n'));
      } catch (error) {
        await client.query('rollback').catch(() => undefined);
        client.release(true);
        throw error;
      }
      client.release();
      if (options.onCommitted && batch.length > 0) publish(batch, ids);
    })().finally(() => idsTaken()); // one that failed before its ids must not hold the next one's back

    // Nobody may be waiting on a failed batch yet: its failure is taken by drain in order.
    flight.done.catch(() => undefined);
    return flight;
  }

  /**
   * Whether a failed batch whose COMMIT was sent committed anyway (the answer was lost: the
   * connection cut, PostgreSQL restarted after writing the commit). Its backend is ended first (a cut
   * connection may be noticed late), so its outcome is final, then PostgreSQL is asked for its
   * transaction's status (`pg_xact_status`, made for this). Asked until PostgreSQL answers: writing
   * the batch again if it committed would store its lines, and add its counters, twice.
   */
  async function committedAnyway(flight: InFlight): Promise<boolean> {
    const sentAt = new Date(flight.commitSentAt!);
    for (let attempt = 1; ; attempt++) {
      try {
        if (flight.backendPid !== undefined) {
          // Best effort (a role may not be allowed to end it): then it is waited for.
          await database.pool
            .query(
              `select pg_terminate_backend(pid) from pg_stat_activity
               where pid = $1 and backend_start <= $2 and pid <> pg_backend_pid()`,
              [flight.backendPid, sentAt],
            )
            .catch(() => undefined);
          for (let waited = 0; waited < 30_000; waited += 20) {
            const { rows } = await database.pool.query(
              'select 1 from pg_stat_activity where pid = $1 and backend_start <= $2',
              [flight.backendPid, sentAt],
            );
            if (rows.length === 0) break;
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        }
        const { rows } = await database.pool.query<{ status: string | null }>(
          'select pg_xact_status($1::xid8) as status',
          [flight.xid],
        );
        const status = rows[0]?.status;
        if (status === 'committed') return true;
        if (status === 'aborted') return false;
        if (status === 'in progress') throw new Error('its transaction is still in progress');
        // Null: the id is too old for PostgreSQL to remember (not after a lost answer moments ago).
        if (flight.batch.length === 0) return false;
        const first = flight.batch[0]!;
        const found = await database.pool.query<{ stored: boolean }>(
          `select exists (select 1 from "${schema}".log_lines
             where source_id = $1 and id = $2::int8 and received_at = $3) as stored`,
          [first.sourceId, flight.ids[0], new Date(first.receivedAt)],
        );
        return found.rows[0]?.stored === true;
      } catch (error) {
        log.warn({ err: error, attempt }, 'cannot tell yet whether a batch whose commit was sent committed');
        if (stopped && attempt > 5) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 100 * 2 ** Math.min(attempt, 6))));
      }
    }
  }

  /**
   * The batch's COPY text (ids from the transaction), encoded straight into one buffer (a batch-long
   * string would be a rope of thousands of pieces that Buffer.from must flatten first: most of the
   * writer's CPU); its lines counted, and every counter so far moved into the batch's `deltas`.
   */
  function copyData(batch: LineRecord[], ids: string[], deltas: Map<string, Record<string, number>>): Buffer {
    let data = Buffer.allocUnsafe(batch.length * 256);
    let at = 0;
    // Lines are encoded 64 at a time: one short rope to flatten per write, not one write per line.
    let text = '';
    const put = (): void => {
      if (at + text.length * 3 > data.length) {
        const bigger = Buffer.allocUnsafe(Math.max(data.length * 2, at + text.length * 3));
        data.copy(bigger, 0, 0, at);
        data = bigger;
      }
      at += data.write(text, at);
      text = '';
    };
    let sourceId = '';
    let entry: Record<string, number> = {};
    for (let i = 0; i < batch.length; i++) {
      const r = batch[i]!;
      text += ids[i]! + copyTail(r);
      if ((i & 63) === 63) put();
      if (r.sourceId !== sourceId) {
        sourceId = r.sourceId;
        entry = deltas.get(sourceId) ?? deltas.set(sourceId, {}).get(sourceId)!;
      }
      entry['received'] = (entry['received'] ?? 0) + 1;
      if (r.truncated) entry['truncated'] = (entry['truncated'] ?? 0) + 1;
      if (r.invalidUtf8) entry['invalid_utf8'] = (entry['invalid_utf8'] ?? 0) + 1;
      if (r.receivedAt > (entry['last'] ?? 0)) entry['last'] = r.receivedAt;
    }
    put();
    // What else was counted so far (refused connections, drops) rides along with this batch.
    for (const [sourceId, entry] of counters) {
      const into = (deltas.get(sourceId) ?? deltas.set(sourceId, {}).get(sourceId))!;
      for (const [name, value] of Object.entries(entry)) into[name] = (into[name] ?? 0) + value;
    }
    counters = new Map();
    return data.subarray(0, at);
  }

  /**
   * With the transaction's snapshot: what had not committed by now did so after these lines (the
   * live tail's catch-up returns those to a reader that saw these).
   */
  function runsStatement(runs: Run[]): string {
    return `insert into "${schema}".line_runs (source_id, first_id, last_id, received_from, received_to, snapshot)
      values ${runs
        .map(
          (r) =>
            `(${literal(r.sourceId)}::uuid, ${literal(r.firstId)}::int8, ${literal(r.lastId)}::int8, ` +
            `${literal(new Date(r.from).toISOString())}::timestamptz, ` +
            `${literal(new Date(r.to).toISOString())}::timestamptz, pg_current_snapshot())`,
        )
        .join(', ')}`;
  }

  function countersStatement(deltas: Map<string, Record<string, number>>): string {
    const rows: string[] = [];
    for (const [sourceId, entry] of deltas) {
      const value = (name: string): string => `${literal(entry[name] ?? 0)}::int8`;
      rows.push(
        `(${literal(sourceId)}::uuid, ${value('received')}, ${value('rejected_connections')}, ` +
          `${value('truncated')}, ${value('invalid_utf8')}, ${value('dropped')}, ` +
          `${value('closed_connections')}, ${literal(entry['last'] ?? null)}::float8)`,
      );
    }
    return `update "${schema}".source_counters c set
        received = c.received + d.received,
        rejected_connections = c.rejected_connections + d.rejected,
        truncated = c.truncated + d.truncated,
        invalid_utf8 = c.invalid_utf8 + d.invalid,
        dropped = c.dropped + d.dropped,
        closed_connections = c.closed_connections + d.closed,
        last_received_at = greatest(c.last_received_at, to_timestamp(d.last / 1000.0))
      from (values ${rows.join(', ')})
        as d(source_id, received, rejected, truncated, invalid, dropped, closed, last)
      where c.source_id = d.source_id`;
  }

  function publish(batch: LineRecord[], ids: string[]): void {
    const groups = new Map<string, { ownerId: string; sourceId: string; events: LogEvent[] }>();
    batch.forEach((record, index) => {
      let group = groups.get(record.sourceId);
      if (!group)
        groups.set(
          record.sourceId,
          (group = { ownerId: record.ownerId, sourceId: record.sourceId, events: [] }),
        );
      group.events.push(toLogEvent(ids[index]!, record));
    });
    for (const group of groups.values()) options.onCommitted!(group.ownerId, group.sourceId, group.events);
  }

  /** The next batch off the queue (counters alone when no line waits), started behind `previous`. */
  function startBatch(previous: InFlight | undefined): InFlight {
    const batch = queue.length <= batchLines ? queue : queue.slice(0, batchLines);
    queue = queue.length <= batchLines ? [] : queue.slice(batchLines);
    const deltas = new Map<string, Record<string, number>>();
    // Counters without lines (refused connections) ride along with this batch.
    if (batch.length === 0) {
      for (const [sourceId, entry] of counters) deltas.set(sourceId, { ...entry });
      counters = new Map();
    }
    return writeBatch(batch, deltas, previous);
  }

  /** Starts batches while fewer than `concurrency` are in flight and lines (or counters) wait. */
  function fill(): void {
    while (
      !backingOff &&
      inFlight.length < concurrency &&
      (queue.length > 0 || (inFlight.length === 0 && counters.size > 0))
    ) {
      inFlight.push(startBatch(inFlight.at(-1)));
    }
  }

  /**
   * Writes until the queue is empty with up to `concurrency` batches in flight (one builds and COPYs
   * while the one before commits; a full batch arriving meanwhile starts at once, see `add`). A failure
   * rolls back every batch behind it; all of them go back to the front of the queue in order, and the
   * writer waits before the next try.
   */
  async function drain(): Promise<void> {
    for (;;) {
      fill();
      const first = inFlight[0];
      if (!first) return;
      try {
        await first.done;
        inFlight.shift();
        measured(first);
        failures = 0;
      } catch (error) {
        // No batch starts until the failed ones are back in the queue; those behind the failed one
        // fail too (they commit only after it) and are all settled before they are taken back.
        backingOff = true;
        await Promise.allSettled(inFlight.map((f) => f.done));
        const failed: InFlight[] = [];
        for (const f of inFlight.splice(0)) {
          // Only a batch whose COMMIT was sent can have committed (those behind it never send theirs).
          if (f.commitSentAt !== undefined && f.xid !== undefined) {
            try {
              if (await committedAnyway(f)) {
                log.warn(
                  { lines: f.batch.length },
                  'a batch committed though its answer was lost; not written again',
                );
                if (options.onCommitted && f.batch.length > 0) publish(f.batch, f.ids);
                continue;
              }
            } catch {
              // Stopping and PostgreSQL still does not answer: kept with the rest, as before.
            }
          }
          failed.push(f);
        }
        // Put the batches back in front and the counters back, and wait before the next try.
        queue = failed.flatMap((f) => f.batch).concat(queue);
        for (const { deltas } of failed) {
          for (const [sourceId, entry] of deltas) {
            for (const [name, value] of Object.entries(entry)) {
              // The batch's own lines count again when it is written; only the other counters go back.
              if (!lineCounters.has(name)) bump(sourceId, name, value);
            }
          }
        }
        failures++;
        const lines = failed.reduce((n, f) => n + f.batch.length, 0);
        log.error({ err: error, lines, failures }, 'writing log lines failed; retrying');
        try {
          if (stopped && failures > 5) throw error;
          await new Promise((resolve) =>
            setTimeout(resolve, Math.min(5_000, 100 * 2 ** Math.min(failures, 6))),
          );
        } finally {
          backingOff = false;
        }
      }
      if (full && queue.length <= limit / 2) {
        full = false;
        for (const listener of drainListeners.splice(0)) listener();
      }
    }
  }

  function run(): Promise<void> {
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
    }
    running ??= drain().finally(() => {
      running = undefined;
      if (queue.length > 0 || counters.size > 0) schedule();
    });
    return running;
  }

  function schedule(): void {
    if (running || timer || stopped) return;
    if (queue.length >= batchLines) {
      void run().catch(() => undefined);
      return;
    }
    timer = setTimeout(() => {
      timer = undefined;
      void run().catch(() => undefined);
    }, flushMs);
  }

  return {
    add(record) {
      queue.push(record);
      if (queue.length >= limit) full = true;
      // A full batch goes out now when there is room beside the ones in flight.
      if (running && queue.length >= batchLines) fill();
      else schedule();
    },
    count(sourceId, counter, by = 1) {
      bump(sourceId, counter, by);
      schedule();
    },
    get isFull() {
      return full;
    },
    get limit() {
      return limit;
    },
    get rate() {
      return rate;
    },
    onDrain(listener) {
      if (!full) listener();
      else drainListeners.push(listener);
    },
    get pending() {
      return queue.length;
    },
    async flush() {
      while (queue.length > 0 || counters.size > 0 || running) {
        await (running ?? run());
      }
    },
    ensurePartitions,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      while (queue.length > 0 || counters.size > 0 || running) {
        await (running ?? run());
      }
    },
  };
}
