/**
 * The replica VMs without a hypervisor: the Vagrantfile parses (ruby -c) and validates (vagrant
 * validate, the ESXi block guarded so it validates without the plugin, every variable read); the
 * provisioning runs for real, twice, in a Debian root file system made by debootstrap (cached between
 * runs; after the first full run, the provisioned file system is cached too, keyed by the scripts'
 * content, and later runs check that both runs change nothing; VECHE_PROVISION_COLD=1 always starts
 * from the bare base: the long version), the second run changing nothing; the SFTP account it makes is chrooted at /home/ubuntu/sftp;
 * every replica script answers --help. The Ubuntu-only steps (a booted system: services, Docker's
 * engine, the swarm; nvm from GitHub) are guarded in the scripts and reported as skipped here.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { freePort, removeDir, root } from './support/clusters.ts';

const run = (
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeout?: number } = {},
) => {
  const result = spawnSync(command, args, {
    encoding: 'utf8',
    env: { ...process.env, ...options.env },
    cwd: options.cwd,
    timeout: options.timeout ?? 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { status: result.status, output: `${result.stdout ?? ''}${result.stderr ?? ''}` };
};
const has = (command: string) =>
  run('sh', ['-c', `command -v ${command} || test -x /usr/sbin/${command}`]).status === 0;

/** The Debian mirror apt uses here (debootstrap must reach it through the same route). */
function debianMirror(): string {
  const files = [
    '/etc/apt/sources.list',
    ...(existsSync('/etc/apt/sources.list.d')
      ? readdirSync('/etc/apt/sources.list.d').map((f) => `/etc/apt/sources.list.d/${f}`)
      : []),
  ];
  for (const file of files.filter((f) => /\.(list|sources)$/.test(f) && existsSync(f))) {
    const text = readFileSync(file, 'utf8');
    const deb822 = /^URIs:\s*(\S+)\s*$/m.exec(text);
    if (deb822 && !/security/.test(deb822[1]!) && /debian/.test(deb822[1]!)) return deb822[1]!;
    const oneLine = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\S+\s+main/m.exec(text);
    if (oneLine && !/security/.test(oneLine[1]!) && /debian/.test(oneLine[1]!)) return oneLine[1]!;
  }
  return 'http://deb.debian.org/debian';
}

const codename =
  /^VERSION_CODENAME=(\S+)/m.exec(
    existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '',
  )?.[1] ?? 'bookworm';
const cacheDir = process.env['VECHE_TEST_CACHE'] ?? '/var/cache/veche-test';
const rootfsCache = path.join(cacheDir, `rootfs-${codename}-minbase.tar`);
// The root file system after a first provisioning with these very scripts: later runs start from it
// (both runs must then change nothing) unless VECHE_PROVISION_COLD=1 (the long version: debootstrap's
// base, every package installed). A changed script is a new key, so a cold run again.
const scriptsKey = createHash('sha256')
  .update(
    ['common.sh', 'primary.sh', 'standby.sh']
      .map((f) => readFileSync(path.join(root, 'vagrant/provision', f), 'utf8'))
      .join('\0'),
  )
  .digest('hex')
  .slice(0, 12);
const warmCache = path.join(cacheDir, `rootfs-${codename}-provisioned-${scriptsKey}.tar`);
const cold = process.env['VECHE_PROVISION_COLD'] === '1' || !existsSync(warmCache);

describe(
  'the Vagrantfile',
  { skip: has('vagrant') && has('ruby') ? false : 'vagrant is not installed (apt-get install vagrant)' },
  () => {
    const vagrant = (env: NodeJS.ProcessEnv = {}) =>
      run('vagrant', ['validate', '--ignore-provider'], {
        cwd: path.join(root, 'vagrant'),
        env: { VAGRANT_HOME: path.join(cacheDir, 'vagrant-home'), VAGRANT_CHECKPOINT_DISABLE: '1', ...env },
      });

    it('parses (ruby -c) and validates for both machines, with or without the ESXi settings', () => {
      const syntax = run('ruby', ['-c', path.join(root, 'vagrant/Vagrantfile')]);
      assert.equal(syntax.status, 0, syntax.output);
      const plain = vagrant();
      assert.equal(plain.status, 0, plain.output);
      assert.match(plain.output, /Vagrantfile validated successfully/);
      assert.match(plain.output, /primary/);
      assert.match(plain.output, /standby/);
      const esxi = vagrant({
        VECHE_ESXI_HOST: 'esxi.example.org',
        VECHE_ESXI_PASSWORD: 'not-used-here',
        VECHE_ESXI_NETWORK: 'VM Network, Backup',
        VECHE_ESXI_DATASTORE: 'ds1',
        VECHE_CPUS: '4',
        VECHE_MEMORY: '6144',
      });
      assert.equal(esxi.status, 0, esxi.output);
    });

    it('reads its variables: a malformed one fails validation, naming it', () => {
      const bad = vagrant({ VECHE_MEMORY: 'lots' });
      assert.notEqual(bad.status, 0);
      assert.match(bad.output, /invalid value for Integer\(\): "lots"/);
    });

    it('provisions each machine with the same common script, and the role scripts', () => {
      const text = readFileSync(path.join(root, 'vagrant/Vagrantfile'), 'utf8');
      assert.match(text, /path: 'provision\/common.sh'/);
      assert.match(text, /path: 'provision\/primary.sh'/);
      assert.match(text, /path: 'provision\/standby.sh'/);
      assert.match(text, /if Vagrant.has_plugin\?\('vagrant-vmware-esxi'\)/);
    });
  },
);

