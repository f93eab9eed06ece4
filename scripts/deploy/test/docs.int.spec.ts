/**
 * The runbook names only commands that exist: every `scripts/deploy/…` command in the operations
 * docs and ADRs is a script whose --help lists each option used, and every `docker …` command is one
 * the docker client knows (it prints the parent's usage, and exits 0, for one it does not).
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { requireCommands, root, run } from './support/system.ts';

const documents = [
  'docs/operations.md',
  'docs/adr/0008-deployment.md',
  'docs/adr/0011-production-hardening.md',
  'docs/adr/0012-standby-failover-and-off-site-backups.md',
  'docs/adr/0013-quorum-queues-and-three-nodes.md',
  'scripts/deploy/README.md',
  'nginx/README.md',
];

/** The text of inline code spans and fenced code blocks, one command line per entry. */
function codeLines(markdown: string): string[] {
  const lines: string[] = [];
  for (const block of markdown.matchAll(/```[a-z]*\n([\s\S]*?)```/g)) {
    lines.push(...block[1]!.split('\n').map((l) => l.replace(/\s+#.*$/, '').trim()));
  }
  const prose = markdown.replace(/```[a-z]*\n[\s\S]*?```/g, '');
  for (const span of prose.matchAll(/`([^`\n]+)`/g)) lines.push(span[1]!.trim());
  return lines.filter(Boolean);
}

const helpCache = new Map<string, { status: number | null; text: string }>();
function help(command: string, args: string[]): { status: number | null; text: string } {
  const key = [command, ...args].join(' ');
  if (!helpCache.has(key)) {
    const result = run(command, [...args, '--help']);
    helpCache.set(key, { status: result.status, text: result.stdout + result.stderr });
  }
  return helpCache.get(key)!;
}

/** Problems with the commands a document names: "line: what is wrong". */
export function commandProblems(markdown: string): string[] {
  const problems: string[] = [];
  for (const line of codeLines(markdown)) {
    for (const match of line.matchAll(
      /(?:^|[\s"'(])(?:\.\/)?scripts\/deploy\/([a-z][a-z0-9.-]*)([^|;&)`"]*)/g,
    )) {
      const name = match[1]!;
      const file = path.join(root, 'scripts/deploy', name);
      if (!existsSync(file)) {
        problems.push(`${line}: scripts/deploy/${name} does not exist`);
        continue;
      }
      const flags = (match[2] ?? '').split(/\s+/).filter((t) => /^--[a-z][a-z-]*$/.test(t));
      if (flags.length === 0) continue;
      const usage = name.endsWith('.ts') ? help(process.execPath, [file]) : help(file, []);
      for (const flag of flags) {
        if (!new RegExp(`${flag}\\b`).test(usage.text)) {
          problems.push(`${line}: scripts/deploy/${name} has no option ${flag}`);
        }
      }
    }
    for (const match of line.matchAll(/(?:^|[\s$(])docker((?:\s+[a-z]+)+)/g)) {
      const words = match[1]!.trim().split(/\s+/).slice(0, 2);
      // The deepest of these words the client knows as a command; a known one prints its own usage.
      const usage = help('docker', words).text;
      const known = /^Usage:\s+docker ([a-z ]+?)(?:\s+\[|\s+[A-Z]|$)/m.exec(usage)?.[1]?.trim() ?? '';
      const asked = words.join(' ');
      if (!asked.startsWith(known) || known === '') {
        problems.push(`${line}: docker ${asked} is not a docker command`);
      } else if (known !== asked && /^Commands:/m.test(usage)) {
        // `docker config prune`: the client printed `docker config`'s usage, listing its commands.
        problems.push(`${line}: docker ${asked} is not a docker command`);
      }
    }
  }
  return problems;
}

describe('operations documentation', () => {
  before(() => requireCommands('docker'));

  it('names only scripts, options and docker commands that exist', () => {
    for (const document of documents) {
      const problems = commandProblems(readFileSync(path.join(root, document), 'utf8'));
      assert.deepEqual(problems, [], document);
    }
  });

  it('catches the commands the runbook named before issue 19', () => {
    const before = [
      '```sh',
      'scripts/deploy/upgrade --rollback chat         # one service',
      '```',
      'old ones stay until `docker config prune`.',
      'and `scripts/deploy/rollout` then `docker stack deploy --detach=false -c stack.yml veche`.',
    ].join('\n');
    const problems = commandProblems(before);
    assert.equal(problems.length, 3, problems.join('\n'));
    assert.match(problems.join('\n'), /upgrade has no option --rollback/);
    assert.match(problems.join('\n'), /docker config prune is not a docker command/);
    assert.match(problems.join('\n'), /scripts\/deploy\/rollout does not exist/);
  });
});
