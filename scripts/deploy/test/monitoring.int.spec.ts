/**
 * The monitoring files (monitoring/): Prometheus' configuration and alert rules checked by Debian's
 * promtool, the alert rules' own unit tests run (each alert fires on the series that should raise it),
 * Grafana's provisioning files in the shape Grafana reads, every dashboard query valid PromQL, and
 * every Veche metric they name declared by @veche/metrics (a renamed metric breaks this test, not a
 * dashboard in production).
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { registry } from '@veche/metrics';
import { requireCommands, root, run, tempDir } from './support/system.ts';

const monitoring = path.join(root, 'monitoring');
const dashboards = path.join(monitoring, 'grafana/dashboards');

interface Dashboard {
  uid: string;
  title: string;
  panels: { title: string; datasource: { uid: string }; targets: { expr: string }[] }[];
}
const boards = (): Dashboard[] =>
  readdirSync(dashboards).map((f) => JSON.parse(readFileSync(path.join(dashboards, f), 'utf8')) as Dashboard);

/** The veche_* metric names a PromQL text uses, without histogram suffixes. */
const vecheMetrics = (expr: string): string[] =>
  [...expr.matchAll(/\bveche_[a-z0-9_]+/g)].map((m) => m[0].replace(/_(bucket|count|sum)$/, ''));

describe('monitoring', () => {
  before(() => requireCommands('promtool'));

  it("Prometheus' configuration and alert rules pass promtool check", () => {
    const config = run('promtool', ['check', 'config', path.join(monitoring, 'prometheus/prometheus.yml')]);
    assert.equal(config.status, 0, config.stdout + config.stderr);
    assert.match(config.stdout, /SUCCESS: \d+ rules found/);
    const rules = run('promtool', ['check', 'rules', path.join(monitoring, 'prometheus/alerts.yml')]);
    assert.equal(rules.status, 0, rules.stdout + rules.stderr);
  });

  it('has each alert the issue asks for, and its unit tests pass (they fail when a rule is broken)', () => {
    const alerts = (
      parse(readFileSync(path.join(monitoring, 'prometheus/alerts.yml'), 'utf8')) as {
        groups: { rules: { alert: string }[] }[];
      }
    ).groups.flatMap((g) => g.rules.map((r) => r.alert));
    for (const wanted of [
      'OutboxRelayLagging',
      'DeadLetterQueueNotEmpty',
      'ReplicationLagging',
      'BackupTooOld',
      'CertificateExpiresSoon',
      'DiskFillingUp',
    ]) {
      assert.ok(alerts.includes(wanted), wanted);
    }
    const tests = run(
      'promtool',
      ['test', 'rules', 'alerts.test.yml'],
      {},
      path.join(monitoring, 'prometheus'),
    );
    assert.equal(tests.status, 0, tests.stdout + tests.stderr);
    // The same tests against a rule whose threshold is off: promtool must say so.
    const dir = tempDir('alerts');
    writeFileSync(
      path.join(dir, 'alerts.yml'),
      readFileSync(path.join(monitoring, 'prometheus/alerts.yml'), 'utf8').replace(
        'veche_outbox_relay_lag_events) > 1000',
        'veche_outbox_relay_lag_events) > 100000',
      ),
    );
    writeFileSync(
      path.join(dir, 'alerts.test.yml'),
      readFileSync(path.join(monitoring, 'prometheus/alerts.test.yml')),
    );
    const broken = run('promtool', ['test', 'rules', 'alerts.test.yml'], {}, dir);
    assert.notEqual(broken.status, 0);
    assert.match(broken.stdout + broken.stderr, /OutboxRelayLagging/);
  });

  it("provisions Grafana's data source and dashboards in the shape Grafana reads", () => {
    const sources = parse(
      readFileSync(path.join(monitoring, 'grafana/provisioning/datasources/prometheus.yml'), 'utf8'),
    ) as { apiVersion: number; datasources: { name: string; uid: string; type: string; url: string }[] };
    assert.equal(sources.apiVersion, 1);
    const [prometheus] = sources.datasources;
    assert.equal(prometheus?.type, 'prometheus');
    assert.match(prometheus?.url ?? '', /^http:\/\/prometheus:9090$/);
    const providers = parse(
      readFileSync(path.join(monitoring, 'grafana/provisioning/dashboards/veche.yml'), 'utf8'),
    ) as { apiVersion: number; providers: { type: string; options: { path: string } }[] };
    assert.equal(providers.apiVersion, 1);
    assert.equal(providers.providers[0]?.type, 'file');
    assert.ok(providers.providers[0]?.options.path.startsWith('/'));
    const titles = boards().map((b) => b.title);
    assert.deepEqual(titles.sort(), [
      'Veche chat',
      'Veche fleet',
      'Veche logs',
      'Veche mail',
      'Veche presence',
    ]);
    for (const board of boards()) {
      assert.match(board.uid, /^veche-[a-z]+$/);
      for (const panel of board.panels) assert.equal(panel.datasource.uid, prometheus?.uid, panel.title);
    }
  });

  it('queries only valid PromQL, and only metrics the services declare', async () => {
    const exprs = boards().flatMap((b) => b.panels.flatMap((p) => p.targets.map((t) => t.expr)));
    const alertExprs = (
      parse(readFileSync(path.join(monitoring, 'prometheus/alerts.yml'), 'utf8')) as {
        groups: { rules: { expr: string }[] }[];
      }
    ).groups.flatMap((g) => g.rules.map((r) => r.expr));
    // promtool parses PromQL in recording rules: one per dashboard query.
    const dir = tempDir('promql');
    const rules = {
      groups: [{ name: 'dashboards', rules: exprs.map((expr, i) => ({ record: `veche:q${i}`, expr })) }],
    };
    writeFileSync(path.join(dir, 'queries.yml'), JSON.stringify(rules));
    const check = run('promtool', ['check', 'rules', path.join(dir, 'queries.yml')]);
    assert.equal(check.status, 0, check.stdout + check.stderr);

    const declared = new Set((await registry.getMetricsAsJSON()).map((m) => m.name));
    const used = new Set([...exprs, ...alertExprs].flatMap(vecheMetrics));
    // Written by scripts/backup for the node exporter's textfile collector (not a Node process).
    const external = new Set(['veche_backup_last_success_timestamp_seconds']);
    for (const name of used) {
      if (!external.has(name)) assert.ok(declared.has(name), `${name} is not declared in @veche/metrics`);
    }
  });
});
