/**
 * `veche-presence`: the seed's CLI for Veche (set a status by number, statuses of numbers or `*`,
 * numbers by pattern, a live view by pattern). Progress and errors go to stderr, results to stdout.
 */
import { presenceStatusNames, type PresenceStatusCode } from '@veche/contracts';
import { createLogger } from '@veche/log';
import { parseCli, usage, UsageError } from './args.ts';
import { connectClient, DeploymentError, type Change } from './clients.ts';

const statusText = (status: PresenceStatusCode) => `${presenceStatusNames[status]} (${status})`;

export function formatEntry(entry: Change, json: boolean): string {
  if (json) return JSON.stringify({ extension: entry.extension, userId: entry.userId, status: entry.status });
  return `${(entry.extension ?? '-').padEnd(9)} ${statusText(entry.status).padEnd(20)} ${entry.userId}`;
}

export async function main(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  out: (line: string) => void,
  err: (line: string) => void,
  signal: AbortSignal,
): Promise<number> {
  let args;
  try {
    args = parseCli(argv, env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    err(`veche-presence: ${error.message}\n\n${usage}`);
    return 2;
  }
  if (args.help) {
    out(usage);
    return 0;
  }
  const { command, json } = args;
  // The WAMP client logs reconnections; an operator at a terminal wants only errors.
  const log = createLogger({
    service: 'veche-presence',
    level: env['LOG_LEVEL'] === 'debug' ? 'debug' : 'error',
  });
  let client;
  try {
    client = await connectClient(args.connection, log);
  } catch (error) {
    err(`veche-presence: cannot reach the deployment: ${(error as Error).message}`);
    return 1;
  }
  try {
    switch (command.name) {
      case 'set': {
        const entry = await client.setStatus(command.extension, command.status);
        out(formatEntry(entry, json));
        return 0;
      }
      case 'get': {
        for (const entry of await client.statuses(command.extensions)) out(formatEntry(entry, json));
        return 0;
      }
      case 'find': {
        for (const found of await client.find(command.pattern))
          out(json ? JSON.stringify(found) : `${found.extension.padEnd(9)} ${found.userId}`);
        return 0;
      }
      case 'link': {
        const link = await client.link(command.domain, command.url, command.secret);
        out(json ? JSON.stringify(link) : `linked ${link.domain} (${link.url})`);
        return 0;
      }
      case 'unlink': {
        await client.unlink(command.domain);
        if (!json) out(`unlinked ${command.domain}`);
        return 0;
      }
      case 'links': {
        for (const link of await client.links()) {
          out(
            json
              ? JSON.stringify(link)
              : `${link.domain.padEnd(24)} ${(link.connected ? 'connected' : 'down').padEnd(10)} lag ${
                  link.lagMs === null ? '-' : `${link.lagMs} ms`
                }  watches ${link.watches}  last batch ${link.lastBatchAt ?? '-'}`,
          );
        }
        return 0;
      }
      case 'watch': {
        if (!json) err(`watching ${command.pattern} (Ctrl-C stops)`);
        await client.watch(command.pattern, (change) => out(formatEntry(change, json)), signal);
        return 0;
      }
    }
  } catch (error) {
    if (error instanceof DeploymentError) {
      err(`veche-presence: ${error.code}: ${error.message}`);
      return 1;
    }
    throw error;
  } finally {
    await client.close();
  }
}
