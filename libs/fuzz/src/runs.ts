/**
 * How many cases a fuzz property tries: a few hundred in CI (each fuzz file well under a minute), or
 * many more on request. `FUZZ_RUNS=<n>` sets the count for every edge; `FUZZ_LONG=1` means 10,000
 * (the bar for a long run). `FUZZ_SEED=<n>` replays a run (fast-check prints the seed and
 * the shrunk counterexample of a failure; seeds may be negative). Without it the seed is fixed, so CI
 * is repeatable and a red run means the change, not the dice; `FUZZ_SEED=random` explores new
 * cases (what it finds is kept as a regression test).
 */
import type fc from 'fast-check';

/** The long-run bar: at least 10,000 cases per edge. */
export const longRuns = 10_000;

function positiveInteger(name: string): number | undefined {
  const text = process.env[name];
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1)
    throw new RangeError(`${name} must be a positive integer, not ${text}`);
  return value;
}

/** The number of cases for one edge: `FUZZ_RUNS`, else 10,000 with `FUZZ_LONG=1`, else `ciRuns`. */
export function fuzzRuns(ciRuns: number): number {
  const runs = positiveInteger('FUZZ_RUNS');
  if (runs !== undefined) return runs;
  return process.env['FUZZ_LONG'] === '1' ? longRuns : ciRuns;
}

/** True for a long run (more than the CI default): tests widen their time limits then. */
export const isLongRun = (): boolean =>
  process.env['FUZZ_LONG'] === '1' || process.env['FUZZ_RUNS'] !== undefined;

/** The seed CI uses when FUZZ_SEED is unset. */
export const defaultSeed = 20_261_202;

function fuzzSeed(): number | undefined {
  const text = process.env['FUZZ_SEED'];
  if (text === undefined || text === '') return defaultSeed;
  if (text === 'random') return undefined;
  const value = Number(text);
  if (!Number.isSafeInteger(value))
    throw new RangeError(`FUZZ_SEED must be an integer or random, not ${text}`);
  return value;
}

/** fast-check parameters for one edge: the run count and the seed (fixed unless FUZZ_SEED=random). */
export function fuzzParameters<T>(ciRuns: number, extra: fc.Parameters<T> = {}): fc.Parameters<T> {
  const seed = fuzzSeed();
  return {
    numRuns: fuzzRuns(ciRuns),
    ...(seed !== undefined ? { seed } : {}),
    ...extra,
  };
}

/** Counts what one edge's fuzzing did, and prints it as one line. */
export class FuzzTally {
  cases = 0;
  readonly byOutcome = new Map<string, number>();

  readonly edge: string;

  constructor(edge: string) {
    this.edge = edge;
  }

  count(outcome: string): void {
    this.cases += 1;
    this.byOutcome.set(outcome, (this.byOutcome.get(outcome) ?? 0) + 1);
  }

  line(): string {
    const outcomes = [...this.byOutcome.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([outcome, n]) => `${outcome}: ${n}`)
      .join(', ');
    return `[fuzz] ${this.edge}: ${this.cases} cases tried (${outcomes})`;
  }

  /** Prints the line (the test runner shows a file's output). */
  print(): string {
    const line = this.line();
    process.stdout.write(`${line}\n`);
    return line;
  }
}
