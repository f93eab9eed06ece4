/**
 * The deployment scripts: shellcheck on every shell script of the repository, --help on each, and the
 * deploy/upgrade flow run for real against a stand-in `docker` command (there is no Docker engine
 * here) that keeps the swarm's state in files and logs each call; the real docker client still
 * validates stack.yml. Shows the order of the steps, that a second run changes nothing, and that
 * secrets are derived correctly and never printed.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { requireCommands, root, run, runOrThrow, tempDir, writeFile } from './support/system.ts';

const deployScripts = ['init', 'secrets', 'build', 'deploy', 'upgrade', 'status', 'image-install.sh'];

/** Every shell script of the repository (tracked or new, not ignored): by shebang, or a .sh name. */
function shellScripts(): string[] {
  return runOrThrow('git', ['-C', root, 'ls-files', '-co', '--exclude-standard'])
    .split('\n')
    .filter((file) => {
      const full = path.join(root, file);
      if (!file || file.includes('node_modules/') || !existsSync(full) || !statSync(full).isFile())
        return false;
      if (file.endsWith('.sh')) return true;
      const head = readFileSync(full).subarray(0, 40).toString('latin1');
      return /^#!\s*\/(usr\/)?bin\/(env )?(ba)?sh\b/.test(head);
    })
    .sort();
}

// The stand-in docker: state under $FAKE_DOCKER_STATE, every call appended to calls.log.
const fakeDocker = `#!/usr/bin/env bash
set -euo pipefail
state=$FAKE_DOCKER_STATE
echo "$*" >>"$state/calls.log"
case "$1 \${2:-}" in
  "info "*)
    case "$*" in
      *LocalNodeState*) cat "$state/swarm" 2>/dev/null || echo inactive ;;
      *NodeID*) echo node1 ;;
    esac ;;
  "swarm init") echo active >"$state/swarm" ;;
  "node inspect") cat "$state/label" 2>/dev/null || true ;;
  "node update") echo true >"$state/label" ;;
  "service inspect")
    case "$3" in
      veche-registry) [ -f "$state/registry" ] ;;
      *) cat "$state/update-$3" 2>/dev/null || echo completed ;;
    esac ;;
  "service create") touch "$state/registry" ;;
  "service rollback") ;;
  "secret inspect") [ -f "$state/secrets/$3" ] ;;
  "secret create")
    mkdir -p "$state/secrets"
    name=\${*: -2:1}
    cat >"$state/secrets/$name" ;;
  "stack config") exec "$REAL_DOCKER" "$@" ;;
  "stack services") printf '%s\n' veche_gateway veche_chat veche_nginx ;;
  "stack deploy" | "stack ps" | "build "* | "push "*) ;;
  *) echo "fake docker: unexpected: $*" >&2; exit 64 ;;
esac
`;

