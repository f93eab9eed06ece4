#!/usr/bin/env node
/** The `veche-presence` command (see src/cli/main.ts and `--help`). */
import { main } from '../src/cli/main.ts';

const stop = new AbortController();
process.once('SIGINT', () => stop.abort());
process.once('SIGTERM', () => stop.abort());
const code = await main(
  process.argv.slice(2),
  process.env,
  (line) => process.stdout.write(`${line}\n`),
  (line) => process.stderr.write(`${line}\n`),
  stop.signal,
);
process.exit(code);
