/**
 * An off-site SFTP account on loopback for the backup tests: Debian's OpenSSH server with a
 * configuration of its own (its own port, host key and pid file), one system account
 * (`veche-backup`) allowed nothing but SFTP, chrooted, and logging in with a key the test makes.
 * The chroot must be owned by root down to /, so it lives under /var/lib/veche-test, not /tmp.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { eventually } from '@veche/testing';
import { freePort } from './clusters.ts';

export const sftpUser = 'veche-backup';

export interface SftpServer {
  host: string;
  port: number;
  user: string;
  /** The client's private key (root-owned, 0600). */
  keyFile: string;
  /** The account's folder as the server's file system has it (inside the chroot). */
  accountDir: string;
  stop(): Promise<void>;
}

function must(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${result.stdout}${result.stderr}`);
  return result.stdout;
}

export async function startSftpServer(): Promise<SftpServer> {
  if (process.getuid?.() !== 0)
    throw new Error('the SFTP test server needs root (a chroot, a system account)');
  if (spawnSync('id', ['-u', sftpUser]).status !== 0) {
    must('useradd', [
      '--system',
      '--no-create-home',
      '--home-dir',
      '/nonexistent',
      '--shell',
      '/usr/sbin/nologin',
      sftpUser,
    ]);
  }
  // useradd locks the password ('!'), and without PAM sshd refuses a locked account even with a key:
  // '*' means no password works, and the account is not locked.
  must('usermod', ['-p', '*', sftpUser]);
  mkdirSync('/var/lib/veche-test', { recursive: true, mode: 0o755 });
  chmodSync('/var/lib/veche-test', 0o755);
  const dir = mkdtempSync('/var/lib/veche-test/sftp-');
  chmodSync(dir, 0o755);
  const chroot = path.join(dir, 'chroot');
  const accountDir = path.join(chroot, 'backup');
  const keys = path.join(dir, 'keys');
  for (const d of [chroot, keys]) mkdirSync(d, { mode: 0o755 });
  mkdirSync(accountDir, { mode: 0o700 });
  const uid = Number(must('id', ['-u', sftpUser]).trim());
  const gid = Number(must('id', ['-g', sftpUser]).trim());
  chownSync(accountDir, uid, gid);
  const keyFile = path.join(dir, 'client_ed25519');
  must('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'veche-backup-test', '-f', keyFile]);
  must('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'host_ed25519')]);
  must('cp', [`${keyFile}.pub`, path.join(keys, sftpUser)]);
  chmodSync(path.join(keys, sftpUser), 0o644);
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const port = await freePort();
  const config = path.join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${path.join(dir, 'host_ed25519')}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${keys}/%u`,
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'PermitRootLogin no',
      `AllowUsers ${sftpUser}`,
      'Subsystem sftp internal-sftp',
      `Match User ${sftpUser}`,
      `  ChrootDirectory ${chroot}`,
      '  ForceCommand internal-sftp',
      '  AllowTcpForwarding no',
      '  X11Forwarding no',
      '  PermitTTY no',
      '',
    ].join('\n'),
  );
  must('/usr/sbin/sshd', ['-t', '-f', config]);
  let output = '';
  const sshd: ChildProcess = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  sshd.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-10_000)));
  await eventually(
    () =>
      new Promise<boolean>((resolve) => {
        const socket = net.connect({ host: '127.0.0.1', port }, () => {
          socket.destroy();
          resolve(true);
        });
        socket.on('error', () => resolve(false));
      }),
    { timeoutMs: 10_000, message: `sshd on port ${port}` },
  ).catch((error: unknown) => {
    throw new Error(`sshd did not start:\n${output}`, { cause: error });
  });
  return {
    host: '127.0.0.1',
    port,
    user: sftpUser,
    keyFile,
    accountDir,
    async stop() {
      const exited = new Promise((resolve) => sshd.once('exit', resolve));
      sshd.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
      if (process.env['VECHE_KEEP_TEST_DIRS'] !== '1') rmSync(dir, { recursive: true, force: true });
    },
  };
}
