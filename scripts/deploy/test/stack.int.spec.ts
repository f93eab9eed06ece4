/**
 * stack.yml through the docker client's own validation (`docker stack config`, no engine needed) and
 * the stack checker; each rule of the checker is shown to catch the fault it exists for, and the stack
 * file as it was before issue 19 (test/fixtures/before-issue-19) fails a rule for each defect found.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { checkStack, checkStackFile, dockerStackConfig, type Stack } from '../stack-check.ts';
import type { RuleService } from '../stack-rules.ts';
import { requireCommands, root, run, tempDir } from './support/system.ts';

const stackFile = path.join(root, 'stack.yml');
const pendingUpstreams: string[] = [];

describe('stack.yml', () => {
  let resolved: Stack;
  const fresh = (): Stack => structuredClone(resolved);
  const raw = () => parse(readFileSync(stackFile, 'utf8'), { merge: true }) as Record<string, unknown>;
  const problemsOf = (stack: Stack, rawStack = raw()) =>
    checkStack(stack, { root, pendingUpstreams, raw: rawStack });
  const service = (stack: Stack, name: string) => stack.services[name] as RuleService;

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
    // Built here (Dockerfile target postgres, ADR 0012) on the official PostgreSQL 15 image.
    assert.match(String(postgres.image), /\/veche-postgres:/);
    assert.match(readFileSync(path.join(root, 'Dockerfile'), 'utf8'), /^ARG POSTGRES_IMAGE=postgres:15\./m);
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
      VECHE_IPV6: 'on',
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
    assert.match(conf, /listen \[::\]:443 ssl http2 default_server;/, 'IPv6');
    assert.match(conf, /listen \[::\]:80 default_server;/, 'IPv6');
    assert.match(
      conf,
      /return 301 https:\/\/veche\.example\.org\$request_uri;/,
      "our own name (never the client's Host), no port on 443",
    );
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
    // Tags that move: a minor line, a major line, a channel.
    stack.services['smtp-relay']!.image = 'boky/postfix:v4.4';
    stack.services['prometheus']!.image = 'prom/prometheus:v3';
    stack.services['grafana']!.image = 'grafana/grafana:main';
    // Exact releases and digests are pinned.
    stack.services['jaeger']!.image = `jaegertracing/all-in-one:1.62.0@sha256:${'a'.repeat(64)}`;
    stack.services['blackbox-exporter']!.image = `prom/blackbox-exporter:v0.27.0@sha256:${'b'.repeat(64)}`;
    const problems = problemsOf(stack).join('\n');
    assert.match(problems, /image postgres:latest is not pinned/);
    assert.match(problems, /image rabbitmq is not pinned/);
    assert.match(problems, /image boky\/postfix:v4\.4 is not pinned/);
    assert.match(problems, /image prom\/prometheus:v3 is not pinned/);
    assert.match(problems, /image grafana\/grafana:main is not pinned/);
    assert.doesNotMatch(problems, /jaeger|blackbox/, 'a tag with its digest is pinned');
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
    const ahead = fresh();
    (ahead.services['nginx']!.environment as Record<string, string>)['VECHE_UPSTREAM_PUBSUB'] =
      'presence-next:3000';
    const named = (pending: string[]) =>
      checkStack(ahead, { root, pendingUpstreams: pending }).filter((p) => /presence-next/.test(p));
    assert.equal(named([]).length, 1, 'an upstream that is not a service is reported');
    assert.deepEqual(named(['presence-next']), [], 'unless it is declared pending');
    assert.deepEqual(
      problemsOf(fresh()).filter((p) => /presence-router/.test(p)),
      [],
      'the presence-router is in the stack, on a network nginx shares',
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

  it('fails the stack file from before issue 19 on a rule for each defect the review found', () => {
    const before = path.join(root, 'scripts/deploy/test/fixtures/before-issue-19/stack.yml');
    const problems = checkStackFile(before, {}, { root }).join('\n');
    for (const defect of [
      /service gateway: its health check asks readiness \(\/api\/ready\)/,
      /service chat: its health check asks readiness/,
      /config crossbar_config: its name does not carry the hash of its content .*VECHE_VERSION restarts/,
      /config rabbitmq_conf: its name does not carry the hash/,
      /service crossbar: update_config.order is not stop-first \(two WAMP routers/,
      /network backend: overlay not encrypted/,
      /network edge: overlay not encrypted/,
      /service postgres: holds a volume but is not pinned by node.id .*node.labels.veche.storage == true/,
      /service rabbitmq: holds a volume but is not pinned/,
      /service rabbitmq: memory watermark relative to the host's memory/,
      /service postgres: shared_buffers \+ max_connections \(1000\) × work_mem \(40 MiB\).* over its 2048 MiB limit/,
      /service postgres: \/dev\/shm is swarm's 64 MB/,
      /service gateway: its image defaults to :latest/,
      /service nginx: its image defaults to :latest/,
      /service smtp-relay: no DKIM key/,
      /service smtp-relay: no way to pass relay credentials/,
      /service certbot: shares network edge with crossbar, gateway, nginx/,
      /service visualizer: mounts the Docker socket/,
      /service visualizer: reads the Docker API as root/,
      /secret database_url: its name has no version/,
      /monitoring: no Prometheus service: nothing scrapes the services' \/metrics/,
    ]) {
      assert.match(problems, defect);
    }
  });

  it('catches each hardening rule broken on the current stack', () => {
    const stack = fresh();
    service(stack, 'chat').environment = {
      ...(service(stack, 'chat').environment as object),
      VECHE_HEALTH_PATH: '/ready',
    };
    service(stack, 'crossbar').deploy!.update_config = { order: 'start-first' };
    stack.networks!['backend'] = { driver: 'overlay' };
    service(stack, 'postgres').deploy!.placement = { constraints: ['node.labels.veche.storage == true'] };
    service(stack, 'postgres').command = [
      'postgres',
      '-c',
      'max_connections=1000',
      '-c',
      'work_mem=40MB',
      '-c',
      'shared_buffers=512MB',
      '-c',
      'effective_cache_size=1024MB',
    ];
    service(stack, 'smtp-relay').secrets = [];
    service(stack, 'certbot').networks = ['edge'];
    service(stack, 'visualizer').volumes = ['/var/run/docker.sock:/var/run/docker.sock:ro'];
    delete service(stack, 'visualizer').user;
    const proxy = service(stack, 'docker-api');
    proxy.command = [...(proxy.command as string[]), '-allowPOST=.*', '-allowfrom=0.0.0.0/0'];
    const problems = problemsOf(stack).join('\n');
    for (const expected of [
      /service chat: its health check asks readiness/,
      /service crossbar: update_config.order is not stop-first/,
      /network backend: overlay not encrypted/,
      /service postgres: holds a volume but is not pinned/,
      /service postgres: shared_buffers \+ max_connections \(1000\)/,
      /service smtp-relay: no DKIM key/,
      /service smtp-relay: RELAYHOST_PASSWORD_FILE \/run\/secrets\/smtp_relay_password is not a mounted secret/,
      /service certbot: shares network edge/,
      /service visualizer: mounts the Docker socket/,
      /service visualizer: reads the Docker API as root/,
      /service docker-api: the Docker API proxy allows more than GET/,
    ]) {
      assert.match(problems, expected);
    }
  });

  it('runs Prometheus, Grafana and the exporters, and catches monitoring that would see nothing', () => {
    const current = fresh();
    for (const name of ['prometheus', 'grafana', 'postgres-exporter', 'node-exporter', 'blackbox-exporter'])
      assert.ok(current.services[name], name);
    assert.equal(service(current, 'node-exporter').deploy?.mode, 'global');
    // It reads the backup's metrics from each node's own volume, read-only: no pin needed; writable, it
    // would be state that another node could start empty.
    const writable = fresh();
    for (const v of service(writable, 'node-exporter').volumes ?? [])
      if (typeof v !== 'string' && v.source === 'backup-metrics') v.read_only = false;
    assert.match(problemsOf(writable).join('\n'), /service node-exporter: holds a volume but is not pinned/);
    const backupEnv = service(current, 'backup').environment as Record<string, string>;
    assert.equal(backupEnv['VECHE_BACKUP_METRICS_DIR'], '/var/lib/veche/backup-metrics');
    const stack = fresh();
    // Prometheus off the backend network: the services, RabbitMQ and the PostgreSQL exporter are out of reach.
    service(stack, 'prometheus').networks = ['monitoring', 'admin'];
    // RabbitMQ without its exporter plugin.
    service(stack, 'rabbitmq').configs = (service(stack, 'rabbitmq').configs ?? []).filter(
      (c) => typeof c === 'string' || c.target !== '/etc/rabbitmq/enabled_plugins',
    );
    // The alert rules read node_filesystem_*; nothing exports them.
    delete stack.services['node-exporter'];
    service(stack, 'grafana').ports = [{ target: 3000, published: 3000 }];
    // A new Veche service that nobody added to the scrape configuration.
    stack.services['bot-coin'] = structuredClone(service(stack, 'bot-dice'));
    service(stack, 'bot-coin').image = String(service(stack, 'bot-dice').image).replace(
      'bot-dice',
      'bot-coin',
    );
    const problems = problemsOf(stack).join('\n');
    for (const expected of [
      /service prometheus: job veche scrapes gateway, which shares no network with it/,
      /service prometheus: job rabbitmq scrapes rabbitmq, which shares no network with it/,
      /service prometheus: job postgres scrapes postgres-exporter, which shares no network with it/,
      /service prometheus: job node scrapes node-exporter, which is not a service of the stack/,
      /service rabbitmq: does not enable the rabbitmq_prometheus plugin/,
      /monitoring: the alert rules read node_filesystem_avail_bytes, but the stack runs no node exporter/,
      /service grafana: publishes a port/,
      /service bot-coin: not scraped by Prometheus/,
    ]) {
      assert.match(problems, expected);
    }
    delete stack.services['prometheus'];
    assert.match(problemsOf(stack).join('\n'), /monitoring: no Prometheus service/);
  });

  it('sends the alerts to an Alertmanager of the stack, and catches alerts that would reach nobody', () => {
    const current = fresh();
    const alertmanager = service(current, 'alertmanager');
    assert.match(String(alertmanager.image), /^prom\/alertmanager:v\d+\.\d+\.\d+$/);
    // Mail goes through the stack's relay (on `mail`); Prometheus and nginx reach it on `admin`.
    assert.deepEqual(Object.keys(alertmanager.networks ?? {}).sort(), ['admin', 'mail']);
    assert.deepEqual((alertmanager.secrets ?? []).map((s) => (typeof s === 'string' ? s : s.source)).sort(), [
      'alertmanager_smtp_password',
      'alertmanager_webhook_token',
    ]);
    const env = alertmanager.environment as Record<string, string>;
    assert.equal(env['VECHE_ALERT_SMTP_SMARTHOST'], 'smtp-relay:587');
    const nginxEnv = service(current, 'nginx').environment as Record<string, string>;
    assert.equal(nginxEnv['VECHE_UPSTREAM_ALERTMANAGER'], 'alertmanager:9093');
    const gone = fresh();
    delete gone.services['alertmanager'];
    assert.match(
      problemsOf(gone).join('\n'),
      /service prometheus: sends alerts to alertmanager, which is not a service of the stack/,
    );
    const apart = fresh();
    service(apart, 'alertmanager').networks = ['mail'];
    assert.match(
      problemsOf(apart).join('\n'),
      /service prometheus: sends alerts to alertmanager, which shares no network with it/,
    );
  });

  it("sends every service's traces to the collector, and catches a collector that would drop them", () => {
    const current = fresh();
    for (const name of ['otel-collector', 'jaeger']) assert.ok(current.services[name], name);
    const stack = fresh();
    const env = service(stack, 'mailer').environment as Record<string, string>;
    delete env['OTEL_EXPORTER_OTLP_ENDPOINT'];
    // Jaeger off the collector's network: the traces would go nowhere.
    service(stack, 'jaeger').networks = ['admin'];
    const problems = problemsOf(stack).join('\n');
    assert.match(problems, /service mailer: sends no traces \(OTEL_EXPORTER_OTLP_ENDPOINT unset/);
    assert.match(
      problems,
      /service otel-collector: exporter otlp\/jaeger sends to jaeger, which shares no network with it/,
    );
  });

  it('catches configs not named by their content, secrets without versions, and a :latest fallback', () => {
    const rawStack = raw() as {
      configs: Record<string, { name: string }>;
      secrets: Record<string, { name: string }>;
      services: Record<string, { image: string }>;
    };
    rawStack.configs['rabbitmq_conf']!.name = 'veche_rabbitmq_conf_${VECHE_VERSION}';
    rawStack.secrets['amqp_url']!.name = 'veche_amqp_url';
    rawStack.services['chat']!.image = '127.0.0.1:5000/veche-chat:${VECHE_VERSION:-latest}';
    const stack = fresh();
    (stack.configs!['crossbar_config'] as { name: string }).name = 'veche_crossbar_config_0123456789ab';
    const problems = problemsOf(stack, rawStack).join('\n');
    assert.match(problems, /config rabbitmq_conf: its name does not carry the hash of its content/);
    assert.match(
      problems,
      /config crossbar_config: name veche_crossbar_config_0123456789ab is not the hash of/,
    );
    assert.match(problems, /secret amqp_url: its name has no version/);
    assert.match(problems, /service chat: its image defaults to :latest/);
    // And docker itself refuses to render the stack without a version, instead of deploying :latest.
    assert.equal(dockerStackConfig(stackFile, { VECHE_VERSION: '' }).ok, false);
  });

  it('renders the three-manager layout (cluster and multi-node overlays) soundly, on RabbitMQ 4', () => {
    const files = ['stack.yml', 'stack.cluster.yml', 'stack.multinode.yml'].map((f) => path.join(root, f));
    assert.deepEqual(checkStackFile(files), []);
    const layout = dockerStackConfig(files);
    assert.ok(layout.ok, layout.ok ? '' : layout.error);
    const stack = parse(layout.yaml) as Stack;
    for (const name of ['rabbitmq', 'rabbitmq-2', 'rabbitmq-3']) {
      assert.match(String(stack.services[name]?.image), /^rabbitmq:4\./, `${name} runs RabbitMQ 4.x`);
    }
    const pins = ['rabbitmq', 'rabbitmq-2', 'rabbitmq-3'].map(
      (n) => service(stack, n).deploy?.placement?.constraints,
    );
    assert.deepEqual(pins, [
      ['node.id == check-node-1'],
      ['node.id == check-node-2'],
      ['node.id == check-node-3'],
    ]);
    assert.equal(service(stack, 'gateway').deploy?.placement?.max_replicas_per_node, 1);
    assert.equal(service(stack, 'presence-router').deploy?.placement?.max_replicas_per_node, 1);
    assert.equal(service(stack, 'postgres').deploy?.placement?.constraints?.[0], 'node.id == check-node-1');

    const problemsOfLayout = (change: (s: Stack) => void) => {
      const broken = structuredClone(stack);
      change(broken);
      return checkStack(broken, { root, pendingUpstreams, raw: raw() }).join('\n');
    };
    assert.match(
      problemsOfLayout(
        (s) => (service(s, 'rabbitmq-3').deploy!.placement = { constraints: ['node.id == check-node-2'] }),
      ),
      /service rabbitmq-3: on the same node \(check-node-2\) as rabbitmq-2/,
    );
    assert.match(
      problemsOfLayout((s) => (service(s, 'rabbitmq-2').networks = { backend: null })),
      /service rabbitmq-2: not reachable as amqp/,
    );
    assert.match(
      problemsOfLayout((s) => (service(s, 'rabbitmq-2').secrets = [])),
      /service rabbitmq-2: no Erlang cookie secret/,
    );
    assert.match(
      problemsOfLayout((s) => (service(s, 'rabbitmq-2').hostname = 'rabbit-two')),
      /service rabbitmq-2: rabbit@rabbit-two is not in the cluster configuration/,
    );
    assert.match(
      problemsOfLayout((s) => delete s.services['rabbitmq-3']),
      /rabbitmq cluster: 2 nodes/,
    );
    assert.match(
      problemsOfLayout((s) => (service(s, 'mailer').deploy!.placement = {})),
      /service mailer: not spread one replica per node over the 3 nodes/,
    );
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
