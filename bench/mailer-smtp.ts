/**
 * Mails per second from the mailer to a local SMTP server (the mailer's sink, smtp-server +
 * mailparser, in a process of its own), measured two ways:
 *   transport: nodemailer's pooled transport alone, `--mails` sends at once;
 *   outbox:    the mailer's real path: mails queued in the PostgreSQL outbox, claimed by the sender
 *              (`for update skip locked`, rate limit), sent through the pool, each outcome recorded.
 * Creates its own schema and removes it afterwards.
 *
 * Usage: node bench/mailer-smtp.ts [--mails 2000] [--connections 10] [--in-flight 200] [--rate 100000]
 * Reads DATABASE_URL (default: the test database).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { sealMailToken } from '@veche/contracts';
import { createDatabase, ensureDatabaseExists, migrate, sql } from '@veche/db';
import { createLogger } from '@veche/log';
import { mailerMigrations } from '../services/mailer/migrations/index.ts';
import { mailsForRegistration } from '../services/mailer/src/domain/mails.ts';
import { enqueueMails } from '../services/mailer/src/outbox.ts';
import { createSender } from '../services/mailer/src/sender.ts';
import { createMailTransport } from '../services/mailer/src/transport.ts';

const { values } = parseArgs({
  options: {
    mails: { type: 'string', default: '2000' },
    connections: { type: 'string', default: '10' },
    'in-flight': { type: 'string', default: '200' },
    rate: { type: 'string', default: '100000' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(`Usage: node bench/mailer-smtp.ts [--mails 2000] [--connections 10] [--in-flight 200] [--rate 100000]
  Mails per second from the mailer to a local SMTP server (the development sink, its own process):
  nodemailer's pooled transport alone, then the mailer's real path (PostgreSQL outbox, claim,
  rate limit, send, outcome recorded). Prints mails/s for each.
  --mails        mails per measurement
  --connections  SMTP connections in the pool
  --in-flight    sends at once
  --rate         the sender's rate limit (mails per minute)
  -h, --help     this text
  Reads DATABASE_URL (default: the test database).`);
  process.exit(0);
}
const total = Number(values.mails);
const connections = Number(values.connections);
const databaseUrl =
  process.env['DATABASE_URL'] ??
  process.env['TEST_DATABASE_URL'] ??
  'postgres://postgres@127.0.0.1:5432/veche_test';
const schema = `bench_mailer_${randomBytes(4).toString('hex')}`;
const log = createLogger({ service: 'bench', level: 'warn' });
const from = 'Veche <no-reply@veche.bench>';
const brand = { productName: 'Veche', publicUrl: 'https://veche.bench' };
const mailTokenSecret = 'bench-mail-token-secret-0123456789';

async function startSink(): Promise<{ smtpUrl: string; stop: () => void }> {
  const entry = fileURLToPath(new URL('../services/mailer/src/dev-sink/main.ts', import.meta.url));
  const sink = spawn(process.execPath, [entry], {
    env: { ...process.env, MAIL_SINK_SMTP_PORT: '0', MAIL_SINK_WEB_PORT: '0', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ports = await new Promise<{ smtpPort: number; webPort: number }>((resolve, reject) => {
    sink.once('exit', (code) => reject(new Error(`the sink exited with ${code}`)));
    createInterface({ input: sink.stdout }).on('line', (line) => {
      const parsed = JSON.parse(line) as { msg?: string; smtpPort?: number; webPort?: number };
      if (parsed.msg === 'mail sink listening' && parsed.smtpPort && parsed.webPort) {
        resolve({ smtpPort: parsed.smtpPort, webPort: parsed.webPort });
      }
    });
  });
  return {
    smtpUrl: `smtp://127.0.0.1:${ports.smtpPort}`,
    stop: () => sink.kill('SIGTERM'),
  };
}

const draftFor = (n: number) =>
  mailsForRegistration(brand, `bench-${n}`, {
    userId: `user-${n}`,
    email: `user-${n}@example.org`,
    displayName: `User ${n}`,
    locale: n % 2 ? 'ru' : 'en',
    sealedToken: sealMailToken(mailTokenSecret, 'verify_email', `user-${n}`, randomBytes(16).toString('hex')),
  });

async function benchTransport(smtpUrl: string): Promise<number> {
  const transport = createMailTransport({ url: smtpUrl, maxConnections: connections, log });
  const drafts = Array.from({ length: total }, (_, n) => draftFor(n)[0]!);
  const started = performance.now();
  const results = await Promise.all(
    drafts.map((d, n) =>
      transport.send({
        from,
        to: { name: d.toName, address: d.to },
        subject: d.subject,
        text: d.text,
        html: d.html,
        messageId: `<t${n}@veche.bench>`,
        headers: d.headers,
      }),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  transport.close();
  const failed = results.filter((r) => !r.ok).length;
  if (failed > 0) throw new Error(`${failed} mails failed through the transport`);
  return total / seconds;
}

async function benchOutbox(smtpUrl: string): Promise<number> {
  await ensureDatabaseExists(databaseUrl);
  const database = createDatabase<unknown>({ url: databaseUrl, schema, poolSize: 8 });
  try {
    await migrate(database, mailerMigrations);
    for (let n = 0; n < total; n += 500) {
      await database.db.transaction().execute(async (trx) => {
        for (let i = n; i < Math.min(n + 500, total); i++)
          await enqueueMails(trx, draftFor(total + i), { from });
      });
    }
    const transport = createMailTransport({ url: smtpUrl, maxConnections: connections, log });
    const sender = createSender({
      database,
      transport,
      log,
      from,
      policy: { baseMs: 60_000, maxMs: 86_400_000, maxAttempts: 13 },
      ratePerSecond: Number(values.rate),
      maxInFlight: Number(values['in-flight']),
      pollIntervalMs: 20,
      sendingLeaseMs: 600_000,
      linkTokenSecret: mailTokenSecret,
    });
    const started = performance.now();
    sender.start();
    for (;;) {
      const { rows } = await sql<{
        n: number;
      }>`select count(*)::int as n from mails where state = 'sent'`.execute(database.db);
      if ((rows[0]?.n ?? 0) >= total) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const seconds = (performance.now() - started) / 1000;
    await sender.stop();
    transport.close();
    const stats = sender.stats();
    if (stats.deferred + stats.failed > 0) throw new Error(`not all sent: ${JSON.stringify(stats)}`);
    return total / seconds;
  } finally {
    await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(database.db);
    await database.close();
  }
}

const sink = await startSink();
try {
  const transportRate = await benchTransport(sink.smtpUrl);
  const outboxRate = await benchOutbox(sink.smtpUrl);
  console.log(
    `mailer-smtp: ${total} mails, ${connections} SMTP connections\n` +
      `  transport (pool only):                 ${transportRate.toFixed(0)} mails/s\n` +
      `  outbox → sender → pool → relay, recorded: ${outboxRate.toFixed(0)} mails/s`,
  );
} finally {
  sink.stop();
}
