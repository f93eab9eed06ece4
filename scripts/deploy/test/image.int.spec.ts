/**
 * The Dockerfile without a Docker engine: linted (dockerfile-utils, the parser behind the Dockerfile
 * language server; hadolint cannot be installed here), checked against the image rules of issue 7,
 * and its service recipe rehearsed for real: the build context the .dockerignore lets through, the
 * frozen offline production install of scripts/deploy/image-install.sh, then each service's modules
 * loaded from that tree (a runtime import of a dev dependency fails here) and the mailer started and
 * stopped by SIGTERM as tini would deliver it.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { validate } from 'dockerfile-utils';
import pg from 'pg';
import { freePort } from '../../fleet/processes.ts';
import { root, run, runOrThrow, tempDir } from './support/system.ts';

const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');

/** The instructions of one stage (`FROM … AS name` up to the next FROM), continuation lines joined. */
function stage(name: string): string[] {
  const lines = dockerfile
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((l) => l.trim());
  const start = lines.findIndex((l) => new RegExp(`^FROM \\S+ AS ${name}$`).test(l));
  assert.ok(start >= 0, `stage ${name} exists`);
  const end = lines.findIndex((l, i) => i > start && l.startsWith('FROM '));
  return lines.slice(start, end < 0 ? undefined : end).filter((l) => l && !l.startsWith('#'));
}

