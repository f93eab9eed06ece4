/**
 * The `veche-presence` command line, parsed: which command, its arguments, and how to reach the
 * deployment. Pure, so every refusal is unit-tested.
 */
import { parseArgs } from 'node:util';
import { presenceStatusCodes, type PresenceStatusCode } from '@veche/contracts';

export const usage = `veche-presence: read, set and watch presence statuses by extension number; link deployments.

Usage:
  veche-presence [connection] set <number> <status>   set a number's status (a name or code; auto: automatic)
  veche-presence [connection] get <number>… | '*'     statuses of numbers, or of every number
  veche-presence [connection] find <pattern>           numbers matching a pattern, e.g. '1000*' (? is one digit)
  veche-presence [connection] watch <pattern>          print the statuses of matching numbers as they change,
                                                      numbers that start matching later included (Ctrl-C stops)
  veche-presence --url … watch <userId>@<domain>       print a user of a linked deployment's status as it
                                                      changes, as that domain lets the token's user see it
  veche-presence [connection] link <domain> <url>      link another deployment (admins; the secret both sides
                                                      set comes from VECHE_FEDERATION_SECRET), e.g.
                                                      link b.example.org wss://b.example.org/pubsub/federation
  veche-presence [connection] unlink <domain>          unlink it
  veche-presence [connection] links                    linked deployments, connected or not, and their lag

Connection, one of:
  --url URL --token TOKEN   a deployment's origin and a user's access token: through /api (and /ws to
                            watch), with that user's rights and privacy (env VECHE_URL, VECHE_TOKEN)
  --service                 the services' WAMP router with service credentials, as an operator who sees
                            and may set every status (env WAMP_URL, WAMP_REALM, VECHE_SERVICE_SECRET)

Options:
  --json        one JSON object per line instead of a table
  -h, --help    this text

Statuses: 1 ENABLE, 2 BUSY, 3 NOT_REGISTERED, 4 INCOMING, 5 DO_NOT_DISTURB, 6 ABSENT, 7 FORWARDING, 8 UNKNOWN.
Exit codes: 0 done, 1 the deployment refused or failed, 2 bad usage.`;

export type Connection =
  | { kind: 'api'; url: string; token: string }
  | { kind: 'service'; wampUrl: string; realm: string; secret: string };

export type Command =
  | { name: 'set'; extension: string; status: PresenceStatusCode | null }
  | { name: 'get'; extensions: string[] | '*' }
  | { name: 'find'; pattern: string }
  /** `pattern`: an extension pattern, or `<userId>@<domain>` of a linked deployment. */
  | { name: 'watch'; pattern: string }
  | { name: 'link'; domain: string; url: string; secret: string }
  | { name: 'unlink'; domain: string }
  | { name: 'links' };

export type ParsedArgs =
  { help: true } | { help: false; connection: Connection; command: Command; json: boolean };

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const extensionSyntax = /^[0-9]{2,8}$/;
const patternSyntax = /^[0-9*?]{1,16}$/;
const remoteSyntax = /^[A-Za-z0-9_-]{1,64}@[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;
const domainSyntax = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

/** `BUSY`, `busy`, `2` → 2; `auto` → null (back to automatic). */
export function parseStatus(text: string): PresenceStatusCode | null {
  if (text.toLowerCase() === 'auto') return null;
  const name = text.toUpperCase().replaceAll('-', '_');
  const found = Object.entries(presenceStatusCodes).find(([n, code]) => n === name || String(code) === text);
  if (found) return found[1];
  throw new UsageError(`unknown status ${JSON.stringify(text)}: use 1–8, a name such as BUSY, or auto`);
}

export function parseCli(argv: readonly string[], env: NodeJS.ProcessEnv): ParsedArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        url: { type: 'string' },
        token: { type: 'string' },
        service: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { help: true };

  let connection: Connection;
  if (values.service) {
    const secret = env['VECHE_SERVICE_SECRET'];
    if (!secret) throw new UsageError('--service needs VECHE_SERVICE_SECRET (the services’ WAMP credential)');
    connection = {
      kind: 'service',
      wampUrl: env['WAMP_URL'] ?? 'ws://127.0.0.1:8081/',
      realm: env['WAMP_REALM'] ?? 'veche',
      secret,
    };
  } else {
    const url = values.url ?? env['VECHE_URL'];
    const token = values.token ?? env['VECHE_TOKEN'];
    if (!url || !token)
      throw new UsageError('give --url and --token (or VECHE_URL and VECHE_TOKEN), or --service');
    if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol))
      throw new UsageError(`--url must be an http(s) origin, such as https://veche.example.org`);
    connection = { kind: 'api', url: url.replace(/\/+$/, ''), token };
  }

  const [name, ...rest] = positionals;
  let command: Command;
  switch (name) {
    case 'set': {
      const [extension, status] = rest;
      if (rest.length !== 2 || !extension || !status) throw new UsageError('set takes a number and a status');
      if (!extensionSyntax.test(extension))
        throw new UsageError(`${JSON.stringify(extension)} is not an extension number`);
      command = { name: 'set', extension, status: parseStatus(status) };
      break;
    }
    case 'get': {
      if (rest.length === 0) throw new UsageError("get takes numbers, or '*'");
      if (rest.length === 1 && rest[0] === '*') {
        command = { name: 'get', extensions: '*' };
        break;
      }
      const bad = rest.find((e) => !extensionSyntax.test(e));
      if (bad !== undefined) throw new UsageError(`${JSON.stringify(bad)} is not an extension number`);
      command = { name: 'get', extensions: rest };
      break;
    }
    case 'find':
    case 'watch': {
      const [pattern] = rest;
      if (name === 'watch' && rest.length === 1 && pattern && remoteSyntax.test(pattern)) {
        // Privacy is the other domain's, per viewer: an operator is nobody there.
        if (connection.kind !== 'api')
          throw new UsageError('watching a user of a linked domain needs --url and a user’s --token');
        command = { name, pattern };
        break;
      }
      if (rest.length !== 1 || !pattern || !patternSyntax.test(pattern))
        throw new UsageError(
          name === 'watch'
            ? "watch takes one pattern of digits, * and ?, such as '1000*', or <userId>@<domain>"
            : "find takes one pattern of digits, * and ?, such as '1000*'",
        );
      command = { name, pattern };
      break;
    }
    case 'link': {
      const [domain, url] = rest;
      if (rest.length !== 2 || !domain || !url) throw new UsageError('link takes a domain and a URL');
      if (!domainSyntax.test(domain)) throw new UsageError(`${JSON.stringify(domain)} is not a domain name`);
      if (!/^wss?:\/\/./.test(url))
        throw new UsageError('the link URL is ws:// or wss://…/pubsub/federation');
      const secret = env['VECHE_FEDERATION_SECRET'];
      if (!secret || secret.length < 16)
        throw new UsageError(
          'set VECHE_FEDERATION_SECRET (16 characters or more; the other side sets the same)',
        );
      command = { name: 'link', domain, url, secret };
      break;
    }
    case 'unlink': {
      const [domain] = rest;
      if (rest.length !== 1 || !domain || !domainSyntax.test(domain))
        throw new UsageError('unlink takes a domain');
      command = { name: 'unlink', domain };
      break;
    }
    case 'links':
      if (rest.length !== 0) throw new UsageError('links takes no arguments');
      command = { name: 'links' };
      break;
    case undefined:
      throw new UsageError('no command given');
    default:
      throw new UsageError(`unknown command ${JSON.stringify(name)}`);
  }
  return { help: false, connection, command, json: values.json };
}
