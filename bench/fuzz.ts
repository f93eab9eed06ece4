/**
 * Long fuzz runs (issue 21's "at least 10,000 cases per edge"; not CI): runs the fuzz test files of
 * each edge with FUZZ_RUNS cases each, one file after the other, and prints, per edge, the cases tried
 * and their outcomes (the `[fuzz]` lines the tests print), the wall and CPU time, and for a failure
 * fast-check's counterexample with the seed and path that replay it.
 *
 * Usage: node bench/fuzz.ts [--runs 10000] [--seed <n>|random] [--edges <edge>,…] (default: every edge)
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const root = path.resolve(import.meta.dirname, '..');

/** Each edge: the test file that fuzzes it, and the test names (node --test-name-pattern) it needs. */
const edges = {
  api: { file: 'libs/fuzz/test/api.e2e.spec.ts', pattern: 'answers every generated request' },
  pubsub: { file: 'libs/fuzz/test/fleet-edges.e2e.spec.ts', pattern: '/pubsub frame' },
  rabbitmq: { file: 'libs/fuzz/test/fleet-edges.e2e.spec.ts', pattern: 'dead-letters every message' },
  wamp: { file: 'libs/wamp-router/test/fuzz.int.spec.ts', pattern: undefined },
  'syslog-tcp': { file: 'libs/fuzz/test/syslog-tcp.e2e.spec.ts', pattern: undefined },
  'syslog-framing': { file: 'services/log-listener/test/syslog-fuzz.unit.spec.ts', pattern: undefined },
} as const;
type Edge = keyof typeof edges;

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '10000' },
    seed: { type: 'string' },
    edges: { type: 'string', default: Object.keys(edges).join(',') },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(`Usage: node bench/fuzz.ts [--runs 10000] [--seed <n>|random] [--edges <edge>,…]
  Runs each edge's fuzz tests (libs/fuzz, libs/wamp-router) with --runs cases per property, one edge
  after the other (each starts its own local fleet or router), and prints per edge the cases tried
  by outcome, the wall time and the CPU seconds of the run's processes, and any counterexample with
  the seed and path that replay it (FUZZ_SEED=<seed> ./scripts/test --skip-static <file>).
  Exits 1 when an edge found a counterexample or failed, 2 on bad arguments.
  --runs    cases per property (the issue's bar is 10,000; CI runs a few hundred)
  --seed    fast-check's seed (default: the fixed seed CI uses; "random" explores new cases)
  --edges   a comma-separated subset of (default: all): ${Object.keys(edges).join(', ')}`);
  process.exit(0);
}
const runs = Number(values.runs);
const chosen = values.edges.split(',').filter(Boolean) as Edge[];
if (!Number.isSafeInteger(runs) || runs < 1 || chosen.length === 0 || chosen.some((e) => !(e in edges))) {
  console.error(
    `bad arguments: --runs must be a positive integer, --edges a subset of ${Object.keys(edges).join(', ')}`,
  );
  process.exit(2);
}
// A renamed test file must not turn an edge into a one-second "failure" at the end of a long run.
const missing = chosen.filter((e) => !existsSync(path.join(root, edges[e].file)));
if (missing.length > 0) {
  console.error(`no fuzz test file for ${missing.map((e) => `${e} (${edges[e].file})`).join(', ')}`);
  process.exit(2);
}

/** CPU seconds (user + system) of this process's waited-for descendants, from /proc. */
function childCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 16 and 17 of stat (cutime, cstime) are at 13 and 14 after the command name.
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

interface Result {
  edge: Edge;
  lines: string[];
  failures: string[];
  exitCode: number | null;
  seconds: number;
  cpuSeconds: number;
}

async function runEdge(edge: Edge): Promise<Result> {
  const { file, pattern } = edges[edge];
  const cpuBefore = childCpuSeconds();
  const started = Date.now();
  const child = spawn(
    process.execPath,
    [
      '--test',
      '--test-concurrency=1',
      '--test-timeout=0',
      '--test-reporter=spec',
      ...(pattern ? [`--test-name-pattern=${pattern}`] : []),
      file,
    ],
    {
      cwd: root,
      env: {
        ...process.env,
        FUZZ_RUNS: String(runs),
        ...(values.seed ? { FUZZ_SEED: values.seed } : {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exitCode = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const lines = output.split('\n').filter((line) => line.includes('[fuzz] '));
  // fast-check's report: "Property failed after N tests", "{ seed: …, path: … }", "Counterexample: …".
  const failures = output
    .split('\n')
    .filter((line) =>
      /Property failed after|seed: -?\d+, path:|Counterexample:|Shrunk \d+ time|not ok|✖ /.test(line),
    )
    .map((line) => line.trim());
  return {
    edge,
    lines: lines.map((line) => line.slice(line.indexOf('[fuzz] '))),
    failures: exitCode === 0 ? [] : failures.length > 0 ? failures : [output.slice(-2000)],
    exitCode,
    seconds: (Date.now() - started) / 1000,
    cpuSeconds: childCpuSeconds() - cpuBefore,
  };
}

console.log(
  `[bench/fuzz] ${runs} cases per property, seed ${values.seed ?? 'fixed (CI’s)'}, edges ${chosen.join(', ')}; load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
const results: Result[] = [];
for (const edge of chosen) {
  const result = await runEdge(edge);
  results.push(result);
  console.log(
    `[bench/fuzz] ${edge}: exit ${result.exitCode}, ${result.seconds.toFixed(0)} s wall, ${result.cpuSeconds.toFixed(0)} CPU-s; load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  for (const line of result.lines) console.log(`  ${line}`);
  for (const line of result.failures) console.log(`  FAILED: ${line}`);
}
console.log('\nedge            cases  wall s  CPU s  result');
for (const result of results) {
  const cases = result.lines
    .map((line) => Number(/: (\d+) cases tried/.exec(line)?.[1] ?? 0))
    .reduce((a, b) => a + b, 0);
  console.log(
    `${result.edge.padEnd(15)} ${String(cases).padStart(6)}  ${result.seconds.toFixed(0).padStart(6)}  ${result.cpuSeconds
      .toFixed(0)
      .padStart(5)}  ${result.exitCode === 0 ? 'ok' : 'COUNTEREXAMPLE / FAILED (above)'}`,
  );
}
process.exit(results.every((r) => r.exitCode === 0) ? 0 : 1);
