/**
 * A scripted scrape of the local fleet: every service's metrics through the fleet's origin, printed
 * one sample a line as `<service> <name>{<labels>} <value>`.
 */
import { parseExposition } from './metrics.ts';

const usage = `Usage: node scripts/fleet/scrape.ts [--origin URL] [--match REGEX] [--all]

Scrapes the /metrics of every service of a running local fleet (./scripts/dev) through its origin
(/_fleet/metrics/<service>) and prints each sample as "<service> <name>{<labels>} <value>".
  --origin URL    the fleet's origin (default: http://127.0.0.1:$VECHE_PORT, VECHE_PORT default 3000)
  --match REGEX   only samples whose name matches (default: ^veche_, the services' own metrics)
  --all           every sample, the process's own (nodejs_*, process_*) included
Exit status: 0 every service answered, 1 one did not, 2 usage.`;

function fail(message: string): never {
  console.error(`scrape: ${message}\n\n${usage}`);
  process.exit(2);
}

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log(usage);
  process.exit(0);
}
let origin = `http://127.0.0.1:${process.env['VECHE_PORT'] ?? '3000'}`;
let match = /^veche_/;
for (let i = 0; i < args.length; i++) {
  const arg = args[i];
  if (arg === '--origin') origin = args[++i] ?? fail('--origin needs a URL');
  else if (arg === '--match') {
    try {
      match = new RegExp(args[++i] ?? fail('--match needs a regular expression'));
    } catch {
      fail('--match: not a regular expression');
    }
  } else if (arg === '--all') match = /./;
  else fail(`unknown argument: ${arg}`);
}
if (!/^https?:\/\/[^/]+\/?$/.test(origin)) fail(`--origin must be http(s)://host:port, not ${origin}`);
origin = origin.replace(/\/$/, '');

const list = await fetch(`${origin}/_fleet/metrics.json`).catch((error: unknown) => {
  console.error(`scrape: no fleet at ${origin} (${(error as Error).message})`);
  process.exit(1);
});
if (!list.ok) {
  console.error(`scrape: ${origin}/_fleet/metrics.json answered ${list.status}`);
  process.exit(1);
}
const { services } = (await list.json()) as { services: { name: string; url: string }[] };
let failed = false;
for (const service of services) {
  const response = await fetch(`${origin}${service.url}`);
  if (!response.ok) {
    console.error(`scrape: ${service.name} answered ${response.status}: ${await response.text()}`);
    failed = true;
    continue;
  }
  for (const sample of parseExposition(await response.text())) {
    if (!match.test(sample.name)) continue;
    const labels = Object.entries(sample.labels)
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(',');
    console.log(`${service.name} ${sample.name}${labels ? `{${labels}}` : ''} ${sample.value}`);
  }
}
process.exit(failed ? 1 : 0);
