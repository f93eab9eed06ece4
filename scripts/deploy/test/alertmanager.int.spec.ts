/**
 * Alertmanager (monitoring/alertmanager): its entrypoint renders the configuration template from the
 * environment and Debian's amtool accepts every combination (mail, SMTP login, webhook, its token);
 * bad values stop the start. Then for real: Debian's Prometheus evaluates monitoring/prometheus/
 * alerts.yml against a scrape target that is down and sends the alerts, through the stack's
 * `alerting:` section, to Debian's Alertmanager started by our entrypoint, which notifies a webhook
 * here with the bearer token from its secret; and Alertmanager inhibits what depends on the outage.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { eventually, freePort } from '@veche/testing';
import { requireCommands, root, run, tempDir, withSbin } from './support/system.ts';

const entrypoint = path.join(root, 'monitoring/alertmanager/veche-alertmanager');
const template = path.join(root, 'monitoring/alertmanager/alertmanager.yml');
const prometheusDir = path.join(root, 'monitoring/prometheus');

/** Renders the template with `env` (and secrets from `secrets`), as the container's start does. */
function render(env: Record<string, string>, secrets: string) {
  return run('sh', [entrypoint, '--render'], {
    VECHE_ALERTMANAGER_TEMPLATE: template,
    VECHE_ALERTMANAGER_SECRETS: secrets,
    VECHE_DOMAIN: 'chat.example.org',
    ...env,
  });
}

function secretsDir(values: Record<string, string>): string {
  const dir = tempDir('am-secrets');
  for (const [name, value] of Object.entries(values)) writeFileSync(path.join(dir, name), value);
  return dir;
}

