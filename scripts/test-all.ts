/**
 * The whole test suite, in the order that fails fastest: format, typecheck, lint, then unit tests,
 * integration tests against real PostgreSQL and RabbitMQ (found or started by the preflight), and
 * whole-fleet (end-to-end) tests. Usage: scripts/test [--skip-static] [filter…]
 */
import { spawnSync } from 'node:child_process';
import { ensureServers, ensureSystemCommands, PreflightError } from './lib/preflight.ts';
import { runTests } from './run-tests.ts';

const args = process.argv.slice(2);
if (args.includes('--help')) {
  console.log(`Usage: scripts/test [--skip-static] [filter…]
  Runs format check, typecheck, lint, unit, integration and whole-fleet (e2e) tests.
  --skip-static   only the tests (no format/typecheck/lint)
  filter          run only test files whose path contains one of these strings
Environment: TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/veche_test),
  AMQP_URL (default amqp://guest:guest@127.0.0.1:5672), TEST_CONCURRENCY, TEST_TIMEOUT_MS,
  TEST_TIME_SCALE (how much longer than stated a wait in a test may take; default 3).`);
  process.exit(0);
}
const skipStatic = args.includes('--skip-static');
const filters = args.filter((a) => !a.startsWith('--'));

const step = (name: string) => console.log(`\n\x1b[1;34m[veche test]\x1b[0m ${name}`);
const started = Date.now();

function run(name: string, command: string, commandArgs: string[]): void {
  step(name);
  const t0 = Date.now();
  const result = spawnSync(command, commandArgs, { stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`\x1b[1;31m[veche test] ${name} failed\x1b[0m`);
    process.exit(result.status ?? 1);
  }
  console.log(`[veche test] ${name}: ok (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}

if (!skipStatic) {
  run('format (prettier --check)', 'pnpm', ['exec', 'prettier', '--check', '--log-level=warn', '.']);
  run('typecheck (tsc --noEmit)', 'pnpm', ['exec', 'tsc', '-p', 'tsconfig.json']);
  // The browser client has its own compiler settings (DOM, JSX): see clients/web/tsconfig.json.
  run('typecheck web client', 'pnpm', ['exec', 'tsc', '-p', 'clients/web/tsconfig.json']);
  run('lint (eslint, type-aware)', 'pnpm', ['exec', 'eslint', '--max-warnings=0', '.']);
}

step('servers');
let servers;
try {
  ensureSystemCommands({ log: (line) => console.log(`[veche test] ${line}`) });
  servers = await ensureServers({
    databaseUrl: process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/veche_test',
    amqpUrl: process.env['AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672',
    log: (line) => console.log(`[veche test] ${line}`),
  });
} catch (error) {
  if (error instanceof PreflightError) {
    console.error(`\x1b[1;31m[veche test]\x1b[0m ${error.message}`);
    process.exit(3);
  }
  throw error;
}

const env = {
  ...process.env,
  TEST_DATABASE_URL: servers.databaseUrl,
  AMQP_URL: servers.amqpUrl,
  LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'warn',
};
let status = 0;
try {
  step('unit tests');
  status = runTests('unit', filters, env);
  if (status === 0) {
    step('integration tests');
    status = runTests('int', filters, env);
  }
  if (status === 0) {
    step('whole-fleet tests');
    status = runTests('e2e', filters, env);
  }
} finally {
  await servers.stop();
}
console.log(
  `\n[veche test] ${status === 0 ? '\x1b[1;32mall passed\x1b[0m' : '\x1b[1;31mFAILED\x1b[0m'} in ${((Date.now() - started) / 1000).toFixed(0)} s`,
);
process.exit(status);