describe('deployment scripts', () => {
  let realDocker = '';

  before(() => {
    requireCommands('shellcheck', 'docker', 'openssl');
    realDocker = run('sh', ['-c', 'command -v docker']).stdout.trim();
  });

  it('pass shellcheck, every shell script of the repository', () => {
    const scripts = shellScripts();
    assert.ok(scripts.length >= 10, `found ${scripts.join(', ')}`);
    const result = run('shellcheck', ['-x', ...scripts.map((s) => path.relative(root, s))], {}, root);
    assert.equal(result.status, 0, result.stdout + result.stderr);
  });

  it('answer --help with their usage and exit 0', () => {
    for (const script of deployScripts) {
      const result = run(path.join(root, 'scripts/deploy', script), ['--help']);
      assert.equal(result.status, 0, `${script}: ${result.stderr}`);
      assert.match(result.stdout, /^Usage: /m, script);
    }
    for (const script of ['veche-nginx-render', 'veche-tls-sync', 'veche-certbot']) {
      const result = run(path.join(root, 'nginx/bin', script), ['--help']);
      assert.equal(result.status, 0, `${script}: ${result.stderr}`);
    }
  });

  describe('deploy, then again, then upgrade --rollback (stand-in docker engine)', () => {
    const dir = tempDir('swarm');
    const state = path.join(dir, 'state');
    const bin = path.join(dir, 'bin');
    let env: NodeJS.ProcessEnv;
    const calls = () => readFileSync(path.join(state, 'calls.log'), 'utf8').trim().split('\n');

    before(() => {
      writeFile(path.join(bin, 'docker'), fakeDocker);
      chmodSync(path.join(bin, 'docker'), 0o755);
      writeFile(path.join(state, '.keep'), '');
      writeFile(
        path.join(dir, 'secrets.env'),
        'POSTGRES_PASSWORD=p@ss/word\nRABBITMQ_PASSWORD=rabbit\nVISUALIZER_USER=ops\nVISUALIZER_PASSWORD=see-the-swarm\n',
      );
      env = {
        PATH: `${bin}:${process.env['PATH'] ?? ''}`,
        FAKE_DOCKER_STATE: state,
        REAL_DOCKER: realDocker,
        VECHE_DOMAIN: 'chat.example.org',
        VECHE_ACME_EMAIL: 'ops@example.org',
        VECHE_VERSION: 'v-test',
      };
    });

    it('refuses to start without VECHE_DOMAIN, before touching anything', () => {
      const result = run(path.join(root, 'scripts/deploy/deploy'), [], { ...env, VECHE_DOMAIN: '' });
      assert.notEqual(result.status, 0);
      assert.match(result.stderr, /set VECHE_DOMAIN/);
      assert.equal(existsSync(path.join(state, 'calls.log')), false);
    });

    it('initialises the swarm, creates the secrets, checks, builds, pushes and deploys, in that order', () => {
      const result = run(
        path.join(root, 'scripts/deploy/deploy'),
        ['--secrets-file', path.join(dir, 'secrets.env')],
        env,
      );
      assert.equal(result.status, 0, result.stdout + result.stderr);
      const log = calls();
      const index = (pattern: RegExp) => log.findIndex((c) => pattern.test(c));
      assert.ok(index(/^swarm init/) >= 0);
      assert.ok(index(/^node update --label-add veche.storage=true node1/) > index(/^swarm init/));
      assert.ok(index(/^service create --name veche-registry/) > 0);
      assert.ok(index(/^secret create .* veche_database_url -/) > index(/^service create/));
      assert.ok(index(/^stack config -c .*stack.yml/) > index(/^secret create/));
      const builds = log.filter((c) => c.startsWith('build '));
      const services = readdirSync(path.join(root, 'services')).filter((s) =>
        existsSync(path.join(root, 'services', s, 'package.json')),
      );
      for (const service of services) {
        assert.ok(
          builds.some(
            (b) =>
              b.includes(`--build-arg SERVICE=${service}`) &&
              b.includes(`127.0.0.1:5000/veche-${service}:v-test`),
          ),
          `builds ${service}: ${builds.join('\n')}`,
        );
      }
      assert.ok(builds.some((b) => b.includes('--target nginx')));
      assert.equal(log.filter((c) => c.startsWith('push ')).length, builds.length);
      assert.ok(index(/^stack deploy --with-registry-auth .* -c stack.yml veche$/) > index(/^push /));
      // Derived secrets: URL-encoded passwords, RabbitMQ's conf.d file, an apr1 htpasswd line.
      const secret = (name: string) => readFileSync(path.join(state, 'secrets', `veche_${name}`), 'utf8');
      assert.equal(secret('database_url'), 'postgres://veche:p%40ss%2Fword@postgres:5432/veche');
      assert.equal(secret('amqp_url'), 'amqp://veche:rabbit@rabbitmq:5672');
      assert.match(secret('rabbitmq_credentials'), /^default_user = veche\ndefault_pass = rabbit\n?$/);
      assert.match(secret('visualizer_htpasswd'), /^ops:\$apr1\$/);
      assert.match(secret('service_secret'), /^[0-9a-f]{48}$/);
      assert.doesNotMatch(result.stdout + result.stderr, /p@ss\/word|rabbit\b|see-the-swarm/);
    });

    it('changes nothing that exists when run again', () => {
      writeFile(path.join(state, 'calls.log'), '');
      const result = run(path.join(root, 'scripts/deploy/deploy'), ['--skip-build'], env);
      assert.equal(result.status, 0, result.stdout + result.stderr);
      const log = calls();
      assert.deepEqual(
        log.filter((c) => /^(swarm init|node update|service create|secret create|build|push)/.test(c)),
        [],
      );
      assert.match(result.stdout, /already in a swarm/);
      assert.ok(log.some((c) => c.startsWith('stack deploy')));
    });

    it('upgrades with a rolling update and reports a service that swarm rolled back', () => {
      writeFile(path.join(state, 'calls.log'), '');
      const ok = run(path.join(root, 'scripts/deploy/upgrade'), ['--skip-build', '--timeout', '5'], env);
      assert.equal(ok.status, 0, ok.stdout + ok.stderr);
      assert.match(ok.stdout, /upgraded to v-test/);
      assert.ok(calls().some((c) => c.startsWith('stack deploy')));
      writeFile(path.join(state, 'update-veche_chat'), 'rollback_completed');
      const failed = run(path.join(root, 'scripts/deploy/upgrade'), ['--skip-build', '--timeout', '5'], env);
      assert.notEqual(failed.status, 0);
      assert.match(failed.stderr, /did not take for: veche_chat \(rollback_completed\)/);
      writeFile(path.join(state, 'update-veche_chat'), 'updating');
      const stuck = run(path.join(root, 'scripts/deploy/upgrade'), ['--skip-build', '--timeout', '1'], env);
      assert.notEqual(stuck.status, 0);
      assert.match(stuck.stderr, /still updating after 1s/);
    });

    it('shows the state of the stack (status is read-only)', () => {
      writeFile(path.join(state, 'calls.log'), '');
      const result = run(path.join(root, 'scripts/deploy/status'), [], { ...env, VECHE_DOMAIN: '' });
      assert.equal(result.status, 0, result.stdout + result.stderr);
      assert.match(result.stdout, /services of stack veche/);
      assert.match(result.stdout, /veche_chat: updating/);
      assert.deepEqual(
        calls().filter((c) => !/^(info|stack services|stack ps|service inspect)/.test(c)),
        [],
        'status changes nothing',
      );
    });

    it('rolls back every Veche service on upgrade --rollback', () => {
      writeFile(path.join(state, 'calls.log'), '');
      const result = run(path.join(root, 'scripts/deploy/upgrade'), ['--rollback'], env);
      assert.equal(result.status, 0, result.stdout + result.stderr);
      const rollbacks = calls().filter((c) => c.startsWith('service rollback'));
      assert.ok(rollbacks.some((c) => c.endsWith('veche_gateway') || c.endsWith('veche_mailer')));
      assert.ok(rollbacks.some((c) => c.endsWith('veche_nginx')));
    });
  });
});
