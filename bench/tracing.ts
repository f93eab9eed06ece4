/**
 * What traces cost on the WAMP call path (ADR 0016): RPC calls per second through the local router
 * (libs/wamp-router as a child process) with one caller and one callee in this process, first with
 * tracing off (no OTEL_EXPORTER_OTLP_ENDPOINT: the helpers return at once), then with the SDK on,
 * exporting every span (a client and a server span per call) over OTLP/HTTP to a receiver here that
 * counts them.
 *
 * Usage: node bench/tracing.ts [--calls 20000] [--window 64] [--rounds 2]
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { createLogger } from '../libs/log/src/index.ts';
import { startTracing } from '../libs/service/src/tracing.ts';
import { echoCalls, registerEcho, startBenchRouter } from './wamp-support.ts';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '20000' },
    window: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '2' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(`Usage: node bench/tracing.ts [--calls 20000] [--window 64] [--rounds 2]
  What traces cost on the WAMP call path: RPC calls per second through the local router with
  tracing off, then with the OpenTelemetry SDK exporting every span over OTLP/HTTP to a receiver
  that counts them; --rounds alternations of the two. Prints calls/s for each and the spans received.
  -h, --help this text`);
  process.exit(0);
}
const calls = Number(values.calls);
const window = Number(values.window);
const rounds = Number(values.rounds);

const log = createLogger({ service: 'bench', level: 'warn' });

// The OTLP receiver, in a process of its own (its JSON parsing is the collector's work, not the
// service's): counts the spans of each export, and prints the count when asked on stdin.
const receiverSource = `
const http = require('node:http');
let spans = 0;
const server = http.createServer((request, response) => {
  const chunks = [];
  request.on('data', (c) => chunks.push(c));
  request.on('end', () => {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    for (const r of body.resourceSpans ?? []) for (const s of r.scopeSpans ?? []) spans += (s.spans ?? []).length;
    response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
});
server.listen(0, '127.0.0.1', () => console.log('port ' + server.address().port));
process.stdin.on('data', () => console.log('spans ' + spans));
`;
const receiver = spawn(process.execPath, ['-e', receiverSource], { stdio: ['pipe', 'pipe', 'inherit'] });
const receiverLines: string[] = [];
let receiverWaiter: ((line: string) => void) | undefined;
receiver.stdout.on('data', (chunk: Buffer) => {
  for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
    if (receiverWaiter) {
      receiverWaiter(line);
      receiverWaiter = undefined;
    } else receiverLines.push(line);
  }
});
const receiverLine = () =>
  receiverLines.length > 0
    ? Promise.resolve(receiverLines.shift()!)
    : new Promise<string>((resolve) => (receiverWaiter = resolve));
const endpoint = `http://127.0.0.1:${(await receiverLine()).split(' ')[1]}`;

const router = await startBenchRouter(log);
const { connect } = router;
const callee = await connect('callee');
const caller = await connect('caller');

const run = async () => calls / (await echoCalls(caller, calls, window));

try {
  await registerEcho(callee);
  await run(); // warm-up
  const off: number[] = [];
  for (let i = 0; i < rounds; i++) off.push(await run());
  const tracing = startTracing({ service: 'bench', endpoint, log });
  const on: number[] = [];
  for (let i = 0; i < rounds; i++) on.push(await run());
  await tracing.shutdown();
  receiver.stdin.write('?\n');
  const spansReceived = Number((await receiverLine()).split(' ')[1]);
  const best = (xs: number[]) => Math.round(Math.max(...xs));
  console.log(`rpc, tracing off: ${off.map(Math.round).join(', ')} calls/s (best ${best(off)})`);
  console.log(
    `rpc, tracing on:  ${on.map(Math.round).join(', ')} calls/s (best ${best(on)}); ${spansReceived} spans exported (expected ${2 * calls * rounds})`,
  );
  console.log(
    `cost: ${Math.round((1 - best(on) / best(off)) * 100)} % of the calls/s (${calls} calls, ${window} in flight)`,
  );
} finally {
  await caller.close();
  await callee.close();
  router.stop();
  receiver.kill('SIGTERM');
}
