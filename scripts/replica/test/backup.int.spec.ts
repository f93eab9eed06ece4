/**
 * Off-site backups for real: a private PostgreSQL cluster archiving its WAL with pgBackRest, the
 * real chat service posting and storing attachments on it, backups (full, incremental; the uploads
 * with restic) to a chrooted account on a local OpenSSH SFTP server, then scripts/restore-drill:
 * it passes from that backup, fails when what it must find is not there, and recovers to a point in
 * time before a destructive mistake.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  asPostgres,
  backupEnv,
  endpoint,
  freePort,
  startPrimary,
  node,
  nodeRunning,
  pgBin,
  postgresDir,
  query,
  removeDir,
  replicaPath,
  root,
  type Node,
} from './support/clusters.ts';
import { startChatTraffic, type ChatTraffic } from './support/chat-traffic.ts';
import { startSftpServer, type SftpServer } from './support/sftp-server.ts';

const missing = ['pgbackrest', 'restic', 'sshfs', 'ssh-keygen', '/usr/sbin/sshd'].filter(
  (c) => spawnSync('sh', ['-c', `command -v ${c}`]).status !== 0,
);
const unavailable = !pgBin
  ? 'no PostgreSQL server binaries'
  : process.getuid?.() !== 0
    ? 'needs root (a chroot SFTP account, sshfs)'
    : missing.length > 0
      ? `missing ${missing.join(', ')} (apt-get install pgbackrest restic sshfs openssh-server)`
      : false;

describe('off-site backup over SFTP and the restore drill', { skip: unavailable }, () => {
  let dir: string;
  let p: Node;
  let sftp: SftpServer;
  let traffic: ChatTraffic;
  let env: NodeJS.ProcessEnv;
  const figures: string[] = [];

  const script = (name: string, args: string[]) => {
    const t0 = Date.now();
    const result = spawnSync(path.join(root, 'scripts', name), args, {
      encoding: 'utf8',
      env: { ...process.env, ...env },
      timeout: 170_000,
    });
    return { status: result.status, output: `${result.stdout}${result.stderr}`, ms: Date.now() - t0 };
  };

  before(async () => {
    dir = postgresDir('backup');
    sftp = await startSftpServer();
    const state = path.join(dir, 'state');
    mkdirSync(state, { mode: 0o755 });
    writeFileSync(path.join(state, 'restic-password'), 'drill-password\n', { mode: 0o600 });
    p = node('p', dir, await freePort());
    traffic = undefined as unknown as ChatTraffic;
    env = {
      PATH: replicaPath,
      VECHE_PG_BIN: pgBin,
      ...backupEnv(p, state, sftp, dir),
      VECHE_BACKUP_METRICS_DIR: path.join(dir, 'metrics'),
    };
    // The server archives through veche-pgbackrest-archive with the configuration scripts/backup writes.
    startPrimary(p, { PATH: env['PATH'], PGBACKREST_CONFIG: path.join(state, 'pgbackrest.conf') });
    traffic = await startChatTraffic(endpoint(dir, p).url('veche'));
    env['VECHE_UPLOADS_DIR'] = traffic.uploadsDir;
  });

  after(async () => {
    await traffic?.close();
    if (p && nodeRunning(p)) asPostgres('pg_ctl', ['-D', p.data, '-m', 'immediate', 'stop']);
    const mount = path.join(dir, 'state', 'sftp');
    if (existsSync(mount)) spawnSync('fusermount', ['-u', mount]);
    await sftp?.stop();
    if (figures.length) console.log(`[backup figures]\n${figures.join('\n')}`);
    if (dir) removeDir(dir);
  });

  it('init creates the stanza and the restic repository on the SFTP account, and WAL reaches it', () => {
    const result = script('backup', ['init']);
    assert.equal(result.status, 0, result.output);
    assert.ok(
      existsSync(path.join(sftp.accountDir, 'pgbackrest/archive/veche')),
      'pgBackRest archive on the account',
    );
    assert.ok(existsSync(path.join(sftp.accountDir, 'restic/config')), 'restic repository on the account');
    const again = script('backup', ['init']);
    assert.equal(again.status, 0, again.output);
  });

  it('takes a full and an incremental backup and an uploads snapshot while chat traffic flows', async () => {
    traffic.startPosting(2);
    const files = [
      await traffic.upload('notes.txt', Buffer.from('the minutes of the meeting\n'), 'text/plain'),
      await traffic.upload('data.json', Buffer.from(JSON.stringify({ a: 1, b: [2, 3] })), 'application/json'),
    ];
    const full = script('backup', ['database', '--type', 'full']);
    assert.equal(full.status, 0, full.output);
    const uploads = script('backup', ['uploads']);
    assert.equal(uploads.status, 0, uploads.output);
    await traffic.firstAckAfter(Date.now() + 500);
    const incr = script('backup', ['database', '--type', 'incr']);
    assert.equal(incr.status, 0, incr.output);
    // Each success is recorded for Prometheus (node exporter's textfile collector, the BackupTooOld
    // alert), in a file promtool accepts.
    for (const kind of ['database', 'uploads']) {
      const file = path.join(dir, 'metrics', `veche-backup-${kind}.prom`);
      const text = readFileSync(file, 'utf8');
      const stamp = Number(
        new RegExp(`^veche_backup_last_success_timestamp_seconds\\{kind="${kind}"\\} (\\d+)$`, 'm').exec(
          text,
        )?.[1],
      );
      assert.ok(Math.abs(stamp - Date.now() / 1000) < 600, `${kind}: ${text}`);
      const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      assert.equal(check.status, 0, check.stdout + check.stderr);
    }
    await traffic.stopPosting();
    figures.push(
      `full backup ${full.ms} ms, incremental ${incr.ms} ms, uploads snapshot ${uploads.ms} ms (${files.length} files)`,
    );
    const info = spawnSync('pgbackrest', ['--stanza=veche', 'info'], {
      encoding: 'utf8',
      env: { ...process.env, PGBACKREST_CONFIG: path.join(dir, 'state/pgbackrest.conf') },
    });
    assert.match(info.stdout, /full backup/);
    assert.match(info.stdout, /incr backup/);
  });

  it('the restore drill restores the latest backup and finds every row, the newest message and every file', async () => {
    traffic.startPosting(1);
    await traffic.firstAckAfter(Date.now() + 300);
    await traffic.stopPosting();
    const newest = traffic.acks.at(-1)!;
    const result = script('restore-drill', ['--source', p.url('veche')]);
    assert.equal(result.status, 0, result.output);
    assert.match(result.output, new RegExp(`ok    message ${newest.messageId} readable`));
    assert.match(result.output, /ok    schema chat has at least the source's \d+ rows/);
    assert.match(result.output, /ok    every attachment's file restored with its sha256 \(2\/2\)/);
    figures.push(`restore drill ${result.ms} ms: ${result.output.match(/drill finished in .*/)?.[0]}`);
  });

  it('the restore drill fails when the message it must find is not in the backup', () => {
    const result = script('restore-drill', ['--expect-message', 'no-such-message', '--no-uploads']);
    assert.notEqual(result.status, 0);
    assert.match(result.output, /FAIL  message no-such-message readable/);
  });

  it('the restore drill fails when an uploaded file is missing from the uploads snapshot', async () => {
    // A file stored after the last uploads snapshot: the database has it, the restic snapshot does not.
    await traffic.upload('late.txt', Buffer.from('too late for the snapshot\n'), 'text/plain');
    const result = script('restore-drill', ['--source', p.url('veche')]);
    assert.notEqual(result.status, 0, result.output);
    assert.match(result.output, /FAIL  every attachment's file restored with its sha256 \(2\/3\)/);
  });

  it('recovers to a point in time before a destructive mistake', async () => {
    traffic.startPosting(1);
    await traffic.firstAckAfter(Date.now() + 300);
    await traffic.stopPosting();
    const kept = traffic.acks.at(-1)!;
    const [{ t }] = (await query<{ t: string }>(p.url('veche'), 'select now()::text as t')) as [
      { t: string },
    ];
    // Commit timestamps are what recovery compares: the mistake must be strictly later.
    await query(p.url('veche'), 'select pg_sleep(0.05)');
    await query(p.url('veche'), 'delete from chat.messages');
    await query(p.url(), 'select pg_switch_wal()');
    const result = script('restore-drill', [
      '--target-time',
      t,
      '--expect-message',
      kept.messageId,
      '--no-uploads',
    ]);
    assert.equal(result.status, 0, result.output);
    assert.match(result.output, /point-in-time recovery to/);
    assert.match(result.output, new RegExp(`ok    message ${kept.messageId} readable`));
    const latest = script('restore-drill', ['--expect-message', kept.messageId, '--no-uploads']);
    assert.notEqual(latest.status, 0, 'without a target the deletion is replayed too');
    figures.push(`point-in-time restore ${result.ms} ms`);
  });
});
