/**
 * RPO and RTO of the standby (issue 17): two private PostgreSQL clusters (streaming, a slot), the
 * real chat service posting through the failover endpoint with several posters, and for each round:
 * kill -9 the primary's postmaster mid-traffic, run scripts/failover, measure the time from the death
 * to the first acknowledged post sent after it (RTO) and count the acknowledged posts the new primary
 * lacks (RPO), then scripts/failback. Rounds alternate asynchronous and synchronous commit.
 * With --backup (root, pgbackrest, restic, sshfs, openssh-server): a full and an incremental backup to
 * a local chrooted SFTP account, an uploads snapshot, and the restore drill, timed.
 *
 * Usage: node bench/replica.ts [--rounds 6] [--posters 4] [--warmup-ms 3000] [--backup]
 * Prints one line per round and a summary (min / median / max). Never touches the shared 5432 server.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  asPostgres,
  backupEnv as clusterBackupEnv,
  killPostmaster,
  pgBin,
  query,
  quick,
  replicaPath,
  runReplicaScript,
  startFailoverPair,
  startNode,
} from '../scripts/replica/test/support/clusters.ts';
import { startChatTraffic } from '../scripts/replica/test/support/chat-traffic.ts';
import { startSftpServer } from '../scripts/replica/test/support/sftp-server.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '6' },
    posters: { type: 'string', default: '4' },
    'warmup-ms': { type: 'string', default: '3000' },
    backup: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(
    readFileSync(import.meta.filename, 'utf8')
      .split('*/')[0]!
      .replace(/^\/\*\*|^ \* ?/gm, ''),
  );
  process.exit(0);
}
if (!pgBin) throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql');

/** Runs scripts/<name>, failing the bench if it fails; its wall time in ms. */
const script = (name: string, args: string[], env: NodeJS.ProcessEnv) => {
  const t0 = Date.now();
  const result = runReplicaScript(name, args, env, 0);
  if (result.status !== 0) throw new Error(`${name} ${args.join(' ')} failed:\n${result.output}`);
  return Date.now() - t0;
};
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? `${s[0]} / ${s[Math.floor(s.length / 2)]} / ${s.at(-1)}` : '-';
};
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

const pair = await startFailoverPair('bench-replica');
const { dir, env } = pair;
const [a, b] = pair.nodes;
const traffic = await startChatTraffic(pair.url('veche'));
console.log(
  `replica bench: ${values.rounds} rounds, ${values.posters} posters; load average at start ${load()}`,
);

const rto: Record<string, number[]> = { async: [], sync: [] };
const lost: Record<string, number[]> = { async: [], sync: [] };
const failbacks: number[] = [];
let primary = a;
let standby = b;
try {
  for (let round = 0; round < Number(values.rounds); round += 1) {
    const mode = round % 2 === 0 ? 'async' : 'sync';
    failbacks.push(script('failback', mode === 'sync' ? ['--sync'] : [], env) ?? 0);
    if (mode === 'async') {
      await query(primary.url(), "alter system set synchronous_standby_names = ''");
      await query(primary.url(), 'select pg_reload_conf()');
    }
    traffic.startPosting(Number(values.posters));
    await traffic.firstAckAfter(Date.now() + Number(values['warmup-ms']));
    const died = Date.now();
    killPostmaster(primary);
    const failover = script('failover', [], env);
    const first = await traffic.firstAckAfter(died);
    await traffic.stopPosting();
    const present = new Set(
      (await query<{ id: string }>(standby.url('veche'), 'select id from chat.messages')).map((r) => r.id),
    );
    const missing = traffic.acks.filter((x) => !present.has(x.messageId)).length;
    rto[mode]!.push(first.at - died);
    lost[mode]!.push(missing);
    console.log(
      `round ${round + 1} (${mode}): RTO ${first.at - died} ms (failover script ${failover} ms), ` +
        `acknowledged ${traffic.acks.length}, lost ${missing}; load ${load()}`,
    );
    [primary, standby] = [standby, primary];
  }
  failbacks.push(script('failback', [], env));
  console.log(`RTO async min/median/max: ${stats(rto['async']!)} ms; lost: ${lost['async']!.join(', ')}`);
  console.log(`RTO sync  min/median/max: ${stats(rto['sync']!)} ms; lost: ${lost['sync']!.join(', ')}`);
  console.log(`failback (rewind + streaming) min/median/max: ${stats(failbacks.slice(1))} ms`);

  if (values.backup) {
    const sftp = await startSftpServer();
    const state = path.join(dir, 'backup-state');
    spawnSync('mkdir', ['-p', state]);
    writeFileSync(path.join(state, 'restic-password'), 'bench\n', { mode: 0o600 });
    const backupEnv = {
      ...env,
      ...clusterBackupEnv(primary, state, sftp, dir),
      VECHE_UPLOADS_DIR: traffic.uploadsDir,
    };
    try {
      // The primary archives with the configuration scripts/backup writes: restart it with that path.
      asPostgres('pg_ctl', ['-D', primary.data, '-m', 'fast', '-w', 'stop']);
      startNode(primary, quick, {
        PATH: replicaPath,
        PGBACKREST_CONFIG: path.join(state, 'pgbackrest.conf'),
      });
      await traffic.upload('bench.txt', Buffer.from('bench attachment\n'), 'text/plain');
      const init = script('backup', ['init'], backupEnv);
      const full = script('backup', ['database', '--type', 'full'], backupEnv);
      const incr = script('backup', ['database', '--type', 'incr'], backupEnv);
      const uploads = script('backup', ['uploads'], backupEnv);
      const drill = script('restore-drill', ['--source', primary.url('veche')], backupEnv);
      console.log(
        `backup over SFTP: init ${init} ms, full ${full} ms, incremental ${incr} ms, uploads ${uploads} ms; restore drill ${drill} ms; load ${load()}`,
      );
    } finally {
      spawnSync('fusermount', ['-u', path.join(state, 'sftp')]);
      await sftp.stop();
    }
  }
} finally {
  await traffic.close();
  pair.stop();
}
