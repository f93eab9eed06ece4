#!/usr/bin/env node
/** CLI: move a consumer's classic queues to quorum queues (see src/migrate.ts). */
import { parseArgs } from 'node:util';
import { createLogger } from '@veche/log';
import { migrateToQuorum } from '../src/migrate.ts';

const usage = `Usage: node libs/bus/bin/migrate-to-quorum.ts --queue NAME --binding KEY [--binding KEY…] [--exchange NAME]

Moves the consumer queue NAME, its retry queues and its dead-letter queue from classic to quorum queues
(a queue's type is fixed when declared, so each is emptied into a temporary quorum queue, declared
again, and refilled). Stop the service that consumes NAME first (docker service scale …=0); publishers
may keep running: the temporary queue carries the same bindings, and an event that arrives twice is
absorbed by the consumer's inbox. Does nothing for a queue that is already quorum. The consumers'
queues and bindings are listed in docs/operations.md ("Quorum queues").

Options:
  --queue NAME     the consumer's queue, e.g. mailer.events
  --binding KEY    a routing key the consumer binds (repeat for each)
  --exchange NAME  the topic exchange (default veche.events)
  -h, --help       this text

Environment: AMQP_URL (default amqp://guest:guest@127.0.0.1:5672), LOG_LEVEL (default info).`;

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        queue: { type: 'string' },
        binding: { type: 'string', multiple: true },
        exchange: { type: 'string' },
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
  if (!values.queue || !values.binding?.length) {
    console.error(`--queue and at least one --binding are required\n\n${usage}`);
    return 2;
  }
  const log = createLogger({ service: 'migrate-to-quorum', level: process.env['LOG_LEVEL'] ?? 'info' });
  const result = await migrateToQuorum({
    url: process.env['AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672',
    log,
    queue: values.queue,
    bindings: values.binding,
    ...(values.exchange ? { exchange: values.exchange } : {}),
  });
  const total = Object.values(result.moved).reduce((a, b) => a + b, 0);
  console.log(
    result.migrated
      ? `${values.queue} is now a quorum queue (${total} messages moved)`
      : `${values.queue} was already a quorum queue`,
  );
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`migration failed: ${(error as Error).message}`);
    process.exit(1);
  },
);