describe('Alertmanager', () => {
  before(() => requireCommands('amtool', 'prometheus', 'prometheus-alertmanager'));

  it('renders a configuration amtool accepts, with each part only when it is configured', () => {
    const none = secretsDir({ alertmanager_smtp_password: '-', alertmanager_webhook_token: '-' });
    const given = secretsDir({ alertmanager_smtp_password: 'pw', alertmanager_webhook_token: 'tok' });
    const cases: [string, Record<string, string>, string, RegExp[], RegExp[]][] = [
      ['nothing', {}, none, [], [/email_configs/, /webhook_configs/, /smtp_auth/]],
      [
        'mail through the relay',
        { VECHE_ALERT_EMAIL_TO: 'ops@example.org' },
        none,
        [/to: 'ops@example.org'/, /smtp_smarthost: 'smtp-relay:587'/, /insecure_skip_verify: true/],
        [/webhook_configs/, /smtp_auth/],
      ],
      [
        'mail through a smarthost with a login, and a webhook with a token',
        {
          VECHE_ALERT_EMAIL_TO: 'ops@example.org',
          VECHE_ALERT_SMTP_SMARTHOST: 'smtp.example.net:587',
          VECHE_ALERT_SMTP_USER: 'alerts',
          VECHE_ALERT_WEBHOOK_URL: 'https://hooks.example.org/veche?a=1&b=2',
        },
        given,
        [
          /smtp_auth_username: 'alerts'/,
          new RegExp(`smtp_auth_password_file: '${given}/alertmanager_smtp_password'`),
          /insecure_skip_verify: false/,
          /url: 'https:\/\/hooks\.example\.org\/veche\?a=1&b=2'/,
          new RegExp(`credentials_file: '${given}/alertmanager_webhook_token'`),
        ],
        [],
      ],
      [
        'a webhook without a token',
        { VECHE_ALERT_WEBHOOK_URL: 'http://hooks:8080/' },
        none,
        [/webhook_configs/],
        [/authorization/, /email_configs/],
      ],
    ];
    for (const [what, env, secrets, present, absent] of cases) {
      const rendered = render(env, secrets);
      assert.equal(rendered.status, 0, `${what}: ${rendered.stderr}`);
      assert.doesNotMatch(rendered.stdout, /\$\{/, `${what}: every variable replaced`);
      for (const re of present) assert.match(rendered.stdout, re, what);
      for (const re of absent) assert.doesNotMatch(rendered.stdout, re, what);
      const file = path.join(tempDir('am-config'), 'alertmanager.yml');
      writeFileSync(file, rendered.stdout);
      const check = run('amtool', ['check-config', file]);
      assert.equal(check.status, 0, `${what}: ${check.stdout}${check.stderr}`);
      assert.match(check.stdout, /5 inhibit rules/);
    }
  });

  it('refuses values that would break the configuration, or a login without its password', () => {
    const none = secretsDir({ alertmanager_smtp_password: '-', alertmanager_webhook_token: '-' });
    for (const [env, wanted] of [
      [{ VECHE_DOMAIN: '' }, /VECHE_DOMAIN is not set/],
      [{ VECHE_ALERT_EMAIL_TO: "ops@example.org'" }, /VECHE_ALERT_EMAIL_TO must not contain a quote/],
      [{ VECHE_ALERT_EMAIL_TO: 'ops' }, /VECHE_ALERT_EMAIL_TO is not an address/],
      [{ VECHE_ALERT_WEBHOOK_URL: 'hooks.example.org' }, /VECHE_ALERT_WEBHOOK_URL must be an http\(s\) URL/],
      [{ VECHE_ALERT_SMTP_SMARTHOST: 'smtp.example.net' }, /VECHE_ALERT_SMTP_SMARTHOST must be host:port/],
      [{ VECHE_ALERT_SMTP_USER: 'alerts' }, /alertmanager_smtp_password holds no password/],
    ] as const) {
      const result = render(env, none);
      assert.equal(result.status, 2, JSON.stringify(env));
      assert.match(result.stderr, wanted);
    }
    const help = run('sh', [entrypoint, '--help']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /^Usage: veche-alertmanager/);
  });

  describe('with a real Prometheus and Alertmanager', () => {
    const children: ChildProcess[] = [];
    const notifications: { authorization: string; body: Webhook }[] = [];
    let hook: http.Server;
    let alertmanagerUrl = '';

    interface Webhook {
      status: string;
      alerts: { status: string; labels: Record<string, string> }[];
    }

    const start = (command: string, args: string[], env: Record<string, string> = {}) => {
      const child = spawn(command, args, {
        env: withSbin({ ...process.env, ...env }),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const output = { text: '' };
      child.stdout.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
      children.push(child);
      return output;
    };

    before(async () => {
      hook = http.createServer((request, response) => {
        const chunks: Buffer[] = [];
        request.on('data', (chunk: Buffer) => chunks.push(chunk));
        request.on('end', () => {
          notifications.push({
            authorization: request.headers.authorization ?? '',
            body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Webhook,
          });
          response.writeHead(200).end();
        });
      });
      hook.listen(0, '127.0.0.1');
      await once(hook, 'listening');
      const hookPort = (hook.address() as net.AddressInfo).port;

      const dir = tempDir('alerting');
      const [amPort, promPort, downPort] = [await freePort(), await freePort(), await freePort()];
      alertmanagerUrl = `http://127.0.0.1:${amPort}/alertmanager`;
      // Our entrypoint, running Debian's Alertmanager on the rendered template.
      const amData = path.join(dir, 'alertmanager');
      mkdirSync(amData);
      start(
        'sh',
        [
          entrypoint,
          `--storage.path=${amData}`,
          `--web.listen-address=127.0.0.1:${amPort}`,
          `--web.external-url=${alertmanagerUrl}/`,
          '--cluster.listen-address=',
        ],
        {
          VECHE_ALERTMANAGER_BIN: 'prometheus-alertmanager',
          VECHE_ALERTMANAGER_TEMPLATE: template,
          VECHE_ALERTMANAGER_CONFIG: path.join(dir, 'alertmanager.yml'),
          VECHE_ALERTMANAGER_SECRETS: secretsDir({
            alertmanager_smtp_password: '-',
            alertmanager_webhook_token: 'hook-token',
          }),
          VECHE_DOMAIN: 'chat.example.org',
          VECHE_ALERT_WEBHOOK_URL: `http://127.0.0.1:${hookPort}/alerts`,
        },
      );

      // The stack's alert rules, ServiceDown's `for` shortened (its duration is promtool's test's);
      // the stack's `alerting:` section, its swarm DNS name replaced by this Alertmanager's address.
      const rules = readFileSync(path.join(prometheusDir, 'alerts.yml'), 'utf8');
      const shortened = rules.replace(
        /(- alert: ServiceDown\n(?:.*\n)*?\s+for: )2m/,
        (_m, head: string) => `${head}2s`,
      );
      assert.notEqual(shortened, rules, "ServiceDown's for: is where the test expects it");
      writeFileSync(path.join(dir, 'alerts.yml'), shortened);
      const stackConfig = parse(readFileSync(path.join(prometheusDir, 'prometheus.yml'), 'utf8')) as {
        alerting: { alertmanagers: Record<string, unknown>[] };
      };
      const [manager] = stackConfig.alerting.alertmanagers;
      assert.equal(manager?.['path_prefix'], '/alertmanager');
      const { dns_sd_configs: _dns, ...rest } = manager;
      writeFileSync(
        path.join(dir, 'prometheus.yml'),
        stringify({
          global: { scrape_interval: '1s', evaluation_interval: '1s' },
          rule_files: ['alerts.yml'],
          alerting: { alertmanagers: [{ ...rest, static_configs: [{ targets: [`127.0.0.1:${amPort}`] }] }] },
          // A gateway replica nobody answers for (the port was just freed; nothing listens there).
          scrape_configs: [
            {
              job_name: 'veche',
              static_configs: [{ targets: [`127.0.0.1:${downPort}`], labels: { component: 'gateway' } }],
            },
          ],
        }),
      );
      start('prometheus', [
        `--config.file=${path.join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${path.join(dir, 'tsdb')}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
      ]);
    });

    after(async () => {
      const running = children.filter((c) => c.exitCode === null && c.signalCode === null);
      const exits = running.map((c) => once(c, 'exit'));
      for (const child of running) child.kill('SIGTERM');
      await Promise.all(exits);
      hook?.close();
    });

    it('takes a down target from a firing alert to the webhook, with the token', async () => {
      const firing = await eventually(
        () =>
          notifications
            .flatMap((n) => n.body.alerts.map((alert) => ({ ...alert, authorization: n.authorization })))
            .find((a) => a.labels['alertname'] === 'ServiceDown' && a.status === 'firing'),
        // group_wait (30 s) after the first evaluation that fires.
        { message: 'ServiceDown at the webhook', timeoutMs: 120_000, intervalMs: 250 },
      );
      assert.equal(firing.labels['service'], 'gateway');
      assert.equal(firing.labels['severity'], 'critical');
      assert.equal(firing.authorization, 'Bearer hook-token');
    });

    it('inhibits what the outage explains: the down replica’s errors, not another service’s', async () => {
      const errors = (service: string) => ({
        labels: { alertname: 'HttpErrorsRising', severity: 'warning', service },
        annotations: { summary: `${service} answers 5xx` },
      });
      const posted = await fetch(`${alertmanagerUrl}/api/v2/alerts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify([errors('gateway'), errors('chat')]),
      });
      assert.equal(posted.status, 200, await posted.text());
      type Alert = { labels: Record<string, string>; status: { state: string; inhibitedBy: string[] } };
      const states = await eventually(
        async () => {
          const alerts = (await (
            await fetch(`${alertmanagerUrl}/api/v2/alerts?filter=alertname%3D%22HttpErrorsRising%22`)
          ).json()) as Alert[];
          const byService = new Map(alerts.map((a) => [a.labels['service'], a.status]));
          return byService.size === 2 && [...byService.values()].every((s) => s.state !== 'unprocessed')
            ? byService
            : undefined;
        },
        { message: 'both alerts processed', timeoutMs: 30_000 },
      );
      assert.equal(states.get('gateway')?.state, 'suppressed');
      assert.equal(states.get('gateway')?.inhibitedBy.length, 1, 'by ServiceDown');
      assert.equal(states.get('chat')?.state, 'active');
    });
  });
});
