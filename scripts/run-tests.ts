/**
 * Runs the test files of one kind with Node's test runner: `unit` (*.unit.spec.ts), `int`
 * (*.int.spec.ts), `e2e` (*.e2e.spec.ts) or `all`. Extra arguments filter files by substring.
 * Usage: node scripts/run-tests.ts <unit|int|e2e|all> [filter…]
 */
import { spawnSync } from 'node:child_process';
import { globSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const kinds = { unit: ['unit'], int: ['int'], e2e: ['e2e'], all: ['unit', 'int', 'e2e'] } as const;

export function testFiles(kind: keyof typeof kinds, filters: readonly string[] = []): string[] {
  const files = kinds[kind].flatMap((k) =>
    globSync(`{libs,services,clients,scripts}/*/test/**/*.${k}.spec.ts`, {
      exclude: (name) => name === 'node_modules',
    }),
  );
  return files.filter((f) => filters.length === 0 || filters.some((filter) => f.includes(filter))).sort();
}

export function runTests(
  kind: keyof typeof kinds,
  filters: readonly string[],
  env: NodeJS.ProcessEnv,
): number {
  const files = testFiles(kind, filters);
  if (files.length === 0) {
    console.error(`no ${kind} test files${filters.length ? ` match ${filters.join(', ')}` : ''}`);
    return filters.length ? 0 : 1;
  }
  // Integration tests wait on servers more than on the CPU: run more files than cores at once. A
  // whole-fleet test runs a dozen processes: two at a time.
  const concurrency = kind === 'unit' ? Math.max(os.availableParallelism(), 2) : kind === 'e2e' ? 2 : 4;
  const timeoutMs = Number(process.env['TEST_TIMEOUT_MS'] ?? 180_000);
  const result = spawnSync(
    process.execPath,
    [
      // Each file's process ends at the latest a minute after a hook would have timed out (see there).
      '--import',
      path.join(import.meta.dirname, 'lib/test-exit-watchdog.ts'),
      '--test',
      `--test-concurrency=${process.env['TEST_CONCURRENCY'] ?? concurrency}`,
      `--test-timeout=${timeoutMs}`,
      '--test-reporter=spec',
      ...files,
    ],
    { stdio: 'inherit', env: { TEST_EXIT_GRACE_MS: String(timeoutMs + 60_000), ...env } },
  );
  return result.status ?? 1;
}

if (import.meta.main) {
  const [kind = 'all', ...filters] = process.argv.slice(2);
  if (kind === '--help' || !(kind in kinds)) {
    console.log('Usage: node scripts/run-tests.ts <unit|int|e2e|all> [filter…]');
    process.exit(kind === '--help' ? 0 : 2);
  }
  process.exit(runTests(kind as keyof typeof kinds, filters, process.env));
}
