#!/usr/bin/env node
/** CLI: send the events kept in `veche.events.unrouted` to the exchange again. */
import { parseArgs } from 'node:util';
import { createLogger } from '@veche/log';
import { replayUnrouted } from '../src/unrouted.ts';

const usage = `Usage: node libs/bus/bin/replay-unrouted.ts [--exchange NAME] [--limit N]

Publishes again the integration events that were published while no queue was bound for their type
(kept in <exchange>.unrouted), for example after deploying the consumer that wants them. An event that
still has no queue goes back to the unrouted queue. Safe to repeat: consumers are idempotent.

Options:
  --exchange NAME  the topic exchange (default veche.events)
  --limit N        replay at most N events (default: all the queue holds now)
  -h, --help       this text

Environment: AMQP_URL (default amqp://guest:guest@127.0.0.1:5672), LOG_LEVEL (default info).`;

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        exchange: { type: 'string' },
        limit: { type: 'string' },
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
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
    console.error(`--limit must be a positive integer, not ${JSON.stringify(values.limit)}`);
    return 2;
  }
  const log = createLogger({ service: 'replay-unrouted', level: process.env['LOG_LEVEL'] ?? 'info' });
  const result = await replayUnrouted({
    url: process.env['AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672',
    log,
    ...(values.exchange ? { exchange: values.exchange } : {}),
    ...(limit ? { limit } : {}),
  });
  console.log(`${result.delivered} delivered, ${result.stillUnrouted} still without a queue`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`replay failed: ${(error as Error).message}`);
    process.exit(1);
  },
);
