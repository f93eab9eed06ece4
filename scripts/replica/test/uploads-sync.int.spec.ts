/**
 * The uploads sync of ADR 0012 for real: the chat stores attachments, lsyncd (replica/bin/
 * veche-uploads-sync, with the repository's lsyncd.lua) pushes them to an rsync daemon
 * (replica/bin/veche-uploads-mirror) standing in for the standby node; every file arrives with its
 * content, a mirror that was down catches up when it returns, and nothing is deleted on the mirror.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { eventually } from '@veche/testing';
import {
  asPostgres,
  endpoint,
  freePort,
  startPrimary,
  node,
  nodeRunning,
  pgBin,
  postgresDir,
  removeDir,
  root,
  type Node,
} from './support/clusters.ts';
import { startChatTraffic, type ChatTraffic } from './support/chat-traffic.ts';

const missing = ['lsyncd', 'rsync'].filter((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status !== 0);
const unavailable = !pgBin
  ? 'no PostgreSQL server binaries'
  : missing.length
    ? `missing ${missing.join(', ')} (apt-get install lsyncd rsync)`
    : false;

describe('uploads synced to the standby (lsyncd → rsync daemon)', { skip: unavailable }, () => {
  let dir: string;
  let p: Node;
  let traffic: ChatTraffic;
  let mirrorDir: string;
  let mirrorPort: number;
  let mirror: ChildProcess | undefined;
  let sync: ChildProcess | undefined;
  let output = '';
  const figures: string[] = [];
  const password = () => path.join(dir, 'sync-password');

  const startMirror = () => {
    mirror = spawn(path.join(root, 'replica/bin/veche-uploads-mirror'), [], {
      env: {
        ...process.env,
        VECHE_UPLOADS_DIR: mirrorDir,
        VECHE_SYNC_PORT: String(mirrorPort),
        VECHE_SYNC_PASSWORD_FILE: password(),
        VECHE_SYNC_ALLOW: '127.0.0.1',
        VECHE_SYNC_STATE: path.join(dir, 'mirror-state'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    mirror.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  };
  const stop = async (child: ChildProcess | undefined) => {
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
  const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
  const mirrored = (uploadsDir: string, id: string) => path.join(mirrorDir, id.slice(-2), id);

  before(async () => {
    dir = postgresDir('uploads-sync');
    p = node('p', dir, await freePort());
    startPrimary(p);
    traffic = await startChatTraffic(endpoint(dir, p).url('veche'));
    mirrorDir = path.join(dir, 'mirror');
    mkdirSync(mirrorDir);
    writeFileSync(password(), 'sync-secret\n', { mode: 0o600 });
    mirrorPort = await freePort();
    startMirror();
    sync = spawn(path.join(root, 'replica/bin/veche-uploads-sync'), [], {
      env: {
        ...process.env,
        VECHE_UPLOADS_DIR: traffic.uploadsDir,
        VECHE_SYNC_TARGET: `rsync://veche@127.0.0.1:${mirrorPort}/uploads`,
        VECHE_SYNC_PASSWORD_FILE: password(),
        VECHE_SYNC_STATE: path.join(dir, 'sync-state'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    sync.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    sync.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  });

  after(async () => {
    await stop(sync);
    await stop(mirror);
    await traffic?.close();
    if (p && nodeRunning(p)) asPostgres('pg_ctl', ['-D', p.data, '-m', 'immediate', 'stop']);
    if (figures.length) console.log(`[uploads sync figures]\n${figures.join('\n')}`);
    if (dir) removeDir(dir);
  });

  it('pushes every stored attachment to the mirror with its content, within seconds', async () => {
    const lags: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      const content = Buffer.from(`attachment ${i} ${'x'.repeat(i * 1000)}\n`);
      const stored = Date.now();
      const { attachmentId } = await traffic.upload(`file-${i}.txt`, content, 'text/plain');
      const file = mirrored(traffic.uploadsDir, attachmentId);
      await eventually(
        () => existsSync(file) && sha(file) === createHash('sha256').update(content).digest('hex'),
        {
          timeoutMs: 30_000,
          message: `attachment ${attachmentId} on the mirror\n${output}`,
        },
      );
      lags.push(Date.now() - stored);
    }
    figures.push(`upload → on the mirror: ${lags.join(', ')} ms (lsyncd delay 1 s)`);
    assert.equal(existsSync(path.join(mirrorDir, 'tmp')), false, 'the chat’s tmp/ is not synced');
  });

  it('catches up when the mirror comes back, and never deletes on the mirror', async () => {
    await stop(mirror);
    const whileDown = await traffic.upload(
      'while-down.txt',
      Buffer.from('stored while the standby was away\n'),
      'text/plain',
    );
    const file = mirrored(traffic.uploadsDir, whileDown.attachmentId);
    // A file only the mirror has (the old primary's last upload after a failover) must survive.
    mkdirSync(path.join(mirrorDir, 'zz'), { recursive: true });
    writeFileSync(path.join(mirrorDir, 'zz', 'only-on-the-mirror'), 'keep me');
    startMirror();
    await eventually(() => existsSync(file), {
      timeoutMs: 60_000,
      message: `the file stored while down\n${output}`,
    });
    const another = await traffic.upload('after.txt', Buffer.from('after the return\n'), 'text/plain');
    await eventually(() => existsSync(mirrored(traffic.uploadsDir, another.attachmentId)), {
      timeoutMs: 30_000,
    });
    assert.equal(readFileSync(path.join(mirrorDir, 'zz', 'only-on-the-mirror'), 'utf8'), 'keep me');
    rmSync(path.join(mirrorDir, 'zz'), { recursive: true });
  });
});