describe('replica scripts', () => {
  it('answer --help with their usage', () => {
    for (const script of [
      'scripts/failover',
      'scripts/failback',
      'scripts/backup',
      'scripts/restore-drill',
      'scripts/replica/lag',
      'replica/bin/veche-pg-standby-prepare',
      'replica/bin/veche-pgbackrest-conf',
      'replica/bin/veche-pgbackrest-archive',
      'replica/bin/veche-pg-entrypoint',
      'replica/bin/veche-uploads-sync',
      'replica/bin/veche-uploads-mirror',
      'vagrant/provision/common.sh',
      'vagrant/provision/primary.sh',
      'vagrant/provision/standby.sh',
    ]) {
      const result = run(path.join(root, script), ['--help']);
      assert.equal(result.status, 0, `${script}: ${result.output}`);
      assert.match(result.output, /Usage: /, script);
    }
    const unknown = run(path.join(root, 'scripts/failover'), ['--frobnicate']);
    assert.equal(unknown.status, 2);
  });

  it('are named in the runbook, the ADR and the Vagrant README only with options they have', () => {
    const problems: string[] = [];
    for (const doc of [
      'docs/operations.md',
      'docs/adr/0012-standby-failover-and-off-site-backups.md',
      'vagrant/README.md',
    ]) {
      for (const line of readFileSync(path.join(root, doc), 'utf8').split('\n')) {
        for (const use of line.matchAll(
          /scripts\/(failover|failback|backup|restore-drill|replica\/lag)((?:\s+(?:--[a-z-]+|[a-z]+|'[^']*'|<[^>]+>))*)/g,
        )) {
          const usage = run(path.join(root, 'scripts', use[1]!), ['--help']).output;
          for (const flag of use[2]!.match(/--[a-z-]+/g) ?? []) {
            if (!new RegExp(`${flag}\\b`).test(usage))
              problems.push(`${doc}: scripts/${use[1]} has no ${flag}`);
          }
        }
      }
    }
    assert.deepEqual(problems, []);
  });
});

const provisionUnavailable =
  process.getuid?.() !== 0
    ? 'needs root (debootstrap, chroot)'
    : !has('debootstrap') || !has('unshare')
      ? 'debootstrap is not installed (apt-get install debootstrap)'
      : false;

describe(
  'provisioning in a Debian root file system (debootstrap), run twice',
  { skip: provisionUnavailable },
  () => {
    let rootfs: string;
    let output = '';
    const section = (marker: string) => {
      const end = output.indexOf(`== ${marker} exit`);
      return {
        text: output.slice(0, end),
        exit: Number(new RegExp(`== ${marker} exit (\\d+)`).exec(output)?.[1]),
      };
    };

    before(
      () => {
        mkdirSync(cacheDir, { recursive: true });
        if (!existsSync(rootfsCache)) {
          // Minutes, once per machine: the cached tarball serves every later run (and CI's).
          const dir = path.join(cacheDir, `build-${process.pid}`);
          rmSync(dir, { recursive: true, force: true });
          const made = run('debootstrap', ['--variant=minbase', codename, dir, debianMirror()], {
            timeout: 900_000,
          });
          if (made.status !== 0) throw new Error(`debootstrap failed:\n${made.output.slice(-4000)}`);
          const packed = run('tar', ['-C', dir, '-cf', `${rootfsCache}.tmp`, '.'], { timeout: 300_000 });
          if (packed.status !== 0) throw new Error(packed.output);
          renameSync(`${rootfsCache}.tmp`, rootfsCache);
          rmSync(dir, { recursive: true, force: true });
        }
        mkdirSync('/var/lib/veche-test', { recursive: true });
        rootfs = path.join('/var/lib/veche-test', `rootfs-${process.pid}`);
        mkdirSync(rootfs, { recursive: true });
        const unpacked = run('tar', ['-C', rootfs, '-xf', cold ? rootfsCache : warmCache], {
          timeout: 300_000,
        });
        if (unpacked.status !== 0) throw new Error(unpacked.output);
      },
      { timeout: 1_800_000 },
    );

    it('provisions, then changes nothing on a second run', { timeout: 1_800_000 }, async () => {
      const key = path.join(rootfs, 'root', 'client_ed25519');
      // A warm file system carries the last run's key and upload: this run makes its own.
      for (const stale of [key, `${key}.pub`, path.join(rootfs, 'home/ubuntu/sftp/upload/probe.txt')]) {
        rmSync(stale, { force: true });
      }
      run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
      const result = run(
        'unshare',
        [
          '--mount',
          '--propagation',
          'private',
          path.join(root, 'scripts/replica/test/support/chroot-provision.sh'),
          rootfs,
          path.join(cacheDir, `apt-archives-${codename}`),
          String(await freePort()),
          key,
        ],
        { timeout: 1_500_000 },
      );
      output = result.output;
      const first = section('run 1');
      assert.equal(first.exit, 0, output.slice(-6000));
      if (cold) assert.match(first.text, /installing .*xfce4-session/);
      else assert.match(first.text, /done: nothing to change/);
      assert.match(first.text, /skipped: starting chrony \(no systemd/);
      assert.match(first.text, /skipped: nvm \(VECHE_PROVISION_OFFLINE=1/);
      const second = section('run 2');
      assert.equal(second.exit, 0, output.slice(-6000));
      assert.match(second.text.slice(second.text.lastIndexOf('== run 1 exit')), /done: nothing to change/);
    });

    it('leaves the user ubuntu with its password, XFCE without a display manager, chrony, SSH, Docker', () => {
      const shadow = readFileSync(path.join(rootfs, 'etc/shadow'), 'utf8');
      const hash = /^ubuntu:([^:]+):/m.exec(shadow)?.[1] ?? '';
      const salt = hash.split('$')[2] ?? '';
      assert.equal(run('openssl', ['passwd', '-6', '-salt', salt, 'ubuntu']).output.trim(), hash);
      const status = readFileSync(path.join(rootfs, 'var/lib/dpkg/status'), 'utf8');
      const installed = (p: string) =>
        new RegExp(`^Package: ${p}\\n(?:.+\\n)*?Status: install ok installed`, 'm').test(status);
      for (const p of ['xfce4-session', 'xinit', 'chrony', 'openssh-server', 'docker.io', 'git'])
        assert.ok(installed(p), p);
      for (const p of ['lightdm', 'gdm3', 'sddm']) assert.ok(!installed(p), `${p} must not be installed`);
      assert.ok(existsSync(path.join(rootfs, 'usr/bin/startxfce4')));
      assert.match(
        readFileSync(path.join(rootfs, 'etc/fstab'), 'utf8'),
        /^\/home\/ubuntu\/sftp \/srv\/veche-sftp none bind/m,
      );
      assert.match(
        readFileSync(path.join(rootfs, 'etc/ssh/sshd_config.d/60-veche.conf'), 'utf8'),
        /ChrootDirectory \/srv\/veche-sftp/,
      );
      assert.match(section('primary').text, /skipped: no Docker engine answers/);
    });

    it('serves SFTP rooted at /home/ubuntu/sftp, and nothing outside it', () => {
      const sftp = section('sftp');
      assert.equal(sftp.exit, 0, output.slice(-4000));
      assert.match(sftp.text, /upload/);
      assert.equal(
        readFileSync(path.join(rootfs, 'home/ubuntu/sftp/upload/probe.txt'), 'utf8'),
        'hello from the host\n',
      );
      assert.notEqual(section('escape').exit, 0);
      assert.equal(existsSync(path.join(rootfs, 'tmp/escaped')), false);
    });

    it('cleans up its root file system', () => {
      assert.equal(
        run('sh', ['-c', `grep -c ' ${rootfs}' /proc/mounts`]).output.trim(),
        '0',
        'no mount left behind',
      );
      // Only a file system both runs and the SFTP login succeeded on is worth starting from.
      const good = ['run 1', 'run 2', 'sftp'].every((marker) => section(marker).exit === 0);
      if (cold && good) {
        const packed = run('tar', ['-C', rootfs, '-cf', `${warmCache}.tmp`, '.'], { timeout: 300_000 });
        assert.equal(packed.status, 0, packed.output);
        renameSync(`${warmCache}.tmp`, warmCache);
      }
      removeDir(rootfs);
    });
  },
);
