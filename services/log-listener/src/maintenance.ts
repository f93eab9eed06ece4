/**
 * Upkeep of `log_lines`, one replica at a time (a session advisory lock per round): partitions made a
 * day ahead, each source's lines past its retention removed, whole partitions older than every
 * source's retention dropped, the lines of deleted sources removed in bounded batches, and the runs of
 * stored ids (`line_runs`) older than any alert's window removed.
 *
 * Search: once a day's partition is closed (its day is over), it gets a trigram GIN index on
 * `message` (pg_trgm), which `q` (case-insensitive substring, `ILIKE`) uses on that partition. The open
 * day has none: a trigram index there cost about 4× the ingest, and one day is scanned quickly by the
 * `(source_id, id)` index. One partition per round (the newest first), built CONCURRENTLY, so late
 * lines and retention deletes are never blocked; a build cut short (a stop) leaves an invalid index,
 * dropped and built again by the next round.
 */
import type { Database } from '@veche/db';
import type { Logger } from '@veche/log';
import type { PoolClient } from 'pg';
import type { Writer } from './ingest/writer.ts';

export interface MaintenanceOptions {
  database: Database<unknown>;
  writer: Writer;
  log: Logger;
  intervalMs: number;
  defaultRetentionDays: number;
}

export interface Maintenance {
  start(): void;
  /** One round now (tests). */
  runOnce(): Promise<MaintenanceRound>;
  stop(): Promise<void>;
}

export interface MaintenanceRound {
  deletedLines: number;
  droppedPartitions: string[];
  /** The closed partition given its search index this round, if any. */
  indexedPartition?: string;
}

const dayMs = 86_400_000;

/** The search index of a day's partition. */
export const searchIndexOf = (partition: string): string => `${partition}_message_trgm`;

