/**
 * Upkeep of `log_lines`, one replica at a time (a session advisory lock per round): partitions made a
 * day ahead, each source's lines past its retention removed, whole partitions older than every
 * source's retention dropped, the lines of deleted sources removed in bounded batches, and the runs of
 * stored ids (`line_runs`) older than any alert's window removed.
 */
import type { Database } from '@veche/db';
import type { Logger } from '@veche/log';
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
  runOnce(): Promise<{ deletedLines: number; droppedPartitions: string[] }>;
  stop(): Promise<void>;
}

const dayMs = 86_400_000;

export function createMaintenance(options: MaintenanceOptions): Maintenance {
  const { database, writer } = options;
  const log = options.log.child({ component: 'logs-maintenance' });
  const schema = database.schema;
  let timer: NodeJS.Timeout | undefined;
  let round: Promise<unknown> | undefined;
  let stopped = false;

  async function runOnce(): Promise<{ deletedLines: number; droppedPartitions: string[] }> {
    const today = Math.floor(Date.now() / dayMs);
    await writer.ensurePartitions([today, today + 1]);
    const client = await database.pool.connect();
    let deletedLines = 0;
    const droppedPartitions: string[] = [];
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
        for (const { name } of partitions.rows) {
          const m = /^log_lines_(\d{4})(\d{2})(\d{2})$/.exec(name);
          if (!m) continue;
          const day = Math.floor(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) / dayMs);
          if (day < cutoff) {
            await client.query(`drop table "${schema}".${name}`);
            droppedPartitions.push(name);
          }
        }
      } finally {
        await client.query('select pg_advisory_unlock(hashtext($1))', [`${schema}.maintenance`]);
      }
    } finally {
      client.release();
    }
    if (deletedLines > 0 || droppedPartitions.length > 0)
      log.info({ deletedLines, droppedPartitions }, 'old lines removed');
    return { deletedLines, droppedPartitions };
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