/** Would the .dockerignore keep `file` out of the build context? (the patterns this repository uses) */
function ignored(file: string, patterns: string[]): boolean {
  return patterns.some((pattern) => {
    const bare = pattern.replace(/^\*\*\//, '');
    const parts = file.split('/');
    if (pattern.startsWith('**/')) {
      return parts.some(
        (_, i) => path.matchesGlob(parts.slice(i).join('/'), bare) || path.matchesGlob(parts[i]!, bare),
      );
    }
    return path.matchesGlob(file, pattern) || file.startsWith(pattern + '/');
  });
}

/** A service's main module (its package's "." export: the wiring, which starts nothing on import). */
function mainModule(dir: string): string {
  const manifest = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as {
    exports?: { '.'?: string };
  };
  return path.join(dir, manifest.exports?.['.'] ?? 'src/app.ts');
}

describe('Dockerfile', () => {
  it('refuses to run its install recipe in a git checkout', () => {
    const result = run(path.join(root, 'scripts/deploy/image-install.sh'), ['mailer'], {}, root);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /refusing to run in a git checkout/);
  });

  it('passes the Dockerfile linter', () => {
    const problems = validate(dockerfile).map(
      (d) => `line ${d.range.start.line + 1}: ${typeof d.message === 'string' ? d.message : d.message.value}`,
    );
    assert.deepEqual(problems, []);
    assert.ok(validate('FROM node:24\nEXPOSE abc\n').length > 0, 'the linter does report problems');
  });

  it('pins its base images to versions, and builds with the frozen lockfile', () => {
    for (const [, name, value] of dockerfile.matchAll(/^ARG (NODE_IMAGE|NGINX_IMAGE)=(\S+)$/gm)) {
      assert.match(value!, /:\d+\.\d+\.\d+-/, `${name} is pinned`);
    }
    assert.match(dockerfile, /^ARG NODE_IMAGE=node:24\./m, 'Node 24');
    const install = readFileSync(path.join(root, 'scripts/deploy/image-install.sh'), 'utf8');
    assert.match(install, /pnpm install --offline --frozen-lockfile --prod/);
  });

  it('uses the Node and pnpm versions the toolchain (and so every test) uses', () => {
    const toolchain = readFileSync(path.join(root, 'scripts/lib/toolchain.sh'), 'utf8');
    const node = /^VECHE_NODE_VERSION=(\S+)$/m.exec(toolchain)?.[1];
    const pnpm = /^VECHE_PNPM_VERSION=(\S+)$/m.exec(toolchain)?.[1];
    assert.match(dockerfile, new RegExp(`^ARG NODE_IMAGE=node:${node}-`, 'm'));
    assert.match(dockerfile, new RegExp(`^ARG PNPM_VERSION=${pnpm}$`, 'm'));
  });

  it('runs each service as an unprivileged user under tini, with a health check and exec-form commands', () => {
    const service = stage('service');
    assert.ok(service.includes('USER node'), 'non-root');
    assert.ok(service.some((l) => l.startsWith('HEALTHCHECK ') && l.includes('VECHE_HEALTH_PATH')));
    // Liveness: a dependency outage must not make Docker kill the container.
    assert.ok(
      service.some((l) => /VECHE_HEALTH_PATH=\/health\b/.test(l)),
      'the health check is liveness',
    );
    assert.ok(service.includes('ENTRYPOINT ["/usr/bin/tini", "--"]'), 'tini forwards signals to Node');
    assert.ok(service.includes('CMD ["node", "src/server.ts"]'), 'exec form: no shell between tini and Node');
    assert.ok(!service.some((l) => /^COPY (?!--from=)/.test(l)), 'the final stage only copies built output');
    const nginx = stage('nginx');
    assert.ok(nginx.some((l) => l.startsWith('HEALTHCHECK ')));
  });

  it('keeps dependencies, history and local secrets out of the build context', () => {
    const patterns = readFileSync(path.join(root, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    for (const file of [
      'node_modules/x/index.js',
      'services/chat/node_modules/a.js',
      '.git/HEAD',
      '.env',
      'prod.env',
      'secrets/db',
      'clients/web/dist/index.html',
    ]) {
      assert.ok(ignored(file, patterns), `${file} is kept out`);
    }
    for (const file of [
      'package.json',
      'pnpm-lock.yaml',
      'services/mailer/src/server.ts',
      'nginx/templates/nginx.conf.template',
      'scripts/deploy/image-install.sh',
    ]) {
      assert.ok(!ignored(file, patterns), `${file} is sent`);
    }
  });

  describe('the service recipe, rehearsed on a copy of the build context', () => {
    const context = tempDir('image');
    let services: string[] = [];

    before(() => {
      const patterns = readFileSync(path.join(root, '.dockerignore'), 'utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('#'));
      const files = runOrThrow('git', ['-C', root, 'ls-files', '-co', '--exclude-standard'])
        .split('\n')
        .filter((f) => f && existsSync(path.join(root, f)) && !ignored(f, patterns));
      for (const file of files) cpSync(path.join(root, file), path.join(context, file));
      services = readdirSync(path.join(context, 'services')).filter((s) =>
        existsSync(path.join(context, 'services', s, 'package.json')),
      );
      // The Dockerfile's `pnpm fetch` fills a store from the lockfile; here the machine's store serves.
      const store = runOrThrow('pnpm', ['store', 'path']).trim();
      const fetched = run('pnpm', ['fetch', '--store-dir', store], { CI: 'true' }, context);
      assert.equal(fetched.status, 0, fetched.stderr);
      process.env['PNPM_STORE_DIR'] = store;
    });

    it('installs every service with production dependencies only, and its modules load', () => {
      for (const service of services) {
        const copy = path.join(tempDir(`image-${service}`), 'app');
        cpSync(context, copy, { recursive: true, filter: (source) => !source.includes('/node_modules') });
        const install = run(path.join(copy, 'scripts/deploy/image-install.sh'), [service], {}, copy);
        assert.equal(install.status, 0, `${service}: ${install.stdout}\n${install.stderr}`);
        assert.equal(
          existsSync(path.join(copy, 'node_modules/.pnpm/typescript@5.9.3')),
          false,
          'no dev tools',
        );
        assert.equal(existsSync(path.join(copy, 'services', service, 'test')), false, 'tests dropped');
        const load = run(
          process.execPath,
          [
            '--input-type=module',
            '-e',
            `await import(${JSON.stringify(mainModule(path.join(copy, 'services', service)))})`,
          ],
          { NODE_ENV: 'production' },
          path.join(copy, 'services', service),
        );
        assert.equal(
          load.status,
          0,
          `${service} does not load with production dependencies:\n${load.stderr}`,
        );
      }
    });

    it('builds the web client as the nginx stage does, with hashed assets under /assets/', () => {
      const web = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
      assert.match(
        web,
        /pnpm install --offline --frozen-lockfile --store-dir \/pnpm\/store --filter "\$\{WEB_PACKAGE\}\.\.\."/,
      );
      assert.match(web, /pnpm --filter "\$\{WEB_PACKAGE\}" build/);
      assert.match(web, /^ARG WEB_PACKAGE=@veche\/web$/m);
      const copy = path.join(tempDir('image-web'), 'app');
      cpSync(context, copy, { recursive: true, filter: (source) => !source.includes('/node_modules') });
      const store = process.env['PNPM_STORE_DIR']!;
      const install = run(
        'pnpm',
        ['install', '--offline', '--frozen-lockfile', '--store-dir', store, '--filter', '@veche/web...'],
        { CI: 'true' },
        copy,
      );
      assert.equal(install.status, 0, install.stderr);
      const build = run('pnpm', ['--filter', '@veche/web', 'build'], { CI: 'true' }, copy);
      assert.equal(build.status, 0, build.stdout + build.stderr);
      const index = readFileSync(path.join(copy, 'clients/web/dist/index.html'), 'utf8');
      const assets = [...index.matchAll(/(?:src|href)="\/assets\/([^"]+)"/g)].map((m) => m[1]!);
      assert.ok(assets.length > 0, index);
      for (const asset of assets) {
        assert.match(
          asset,
          /-[A-Za-z0-9_-]{8}\.(js|css)$/,
          'content-hashed, so nginx may cache it for a year',
        );
        assert.ok(existsSync(path.join(copy, 'clients/web/dist/assets', asset)));
      }
    });

    it('starts the mailer from the installed tree and stops it gracefully on SIGTERM', async () => {
      const copy = path.join(tempDir('image-run'), 'app');
      cpSync(context, copy, { recursive: true, filter: (source) => !source.includes('/node_modules') });
      const install = run(path.join(copy, 'scripts/deploy/image-install.sh'), ['mailer'], {}, copy);
      assert.equal(install.status, 0, install.stderr);
      const databaseUrl = new URL(
        process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/veche_test',
      );
      let output = '';
      const child = spawn(process.execPath, ['src/server.ts'], {
        cwd: path.join(copy, 'services/mailer'),
        env: {
          ...process.env,
          HOST: '127.0.0.1',
          PORT: String(await freePort()),
          DATABASE_URL: databaseUrl.toString(),
          MAILER_DB_SCHEMA: `image_rehearsal_${process.pid}`,
          MAILER_QUEUE: `mailer.rehearsal-${process.pid}`,
          MAILER_EXCHANGE: `veche.rehearsal-${process.pid}`,
          SMTP_URL: 'smtp://127.0.0.1:2',
          NODE_ENV: 'development',
          LOG_LEVEL: 'info',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      // A limit that ends a hung start, not a timing of it: at load 40 on 2 cores the start took over 30 s.
      const deadline = Date.now() + 150_000;
      try {
        while (!/"msg":"mailer (started|ready)|listening/i.test(output)) {
          assert.equal(child.exitCode, null, output);
          assert.ok(Date.now() < deadline, `the mailer did not start:\n${output}`);
          await new Promise((r) => setTimeout(r, 100));
        }
        child.kill('SIGTERM');
        assert.equal(await exited, 0, output);
      } finally {
        // A failed start must not leave the mailer running (the test process would never exit).
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
      assert.match(output, /"signal":"SIGTERM","msg":"stopping"/);
      assert.match(output, /mailer stopped/);
      const client = new pg.Client({ connectionString: databaseUrl.toString() });
      await client.connect();
      await client.query(`drop schema if exists image_rehearsal_${process.pid} cascade`);
      await client.end();
      // The broker objects the mailer declared (its queue, retry and dead-letter queues, the unrouted one).
      const queues = runOrThrow('rabbitmqctl', ['-q', 'list_queues', 'name'])
        .split('\n')
        .map((line) => line.trim())
        .filter(
          (name) =>
            name.startsWith(`mailer.rehearsal-${process.pid}`) ||
            name.startsWith(`veche.rehearsal-${process.pid}.`),
        );
      for (const queue of queues) runOrThrow('rabbitmqctl', ['-q', 'delete_queue', queue]);
    });
  });
});
