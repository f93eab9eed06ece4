/**
 * An in-process mailer on its own schema and queues, sending to a real SMTP server process: what the
 * delivery and notification tests both start before and tear down after.
 */
import { createLogger, type Logger } from '@veche/log';
import { createTestDatabase, type TestDatabase } from '@veche/testing';
import { createMailer, type Mailer } from '../../src/app.ts';
import type { MailerConfig } from '../../src/env.ts';
import { openTestBus, type TestBus } from './bus.ts';
import { cleanUp } from './cleanup.ts';
import { queuesOf } from './config.ts';
import { startSinkProcess, type SinkProcess } from './sink-process.ts';

export interface MailerHarness {
  log: Logger;
  database: TestDatabase;
  sink: SinkProcess;
  bus: TestBus;
  mailer: Mailer;
  /** Stops and removes everything, every step even when one fails. */
  close(): Promise<void>;
}

export async function startMailerHarness(config: MailerConfig, testFile: string): Promise<MailerHarness> {
  const log = createLogger({ service: 'mailer-test', level: config.LOG_LEVEL });
  const parts: Partial<MailerHarness> = { log };
  const close = () =>
    cleanUp(
      () => parts.mailer?.stop(),
      () => parts.bus?.close(),
      () => parts.sink?.stop(),
      () => parts.database?.drop(),
    );
  try {
    parts.database = await createTestDatabase({ name: testFile, poolSize: 5 });
    parts.sink = await startSinkProcess();
    parts.bus = await openTestBus(config.MAILER_EXCHANGE, () => queuesOf(config));
    parts.mailer = createMailer({
      config,
      log,
      smtpUrl: parts.sink.smtpUrl,
      database: parts.database,
      http: false,
    });
    await parts.mailer.start();
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
  return { ...(parts as Omit<MailerHarness, 'close'>), close };
}
