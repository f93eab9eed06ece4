/**
 * stack.yml through the docker client's own validation (`docker stack config`, no engine needed) and
 * the stack checker; each rule of the checker is shown to catch the fault it exists for.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { checkStack, checkStackFile, dockerStackConfig, type Stack } from '../stack-check.ts';
import { requireCommands, root, run, tempDir } from './support/system.ts';

const stackFile = path.join(root, 'stack.yml');
const pendingUpstreams = ['presence-router'];

describe('stack.yml', () => {
  let resolved: Stack;
  const fresh = (): Stack => structuredClone(resolved);
  const problemsOf = (stack: Stack) => checkStack(stack, { root, pendingUpstreams });

  before(() => {
    requireCommands('docker');
    const config = dockerStackConfig(stackFile);
    assert.ok(config.ok, config.ok ? '' : config.error);
    resolved = parse(config.yaml) as Stack;
  });

  it('is accepted by docker stack config and passes every check of the stack checker', () => {
    assert.deepEqual(checkStackFile(stackFile), []);
  });

  it('the checker CLI says so, with --help and an exit status', () => {
    const help = run(process.execPath, [path.join(root, 'scripts/deploy/stack-check.ts'), '--help']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /Usage: node scripts\/deploy\/stack-check\.ts/);
    const check = run(process.execPath, [path.join(root, 'scripts/deploy/stack-check.ts'), stackFile]);
    assert.equal(check.status, 0, check.stderr);
  });

  it('refuses a stack that docker itself rejects, and one without the required domain', () => {
    const dir = tempDir('stack');
    const broken = path.join(dir, 'stack.yml');
    writeFileSync(broken, readFileSync(stackFile, 'utf8').replace('replicas: 2', 'replicas: two'));
    assert.match(checkStackFile(broken).join('\n'), /docker stack config/);
    const noDomain = dockerStackConfig(stackFile, { VECHE_DOMAIN: '' });
    assert.equal(noDomain.ok, false);
  });

  it("has the seed's PostgreSQL settings, a volume for the data, and RabbitMQ with a volume", () => {
    const postgres = resolved.services['postgres']!;
    assert.match(String(postgres.image), /^postgres:15\./);
    assert.ok(
      (postgres.volumes ?? []).some((v) => typeof v !== 'string' && v.target === '/var/lib/postgresql/data'),
    );
    const rabbit = resolved.services['rabbitmq']!;
    assert.ok((rabbit.volumes ?? []).some((v) => typeof v !== 'string' && v.target === '/var/lib/rabbitmq'));
    const stack = fresh();
    stack.services['postgres']!.command = ['postgres', '-c', 'max_connections=100'];
    assert.match(problemsOf(stack).join('\n'), /shared_buffers=512MB is not set/);
  });

  it('gives nginx an environment its templates render from, into a configuration nginx -t accepts', () => {
    requireCommands('nginx', 'openssl', 'envsubst');
    const env = resolved.services['nginx']!.environment as Record<string, string>;
    const dir = tempDir('stack-nginx');
    const tls = path.join(dir, 'tls');
    // The stack's variables as they are; only the paths and the user are the test machine's.
    const machine = {
      VECHE_TLS_DIR: tls,
      VECHE_LETSENCRYPT_DIR: path.join(dir, 'letsencrypt'),
      VECHE_NGINX_USER: 'root',
      VECHE_NGINX_RUN_DIR: path.join(dir, 'run'),
      VECHE_WEB_ROOT: path.join(dir, 'web'),
      VECHE_ACME_ROOT: path.join(dir, 'acme'),
      // /dev/stderr is a socket under the test runner; the container's is not.
      VECHE_NGINX_ERROR_LOG: path.join(dir, 'error.log'),
      VECHE_NGINX_ACCESS_LOG: path.join(dir, 'access.log'),
    };
    const sync = run(path.join(root, 'nginx/bin/veche-tls-sync'), ['--once', '--no-reload'], {
      ...env,
      ...machine,
    });
    assert.equal(sync.status, 0, sync.stderr);
    const render = run(
      path.join(root, 'nginx/bin/veche-nginx-render'),
      ['--templates', path.join(root, 'nginx/templates'), '--out', path.join(dir, 'conf')],
      { ...env, ...machine },
    );
    assert.equal(render.status, 0, render.stdout + render.stderr);
    const conf = readFileSync(path.join(dir, 'conf/nginx.conf'), 'utf8');
    assert.match(conf, new RegExp(`server_name ${env['VECHE_DOMAIN']!.replace(/\./g, '\\.')};`));
    assert.match(conf, /listen 443 ssl http2 default_server;/);
    assert.match(conf, /set \$veche_api http:\/\/gateway:3000;/);
    assert.match(conf, /resolver 127\.0\.0\.11 /, "Docker's embedded DNS");
    assert.match(conf, /return 301 https:\/\/\$host\$request_uri;/, 'no port in the redirect on 443');
  });

  it('catches a service using an undefined secret, config, network or volume', () => {
    const stack = fresh();
    delete stack.secrets!['service_secret'];
    delete stack.configs!['crossbar_config'];
    delete stack.networks!['mail'];
    delete stack.volumes!['uploads'];
    const problems = problemsOf(stack).join('\n');
    assert.match(problems, /service gateway: secret service_secret is not defined/);
    assert.match(problems, /service crossbar: config crossbar_config is not defined/);
    assert.match(problems, /service mailer: network mail is not defined/);
    assert.match(problems, /service chat: volume uploads is not defined/);
  });

  it('catches an image that is neither built here nor pinned to a version', () => {
    const stack = fresh();
    stack.services['postgres']!.image = 'postgres:latest';
    stack.services['rabbitmq']!.image = 'rabbitmq';
    stack.services['gateway']!.image = '127.0.0.1:5000/veche-nonexistent:1';
    const problems = problemsOf(stack).join('\n');
    assert.match(problems, /image postgres:latest is not pinned/);
    assert.match(problems, /image rabbitmq is not pinned/);
    assert.match(problems, /veche-nonexistent:1 is not built by the Dockerfile/);
  });

  it('catches a port published twice, and 8080 published at all', () => {
    const stack = fresh();
    stack.services['visualizer']!.ports = [
      { target: 8080, published: 443, protocol: 'tcp', mode: 'ingress' },
    ];
    stack.services['crossbar']!.ports = [{ target: 8080, published: 8080 }];
    const problems = problemsOf(stack).join('\n');
    assert.match(problems, /port 443\/tcp is already published by/);
    assert.match(problems, /publishes 8080/);
    assert.match(problems, /service visualizer: publishes a port/);
  });

  it('catches nginx proxying to a service that is not in the stack or not on its networks', () => {
    const stack = fresh();
    const env = stack.services['nginx']!.environment as Record<string, string>;
    env['VECHE_UPSTREAM_API'] = 'gatekeeper:3000';
    env['VECHE_UPSTREAM_WS'] = 'postgres:5432';
    const problems = problemsOf(stack).join('\n');
    assert.match(problems, /VECHE_UPSTREAM_API names gatekeeper, which is not a service/);
    assert.match(problems, /shares no network with postgres/);
    assert.deepEqual(
      checkStack(fresh(), { root, pendingUpstreams: [] }).filter((p) => /presence-router/.test(p)).length,
      1,
      'a pending upstream is reported when not declared pending',
    );
  });

  it('catches a service URL naming a service that does not exist or is out of reach', () => {
    const stack = fresh();
    (stack.services['mailer']!.environment as Record<string, string>)['SMTP_URL'] = 'smtp://smtp-gone:587';
    (stack.services['gateway']!.environment as Record<string, string>)['VECHE_INTERNAL_URL_MAILER'] =
      'http://smtp-relay:3000';
    const problems = problemsOf(stack).join('\n');
    assert.match(problems, /service mailer: SMTP_URL names smtp-gone, which is not a service/);
    assert.match(
      problems,
      /service gateway: VECHE_INTERNAL_URL_MAILER names smtp-relay, which shares no network/,
    );
  });

  it('catches the database or RabbitMQ made reachable from nginx', () => {
    const stack = fresh();
    stack.services['nginx']!.networks = { edge: null, admin: null, backend: null };
    const problems = problemsOf(stack).join('\n');
    assert.match(problems, /nginx: can reach postgres through backend/);
    assert.match(problems, /nginx: can reach rabbitmq through backend/);
  });

  it('catches a secret in a variable, and a *_FILE pointing at a secret the service does not mount', () => {
    const stack = fresh();
    const env = stack.services['mailer']!.environment as Record<string, string>;
    env['MAIL_UNSUBSCRIBE_SECRET'] = 'in-the-file';
    env['AMQP_URL'] = 'amqp://veche:hunter2@rabbitmq:5672';
    stack.services['chat']!.secrets = [{ source: 'amqp_url', target: 'amqp_url' }];
    const problems = problemsOf(stack).join('\n');
    assert.match(problems, /MAIL_UNSUBSCRIBE_SECRET carries a secret/);
    assert.match(problems, /AMQP_URL has a password in its URL/);
    assert.match(
      problems,
      /service chat: DATABASE_URL_FILE points at secret database_url which the service does not mount/,
    );
  });

  it('catches a Veche service without replicas, health check, start-first rollback or limits', () => {
    const stack = fresh();
    const gateway = stack.services['gateway']!;
    gateway.deploy = { replicas: 1, update_config: { order: 'stop-first', failure_action: 'pause' } };
    delete gateway.healthcheck;
    const problems = problemsOf(stack).join('\n');
    for (const expected of [
      /fewer than 2 replicas/,
      /order is not start-first/,
      /failure_action is not rollback/,
      /no restart_policy/,
      /no resource limits/,
      /no health check/,
    ]) {
      assert.match(problems, expected);
    }
  });

  it('keeps the visualizer on a manager and every password out of the file', () => {
    const stack = fresh();
    stack.services['visualizer']!.deploy = { replicas: 1 };
    assert.match(problemsOf(stack).join('\n'), /visualizer: not placed on a manager/);
    const text = readFileSync(stackFile, 'utf8');
    assert.doesNotMatch(text, /PASSWORD:\s*\S/);
    for (const secret of Object.values(resolved.secrets ?? {})) {
      assert.equal((secret as { external?: boolean }).external, true, 'secrets are created outside the file');
    }
  });
});