export function createMaintenance(options: MaintenanceOptions): Maintenance {
  const { database, writer } = options;
  const log = options.log.child({ component: 'logs-maintenance' });
  const schema = database.schema;
  let timer: NodeJS.Timeout | undefined;
  let round: Promise<unknown> | undefined;
  let stopped = false;
  /** The schema holding pg_trgm's operator classes; null when it cannot be had (searches then scan). */
  let trigrams: Promise<string | null> | undefined;

  async function trigramSchema(): Promise<string | null> {
    const installed = async () =>
      (
        await database.pool.query<{ schema: string }>(
          `select n.nspname as schema from pg_extension e join pg_namespace n on n.oid = e.extnamespace
           where e.extname = 'pg_trgm'`,
        )
      ).rows[0]?.schema;
    const found = await installed();
    if (found) return found;
    try {
      // Trusted since PostgreSQL 13: the database's owner (or anyone with CREATE on it) may add it.
      await database.pool.query('create extension if not exists pg_trgm with schema public');
    } catch (error) {
      // Another process made it at the same moment, or this role may not: searches scan.
      const again = await installed();
      if (again) return again;
      log.warn({ err: error }, 'pg_trgm is not available: closed days get no search index');
      return null;
    }
    return (await installed()) ?? null;
  }

  /** The newest closed partition without a valid search index gets one (CONCURRENTLY). */
  async function indexClosedPartition(
    client: PoolClient,
    partitions: readonly { name: string; day: number }[],
    today: number,
  ): Promise<string | undefined> {
    const closed = partitions.filter((p) => p.day < today).sort((a, b) => b.day - a.day);
    if (closed.length === 0) return undefined;
    const indexes = await client.query<{ name: string; valid: boolean }>(
      `select c.relname as name, i.indisvalid as valid from pg_index i
         join pg_class c on c.oid = i.indexrelid
         join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = $1 and c.relname = any($2::text[])`,
      [schema, closed.map((p) => searchIndexOf(p.name))],
    );
    const valid = new Set(indexes.rows.filter((i) => i.valid).map((i) => i.name));
    const invalid = new Set(indexes.rows.filter((i) => !i.valid).map((i) => i.name));
    const next = closed.find((p) => !valid.has(searchIndexOf(p.name)));
    if (!next) return undefined;
    trigrams ??= trigramSchema();
    const opclasses = await trigrams;
    if (opclasses === null) return undefined;
    const index = searchIndexOf(next.name);
    if (invalid.has(index)) await client.query(`drop index concurrently if exists "${schema}".${index}`);
    const started = Date.now();
    await client.query(
      `create index concurrently if not exists ${index} on "${schema}".${next.name}
         using gin (message "${opclasses}".gin_trgm_ops)`,
    );
    log.info({ partition: next.name, ms: Date.now() - started }, 'closed day indexed for search');
    return next.name;
  }

  async function runOnce(): Promise<MaintenanceRound> {
    const today = Math.floor(Date.now() / dayMs);
    await writer.ensurePartitions([today, today + 1]);
    const client = await database.pool.connect();
    let deletedLines = 0;
    const droppedPartitions: string[] = [];
    let indexedPartition: string | undefined;
    try {
      const lock = await client.query<{ ok: boolean }>('select pg_try_advisory_lock(hashtext($1)) as ok', [
        `${schema}.maintenance`,
      ]);
      if (!lock.rows[0]?.ok) return { deletedLines, droppedPartitions };
      try {
        // Each source's lines past its retention (in batches, so no long lock on busy partitions).
        const sources = await client.query<{ source_id: string; retention_days: number }>(
          `select source_id, retention_days from "${schema}".sources`,
        );
        for (const s of sources.rows) {
          for (;;) {
            const result = await client.query(
              `delete from "${schema}".log_lines where ctid = any(array(
                 select ctid from "${schema}".log_lines
                 where source_id = $1 and received_at < now() - make_interval(days => $2) limit 10000))`,
              [s.source_id, s.retention_days],
            );
            deletedLines += result.rowCount ?? 0;
            if ((result.rowCount ?? 0) < 10000) break;
          }
        }
        // Lines of deleted sources.
        const deleted = await client.query<{ source_id: string }>(
          `select source_id from "${schema}".deleted_sources`,
        );
        for (const d of deleted.rows) {
          for (;;) {
            const result = await client.query(
              `delete from "${schema}".log_lines where ctid = any(array(
                 select ctid from "${schema}".log_lines where source_id = $1 limit 10000))`,
              [d.source_id],
            );
            deletedLines += result.rowCount ?? 0;
            if ((result.rowCount ?? 0) < 10000) break;
          }
          await client.query(`delete from "${schema}".deleted_sources where source_id = $1`, [d.source_id]);
        }
        // The alert evaluator's runs of stored ids, past every alert's window (a day at most).
        await client.query(`delete from "${schema}".line_runs where received_to < now() - interval '2 days'`);
        // Whole partitions older than the longest retention.
        const longest = Math.max(options.defaultRetentionDays, ...sources.rows.map((s) => s.retention_days));
        const cutoff = today - longest - 1;
        const partitions = await client.query<{ name: string }>(
          `select c.relname as name from pg_inherits i
             join pg_class c on c.oid = i.inhrelid
             join pg_class p on p.oid = i.inhparent
             join pg_namespace n on n.oid = p.relnamespace
           where p.relname = 'log_lines' and n.nspname = $1`,
          [schema],
        );
        const kept: { name: string; day: number }[] = [];
        for (const { name } of partitions.rows) {
          const m = /^log_lines_(\d{4})(\d{2})(\d{2})$/.exec(name);
          if (!m) continue;
          const day = Math.floor(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) / dayMs);
          if (day < cutoff) {
            await client.query(`drop table "${schema}".${name}`);
            droppedPartitions.push(name);
          } else kept.push({ name, day });
        }
        indexedPartition = await indexClosedPartition(client, kept, today);
      } finally {
        await client.query('select pg_advisory_unlock(hashtext($1))', [`${schema}.maintenance`]);
      }
    } finally {
      client.release();
    }
    if (deletedLines > 0 || droppedPartitions.length > 0)
      log.info({ deletedLines, droppedPartitions }, 'old lines removed');
    return { deletedLines, droppedPartitions, ...(indexedPartition ? { indexedPartition } : {}) };
  }

  function tick(): void {
    timer = setTimeout(() => {
      round = runOnce()
        .catch((error: unknown) => log.error({ err: error }, 'maintenance failed'))
        .finally(() => {
          if (!stopped) tick();
        });
    }, options.intervalMs);
  }

  return {
    start: tick,
    runOnce,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await round;
    },
  };
}
