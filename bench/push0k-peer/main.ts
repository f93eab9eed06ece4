/**
 * Runs the push0k scenario against the push0k-style peer (server.ts in a child process, as push0k ran
 * alone under pm2 with one process) and checks the database afterwards: one row per message and one
 * per delivery receipt. `node bench/push0k.ts --side-by-side` calls {@link runPeerBench} before Veche.
 *
 * Usage: node bench/push0k-peer/main.ts [--users 5] [--messages 50000] [--in-flight 100]
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { runPeerLoad, type PeerLoadResult } from './load.ts';
import { seedPeer } from './server.ts';

export interface PeerBenchResult extends PeerLoadResult {
  messageRows: number;
  receiptRows: number;
  serverCpuSeconds: number;
}

async function cpuSeconds(pid: number | undefined): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export async function runPeerBench(options: {
  databaseUrl: string;
  users: number;
  messagesPerUser: number;
  inFlight: number;
  onProgress?: (line: string) => void;
}): Promise<PeerBenchResult> {
  const schema = `bench_push0k_peer_${randomBytes(4).toString('hex')}`;
  const users = Array.from({ length: options.users }, (_, i) => ({
    id: `peeruser${i}`,
    password: randomBytes(9).toString('base64url'),
  }));
  const roomId = 'push0k';
  await seedPeer(options.databaseUrl, schema, users, roomId);
  const server = spawn(process.execPath, [new URL('./server.ts', import.meta.url).pathname], {
    env: { ...process.env, DATABASE_URL: options.databaseUrl, PEER_SCHEMA: schema, PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const admin = new pg.Client({ connectionString: options.databaseUrl });
  await admin.connect();
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let buffer = '';
      server.stdout.on('data', (chunk: Buffer) => {
        buffer += chunk.toString('utf8');
        const match = /"url":"([^"]+)"/.exec(buffer);
        if (match) resolve(match[1]!);
      });
      server.once('exit', (code) => reject(new Error(`the peer server exited with ${code}`)));
    });
    const cpuBefore = await cpuSeconds(server.pid);
    const result = await runPeerLoad({
      url,
      users,
      roomId,
      messagesPerUser: options.messagesPerUser,
      inFlight: options.inFlight,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    const serverCpuSeconds = (await cpuSeconds(server.pid)) - cpuBefore;
    const count = async (table: string) =>
      Number((await admin.query<{ n: string }>(`select count(*) as n from "${schema}".${table}`)).rows[0]!.n);
    return {
      ...result,
      messageRows: await count('messages'),
      receiptRows: await count('receipts'),
      serverCpuSeconds,
    };
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => (server.exitCode === null ? server.once('exit', resolve) : resolve(null)));
    await admin.query(`drop schema if exists "${schema}" cascade`);
    await admin.end();
  }
}

export function describePeer(result: PeerBenchResult): string[] {
  const seconds = result.totalMs / 1000;
  return [
    `total time                ${seconds.toFixed(1)} s (posts finished at ${(result.postsDoneMs / 1000).toFixed(1)} s)`,
    `messages                  ${result.messages.toLocaleString()} (${Math.round(result.messages / seconds).toLocaleString()}/s), ${result.messageRows.toLocaleString()} rows`,
    `deliveries                ${result.deliveries.toLocaleString()} of ${result.deliveriesExpected.toLocaleString()} (${Math.round(result.deliveries / seconds).toLocaleString()}/s)`,
    `receipts                  ${result.receiptsAcknowledged.toLocaleString()} acknowledged, ${result.receiptRows.toLocaleString()} rows`,
    `latency post→delivery     p50 ${result.p50Ms.toFixed(0)} ms, p99 ${result.p99Ms.toFixed(0)} ms, max ${result.maxMs.toFixed(0)} ms`,
    `lost / duplicated         ${result.lost} / ${result.duplicated}`,
    `CPU used by the server    ${result.serverCpuSeconds.toFixed(1)} s (load average ${loadavg()[0]!.toFixed(1)})`,
  ];
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      users: { type: 'string', default: '5' },
      messages: { type: 'string', default: '50000' },
      'in-flight': { type: 'string', default: '100' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      'Usage: node bench/push0k-peer/main.ts [--users 5] [--messages 50000 per user] [--in-flight 100 posts per user]\n' +
        '  The push0k scenario against a push0k-style server (socket.io + pg, a row per message and receipt).\n' +
        '  TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/veche_test)\n',
    );
    process.exit(0);
  }
  const result = await runPeerBench({
    databaseUrl: process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/veche_test',
    users: Number(values.users),
    messagesPerUser: Number(values.messages),
    inFlight: Number(values['in-flight']),
    onProgress: (line) => process.stdout.write(`  ${line}\n`),
  });
  process.stdout.write(`push0k-style peer\n${describePeer(result).join('\n')}\n`);
  const ok =
    result.lost === 0 &&
    result.duplicated === 0 &&
    result.messageRows === result.messages &&
    result.receiptRows === result.deliveriesExpected;
  process.exit(ok ? 0 : 1);
}
