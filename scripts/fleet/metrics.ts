/**
 * The local fleet's metrics, as Prometheus would scrape them in the stack: each service's own
 * `/metrics` through the origin (`/_fleet/metrics/<service>`), the list of them
 * (`/_fleet/metrics.json`), and a page for people (`/_fleet/metrics`) with every Veche sample of every
 * service, refreshed every five seconds.
 */
import type { FastifyInstance } from 'fastify';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (comments and blank lines skipped). */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const label of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[label[1]!] = label[2]!.replace(/\\"/g, '"').replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

const escape = (text: string) =>
  text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

const error = (code: string, message: string, details: Record<string, unknown> = {}) =>
  JSON.stringify({ error: { code, message, details } });

/** Registers the metrics routes for `targets` (service name → its port on 127.0.0.1). */
export function registerFleetMetrics(app: FastifyInstance, targets: () => ReadonlyMap<string, number>): void {
  const scrape = async (port: number): Promise<string> => {
    const response = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5_000) });
    if (!response.ok) throw new Error(`answered ${response.status}`);
    return response.text();
  };

  app.get('/_fleet/metrics.json', async () => ({
    services: [...targets().keys()].map((name) => ({ name, url: `/_fleet/metrics/${name}` })),
  }));

  app.get<{ Params: { service: string } }>('/_fleet/metrics/:service', async (request, reply) => {
    const port = targets().get(request.params.service);
    if (port === undefined) {
      return reply
        .code(404)
        .type('application/json')
        .send(error('not_found', 'No such service in this fleet', { service: request.params.service }));
    }
    try {
      return reply.type('text/plain; version=0.0.4; charset=utf-8').send(await scrape(port));
    } catch (thrown) {
      return reply
        .code(503)
        .type('application/json')
        .send(
          error('unavailable', `${request.params.service} did not answer its /metrics`, {
            reason: (thrown as Error).message,
          }),
        );
    }
  });

  app.get('/_fleet/metrics', async (_request, reply) => {
    const sections = await Promise.all(
      [...targets()].map(async ([name, port]) => {
        const rows = await scrape(port)
          .then((text) =>
            parseExposition(text)
              .filter((s) => s.name.startsWith('veche_') && !/_bucket$/.test(s.name) && s.value !== 0)
              .map((s) => {
                const { service: _service, ...labels } = s.labels;
                const shown = Object.entries(labels)
                  .map(([k, v]) => `${k}="${v}"`)
                  .join(', ');
                return `<tr><td><code>${escape(s.name)}</code></td><td>${escape(shown)}</td><td>${s.value}</td></tr>`;
              })
              .join(''),
          )
          .catch(
            (thrown: unknown) =>
              `<tr><td colspan="3">not answering: ${escape((thrown as Error).message)}</td></tr>`,
          );
        return `<h2 id="${escape(name)}">${escape(name)} <a href="/_fleet/metrics/${escape(name)}">raw</a></h2><table>${rows || '<tr><td colspan="3">no samples yet</td></tr>'}</table>`;
      }),
    );
    return reply.type('text/html; charset=utf-8')
      .send(`<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="5"><title>Veche local fleet: metrics</title>
<style>body{font:14px/1.4 system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#1d2330}
table{border-collapse:collapse;width:100%;margin-bottom:1.5rem}td{border-bottom:1px solid #dde;padding:.2rem .5rem;vertical-align:top}
td:last-child{text-align:right;font-variant-numeric:tabular-nums}code{background:#f1f3f8;padding:0 .3rem;border-radius:4px}</style></head>
<body><h1>Veche local fleet: metrics</h1><p>Every non-zero Veche sample of every service (histogram buckets left out), as
Prometheus scrapes them in the stack; refreshed every 5 s. Raw: <code>/_fleet/metrics/&lt;service&gt;</code>;
from a terminal: <code>node scripts/fleet/scrape.ts</code>.</p>${sections.join('\n')}</body></html>`);
  });
}
