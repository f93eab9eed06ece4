#!/usr/bin/env node
/** CLI: drop a service's read models and rebuild them from its event log (see src/rebuild.ts). */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createDatabase } from '@veche/db';
import { createLogger } from '@veche/log';
import { rebuildReadModels } from '../src/rebuild.ts';
import type { InlineProjection } from '../src/types.ts';

const usage = `Usage: node libs/event-store/bin/rebuild-read-models.ts --read-models MODULE --schema NAME

Empties a service's read models and replays its whole event log through them, in one transaction
that holds the service's appends back meanwhile (the API keeps answering from the old read models
until the commit). Safe while the service runs; run it after a projection changed, or to repair one.

Options:
  --read-models MODULE  the service's projections module, whose \`readModels\` export lists its inline
                        projections, e.g. services/chat/src/projections/index.ts
  --schema NAME         the service's PostgreSQL schema (chat: CHAT_DB_SCHEMA, default chat)
  --batch-size N        events per round (default 1000)
  -h, --help            this text

Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/veche), LOG_LEVEL (default info).
Exit codes: 0 rebuilt, 1 the rebuild failed (nothing changed: it is one transaction), 2 bad usage.

Services: chat  --read-models services/chat/src/projections/index.ts --schema chat`;

function isProjection(value: unknown): value is InlineProjection {
  return (
    typeof value === 'object' &&
    value !== null &&
    'name' in value &&
    'apply' in value &&
    'reset' in value &&
    typeof value.apply === 'function' &&
    typeof value.reset === 'function'
  );
}

/** A `readModels` that is a function of the schema, for projections that need it (see ReadModels). */
const ofSchema = (value: unknown): value is (context: { schema: string }) => unknown =>
  typeof value === 'function';

/** The projections the module's `readModels` export declares, or why it declares none. */
async function loadReadModels(path: string, schema: string): Promise<readonly InlineProjection[] | string> {
  const module: unknown = await import(pathToFileURL(isAbsolute(path) ? path : resolve(path)).href);
  const declared: unknown =
    typeof module === 'object' && module !== null && 'readModels' in module ? module.readModels : undefined;
  const projections: unknown = ofSchema(declared) ? declared({ schema }) : declared;
  if (!Array.isArray(projections) || projections.length === 0 || !projections.every(isProjection))
    return `${path} exports no \`readModels\` list of projections with apply and reset`;
  return projections;
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        'read-models': { type: 'string' },
        schema: { type: 'string' },
        'batch-size': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${usage}`);
    return 2;
  }
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const modulePath = values['read-models'];
  const schema = values.schema;
  if (!modulePath || !schema || !/^[a-z_][a-z0-9_]*$/.test(schema)) {
    console.error(`Give --read-models and --schema (a PostgreSQL schema name).\n\n${usage}`);
    return 2;
  }
  const batchSize = Number(values['batch-size'] ?? 1_000);
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    console.error(`--batch-size must be a positive integer, not ${JSON.stringify(values['batch-size'])}`);
    return 2;
  }
  const projections = await loadReadModels(modulePath, schema);
  if (typeof projections === 'string') {
    console.error(projections);
    return 2;
  }
  const log = createLogger({ service: 'rebuild-read-models', level: process.env['LOG_LEVEL'] ?? 'info' });
  const database = createDatabase<unknown>({
    url: process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/veche',
    schema,
    poolSize: 2,
    applicationName: 'rebuild-read-models',
  });
  const started = Date.now();
  try {
    log.info({ schema, projections: projections.map((p) => p.name) }, 'rebuilding read models');
    let reported = 0;
    const result = await rebuildReadModels({
      database,
      projections,
      batchSize,
      onProgress: ({ events, position }) => {
        if (events - reported < 10_000) return;
        reported = events;
        log.info({ events, position }, 'replaying');
      },
    });
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    log.info({ ...result, seconds }, 'read models rebuilt');
    console.log(`${result.events} events replayed into ${result.projections.join(', ')} in ${seconds} s`);
    return 0;
  } finally {
    await database.close();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`rebuild failed: ${(error as Error).message}`);
    process.exit(1);
  },
);
