/**
 * The deployment scripts: shellcheck on every shell script of the repository, --help on each, and the
 * deploy/upgrade/rotate/rollback flows run for real against a stand-in `docker` command (there is no
 * Docker engine here) that keeps the swarm's state in files and logs each call; the real docker
 * client still validates stack.yml. Shows the order of the steps, a registry on loopback only, that a
 * second run changes nothing, the variables the stack is deployed with (content hashes, the data
 * node, secret versions), that a failed update fails the command, rotation without `stack rm`, a
 * rollback that deploys the old release's own files, and that secrets are never printed.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { requireCommands, root, run, runOrThrow, tempDir, writeFile } from './support/system.ts';

const deployScripts = [
  'init',
  'secrets',
  'build',
  'deploy',
  'upgrade',
  'rollback',
  'env',
  'status',
  'image-install.sh',
  'logs-tls-hook',
];

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

// The stand-in docker: swarm state as files under $FAKE_DOCKER_STATE, every call appended to
// calls.log, each `stack deploy` with the VECHE_* variables it saw in deploy-env.log.
const fakeDocker = `#!/usr/bin/env bash
set -euo pipefail
state=$FAKE_DOCKER_STATE
echo "$*" >>"$state/calls.log"
mkdir -p "$state/secrets"
case "$1 \${2:-}" in
  "info "*)
    case "$*" in
      *LocalNodeState*) cat "$state/swarm" 2>/dev/null || echo inactive ;;
      *NodeID*) echo node1 ;;
    esac ;;
  "swarm init") echo active >"$state/swarm" ;;
  "node ls")
    case "$*" in
      *veche.storage=true*) cat "$state/labelled" 2>/dev/null || true ;;
      *veche.pg=standby*) cat "$state/standby" 2>/dev/null || true ;;
      *veche.node=*) n=\${*: -1}; cat "$state/node-\${n##*=}" 2>/dev/null || true ;;
      *) cat "$state/nodes" 2>/dev/null || echo node1 ;;
    esac ;;
  "node update") echo node1 >>"$state/labelled" ;;
  "service inspect")
    case "$3" in
      veche-registry) [ -f "$state/registry-service" ] ;;
      *)
        case "$*" in
          *PreviousSpec*) cat "$state/previous-release" 2>/dev/null || true ;;
          *Spec*Labels*) cat "$state/current-release" 2>/dev/null || true ;;
          *Secrets*) cat "$state/secrets-in-use" 2>/dev/null || true ;;
          *) cat "$state/update-$3" 2>/dev/null || echo completed ;;
        esac ;;
    esac ;;
  "service rm") rm -f "$state/registry-service" ;;
  "service ls") echo service1 ;;
  "container inspect") [ -f "$state/registry-container" ] && echo true ;;
  "container rm") rm -f "$state/registry-container" ;;
  "run --detach") touch "$state/registry-container" ;;
  "secret ls") ls "$state/secrets" ;;
  "secret create")
    name=\${*: -2:1}
    cat >"$state/secrets/$name" ;;
  "secret rm") rm "$state/secrets/$3" ;;
  "stack config") exec "$REAL_DOCKER" "$@" ;;
  "stack services")
    for s in veche_gateway veche_chat veche_nginx; do
      case "$*" in
        *Replicas*) printf '%s\\t%s\\n' "$s" "$(cat "$state/replicas-$s" 2>/dev/null || echo 2/2)" ;;
        *) echo "$s" ;;
      esac
    done ;;
  "stack deploy")
    { echo "-- $*"; env | grep '^VECHE_' | sort; } >>"$state/deploy-env.log"
    cp "$state/current-release" "$state/previous-release" 2>/dev/null || true
    echo "$VECHE_VERSION" >"$state/current-release" ;;
  "stack ps") ;;
  "buildx version") [ ! -f "$state/no-buildx" ] ;;
  "build "*) ;;
  "push "*) echo "\${*: -1}" >>"$state/images" ;;
  "manifest inspect") grep -qx "\${*: -1}" "$state/images" 2>/dev/null ;;
  "ps "*) cat "$state/task-\${4#label=com.docker.swarm.service.name=veche_}" 2>/dev/null || true ;;
  "exec -i") { echo "-- \${*:3}"; cat; } >>"$state/exec.log" ;;
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

  describe('deploy, again, upgrade, rotate, rollback (stand-in docker engine)', () => {
    const dir = tempDir('swarm');
    const state = path.join(dir, 'state');
    const bin = path.join(dir, 'bin');
    let env: NodeJS.ProcessEnv;
    const calls = () => readFileSync(path.join(state, 'calls.log'), 'utf8').trim().split('\n');
    const script = (name: string, args: string[] = [], extra: NodeJS.ProcessEnv = {}) =>
      run(path.join(root, 'scripts/deploy', name), args, { ...env, ...extra });
    const reset = () => writeFile(path.join(state, 'calls.log'), '');
    /** The VECHE_* variables the last `docker stack deploy` ran with, and its arguments. */
    const lastDeploy = () => {
      const log = readFileSync(path.join(state, 'deploy-env.log'), 'utf8');
      const last = log.slice(log.lastIndexOf('-- '));
      const [head = '', ...lines] = last.trim().split('\n');
      return {
        args: head.slice(3),
        env: Object.fromEntries(lines.map((l) => [l.split('=')[0]!, l.split('=').slice(1).join('=')])),
      };
    };
    const secret = (name: string) => readFileSync(path.join(state, 'secrets', name), 'utf8');
    const sha12 = (file: string) =>
      createHash('sha256')
        .update(readFileSync(path.join(root, file)))
        .digest('hex')
        .slice(0, 12);

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
      const result = script('deploy', [], { VECHE_DOMAIN: '' });
      assert.notEqual(result.status, 0);
      assert.match(result.stderr, /set VECHE_DOMAIN/);
      assert.equal(existsSync(path.join(state, 'calls.log')), false);
    });

    it('initialises, creates the secrets, checks, builds, pushes and deploys, waiting for convergence', () => {
      // An earlier version's registry service, publishing 5000 on every interface, is replaced.
      writeFile(path.join(state, 'registry-service'), '');
      const result = script('deploy', ['--secrets-file', path.join(dir, 'secrets.env')]);
      assert.equal(result.status, 0, result.stdout + result.stderr);
      const log = calls();
      const index = (pattern: RegExp) => log.findIndex((c) => pattern.test(c));
      assert.ok(index(/^swarm init/) >= 0);
      assert.ok(index(/^node update --label-add veche.storage=true node1/) > index(/^swarm init/));
      // The registry: loopback only, never a swarm service publishing on every node's interfaces.
      assert.ok(index(/^service rm veche-registry$/) > 0);
      const registry = log.find((c) => c.startsWith('run --detach --name veche-registry'));
      assert.match(registry ?? '', /--publish 127\.0\.0\.1:5000:5000 /);
      assert.equal(index(/^service create/), -1);
      assert.ok(index(/^secret create .* veche_database_url -/) > index(/^run --detach/));
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
      const nginxBuild = builds.find((b) => b.includes('--target nginx')) ?? '';
      assert.match(nginxBuild, /veche-nginx:(nginx-[0-9a-f]{12}|v-test)\b/);
      assert.equal(log.filter((c) => c.startsWith('push ')).length, builds.length);
      // Deployed waiting for convergence, then each service's update status read.
      const deployAt = index(/^stack deploy --with-registry-auth --detach=false -c \S+\/stack\.yml veche$/);
      assert.ok(deployAt > index(/^push /), log.join('\n'));
      assert.ok(log.slice(deployAt).some((c) => /^service inspect veche_chat .*UpdateStatus/.test(c)));
      // The variables the stack needs: content hashes, the data node's id, the secrets' versions.
      const deployed = lastDeploy().env;
      assert.equal(deployed['VECHE_CONFIG_RABBITMQ_CONF'], sha12('scripts/deploy/rabbitmq.conf'));
      assert.equal(deployed['VECHE_CONFIG_CROSSBAR_CONFIG'], sha12('crossbar/config.json'));
      assert.equal(deployed['VECHE_DATA_NODE'], 'node1');
      assert.equal(deployed['VECHE_SECRET_DATABASE_URL'], '');
      assert.equal(deployed['VECHE_NGINX_VERSION'], nginxBuild.match(/veche-nginx:(\S+)/)?.[1]);
      // Derived secrets: URL-encoded passwords, RabbitMQ's conf.d file, an apr1 htpasswd line, a DKIM key.
      assert.equal(secret('veche_database_url'), 'postgres://veche:p%40ss%2Fword@postgres:5432/veche');
      assert.equal(secret('veche_amqp_url'), 'amqp://veche:rabbit@amqp:5672');
      assert.match(secret('veche_rabbitmq_credentials'), /^default_user = veche\ndefault_pass = rabbit\n?$/);
      assert.match(secret('veche_visualizer_htpasswd'), /^ops:\$apr1\$/);
      assert.match(secret('veche_service_secret'), /^[0-9a-f]{48}$/);
      assert.match(secret('veche_dkim_private_key'), /^-----BEGIN PRIVATE KEY-----/);
      assert.match(
        result.stdout,
        /veche\._domainkey\.chat\.example\.org\. IN TXT "v=DKIM1; k=rsa; p=[A-Za-z0-9+/=]{300,}"/,
      );
      assert.ok(existsSync(path.join(state, 'secrets', 'veche_smtp_relay_password')));
      assert.doesNotMatch(result.stdout + result.stderr, /p@ss\/word|rabbit\b|see-the-swarm/);
    });

    it('changes nothing that exists when run again', () => {
      reset();
      const result = script('deploy', ['--skip-build']);
      assert.equal(result.status, 0, result.stdout + result.stderr);
      const log = calls();
      assert.deepEqual(
        log.filter((c) => /^(swarm init|node update|service create|run |secret create|build|push)/.test(c)),
        [],
      );
      assert.match(result.stdout, /already in a swarm/);
      assert.ok(log.some((c) => c.startsWith('stack deploy')));
    });

    it('upgrades, and fails naming a service that swarm rolled back or that runs short of tasks', () => {
      reset();
      const ok = script('upgrade', ['--skip-build']);
      assert.equal(ok.status, 0, ok.stdout + ok.stderr);
      assert.match(ok.stdout, /upgraded to v-test/);
      assert.match(lastDeploy().args, /--detach=false/);
      writeFile(path.join(state, 'update-veche_chat'), 'rollback_completed');
      const failed = script('upgrade', ['--skip-build']);
      assert.notEqual(failed.status, 0);
      assert.match(failed.stderr, /veche_chat \(update rollback_completed\)/);
      assert.doesNotMatch(failed.stdout, /upgraded to/);
      writeFile(path.join(state, 'update-veche_chat'), 'completed');
      writeFile(path.join(state, 'replicas-veche_gateway'), '1/2');
      const short = script('upgrade', ['--skip-build']);
      assert.notEqual(short.status, 0);
      assert.match(short.stderr, /veche_gateway \(1\/2 running\)/);
      writeFile(path.join(state, 'replicas-veche_gateway'), '2/2');
      assert.match(script('upgrade', ['--rollback']).stderr, /scripts\/deploy\/rollback/);
    });

    it('refuses a loopback registry in a swarm of several nodes, and a data label on two nodes', () => {
      writeFile(path.join(state, 'nodes'), 'node1\nnode2\nnode3\n');
      const several = script('upgrade', ['--skip-build']);
      assert.notEqual(several.status, 0);
      assert.match(
        several.stderr,
        /3 nodes but VECHE_REGISTRY=127\.0\.0\.1:5000 is on this node's loopback only/,
      );
      const remote = script('env', [], { VECHE_REGISTRY: 'registry.example.org' });
      assert.equal(remote.status, 0, remote.stderr);
      writeFile(path.join(state, 'labelled'), 'node1\nnode2\n');
      const twice = script('env', [], { VECHE_REGISTRY: 'registry.example.org' });
      assert.notEqual(twice.status, 0);
      assert.match(twice.stderr, /2 nodes are labelled veche.storage=true/);
      writeFile(path.join(state, 'labelled'), 'node1\n');
      writeFile(path.join(state, 'nodes'), 'node1\n');
    });

    it('deploys the three-manager layout with its overlays and the nodes labelled for it', () => {
      const multinode = { VECHE_LAYOUT: 'multinode', VECHE_REGISTRY: 'registry.example.org' };
      writeFile(path.join(state, 'nodes'), 'node1\nnode2\nnode3\n');
      const unlabelled = script('upgrade', ['--skip-build'], multinode);
      assert.notEqual(unlabelled.status, 0);
      assert.match(unlabelled.stderr, /exactly one node labelled veche\.node=2/);
      writeFile(path.join(state, 'node-2'), 'node2\n');
      writeFile(path.join(state, 'node-3'), 'node3\n');
      writeFile(path.join(state, 'standby'), 'node2\n');
      const result = script('upgrade', ['--skip-build'], multinode);
      writeFile(path.join(state, 'nodes'), 'node1\n');
      rmSync(path.join(state, 'standby'));
      assert.equal(result.status, 0, result.stdout + result.stderr);
      const deploy = lastDeploy();
      assert.match(
        deploy.args,
        /-c \S+\/stack\.yml -c \S+\/stack\.cluster\.yml -c \S+\/stack\.multinode\.yml veche$/,
      );
      assert.equal(deploy.env['VECHE_NODE_2'], 'node2');
      assert.equal(deploy.env['VECHE_NODE_3'], 'node3');
      assert.equal(
        deploy.env['VECHE_CONFIG_RABBITMQ_CLUSTER_CONF'],
        sha12('scripts/deploy/rabbitmq-cluster.conf'),
      );
      assert.equal(deploy.env['VECHE_SECRET_RABBITMQ_ERLANG_COOKIE'], '');
      assert.match(secret('veche_rabbitmq_erlang_cookie'), /^[0-9a-f]{64}$/);
    });

    it('refuses to build without buildx, naming the package', () => {
      writeFile(path.join(state, 'no-buildx'), '');
      const result = script('build', ['chat']);
      assert.notEqual(result.status, 0);
      assert.match(result.stderr, /docker buildx is not installed.*docker-buildx/);
      rmSync(path.join(state, 'no-buildx'));
    });

    it('rotates a password without removing the stack: new versions, the server changed, old ones pruned', () => {
      writeFile(path.join(state, 'task-postgres'), 'pgtask1\n');
      reset();
      const rotate = script('secrets', ['--rotate', 'POSTGRES_PASSWORD', '--generate']);
      assert.equal(rotate.status, 0, rotate.stdout + rotate.stderr);
      const url = secret('veche_database_url_v2');
      const password = secret('veche_postgres_password_v2');
      assert.equal(url, `postgres://veche:${password}@postgres:5432/veche`);
      assert.notEqual(password, 'p@ss/word');
      const exec = readFileSync(path.join(state, 'exec.log'), 'utf8');
      assert.match(exec, /^-- pgtask1 psql .*-U veche -d veche\nALTER ROLE veche PASSWORD '[0-9a-f]{48}';$/m);
      assert.ok(!calls().some((c) => c.includes(password)), 'the password is on no command line');
      // The next deploy names the new versions; nothing is removed first.
      const upgrade = script('upgrade', ['--skip-build']);
      assert.equal(upgrade.status, 0, upgrade.stderr);
      assert.equal(lastDeploy().env['VECHE_SECRET_DATABASE_URL'], '_v2');
      assert.equal(lastDeploy().env['VECHE_SECRET_POSTGRES_PASSWORD'], '_v2');
      assert.equal(lastDeploy().env['VECHE_SECRET_AMQP_URL'], '');
      assert.ok(!calls().some((c) => /^stack rm/.test(c)));
      // Prune: the old versions go unless a service still uses one.
      writeFile(path.join(state, 'secrets-in-use'), 'veche_postgres_password\nveche_database_url_v2\n');
      const prune = script('secrets', ['--prune']);
      assert.equal(prune.status, 0, prune.stderr);
      assert.ok(!existsSync(path.join(state, 'secrets', 'veche_database_url')));
      assert.ok(existsSync(path.join(state, 'secrets', 'veche_postgres_password')), 'still in use');
      assert.ok(existsSync(path.join(state, 'secrets', 'veche_database_url_v2')));
    });

    it("rolls back to the previous release's own stack file, configs and images", () => {
      const head = runOrThrow('git', ['-C', root, 'rev-parse', '--short=12', 'HEAD']).trim();
      writeFile(path.join(state, 'current-release'), 'v-test\n');
      writeFile(path.join(state, 'previous-release'), `${head}\n`);
      reset();
      const missing = script('rollback');
      assert.notEqual(missing.status, 0);
      assert.match(missing.stderr, new RegExp(`the registry has no veche-\\S+:${head}.*--build`));
      const result = script('rollback', ['--build']);
      assert.equal(result.status, 0, result.stdout + result.stderr);
      const log = calls();
      // That release's images, built from its own tree, then its stack file deployed with --prune.
      assert.ok(log.some((c) => c.startsWith('build ') && c.includes(`veche-chat:${head}`)));
      const deploy = lastDeploy();
      assert.match(deploy.args, /--detach=false --prune -c \S+veche-release-\S+\/stack\.yml veche$/);
      assert.equal(deploy.env['VECHE_VERSION'], head);
      assert.match(result.stdout, new RegExp(`rolled back to ${head}`));
      // The temporary worktree is gone again.
      const release = /-c (\S+)\/stack\.yml/.exec(deploy.args)?.[1] ?? '';
      assert.equal(existsSync(release), false);
      assert.doesNotMatch(runOrThrow('git', ['-C', root, 'worktree', 'list']), /veche-release-/);
    });

    it('shows the state of the stack (status is read-only)', () => {
      writeFile(path.join(state, 'update-veche_chat'), 'updating');
      reset();
      const result = script('status', [], { VECHE_DOMAIN: '' });
      assert.equal(result.status, 0, result.stdout + result.stderr);
      assert.match(result.stdout, /services of stack veche/);
      assert.match(result.stdout, /veche_chat: updating/);
      assert.deepEqual(
        calls().filter((c) => !/^(info|stack services|stack ps|service inspect)/.test(c)),
        [],
        'status changes nothing',
      );
    });
  });
});
