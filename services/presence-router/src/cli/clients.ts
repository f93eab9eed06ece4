/**
 * The CLI's two ways to a deployment: as a user through `/api` (and `/ws` to watch), or as an operator
 * on the services' WAMP router with service credentials. Both answer in the contracts' shapes.
 */
import { Value } from '@sinclair/typebox/value';
import {
  PresenceRealtimeEvent,
  PresenceServiceEvent,
  presenceProcedures,
  presenceServiceProcedures as S,
  presenceServiceTopic,
  type FederationLink,
  type PresenceEntry,
  type PresenceStatusCode,
} from '@veche/contracts';
import type { Logger } from '@veche/log';
import { connectService, type WampService } from '@veche/wamp';
import { userTopic } from '@veche/wamp-policy';
import { extensionMatcher } from '../domain/address.ts';
import type { Connection } from './args.ts';

export interface Change {
  userId: string;
  extension: string | null;
  status: PresenceStatusCode;
}

export interface PresenceClient {
  setStatus(extension: string, status: PresenceStatusCode | null): Promise<PresenceEntry>;
  statuses(extensions: readonly string[] | '*'): Promise<PresenceEntry[]>;
  find(pattern: string): Promise<{ extension: string; userId: string }[]>;
  /** Current statuses of matching numbers, then every change of them; resolves when `signal` aborts. */
  watch(pattern: string, onChange: (change: Change) => void, signal: AbortSignal): Promise<void>;
  /** Federation (admins, or the operator with service credentials). */
  link(domain: string, url: string, secret: string): Promise<FederationLink>;
  unlink(domain: string): Promise<void>;
  links(): Promise<FederationLink[]>;
  close(): Promise<void>;
}

/** A refusal from the deployment, with its error code. */
export class DeploymentError extends Error {
  override readonly name = 'DeploymentError';
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

const untilAborted = (signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });

function apiClient(url: string, token: string, log: Logger): PresenceClient {
  async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${url}/api${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = (await response.json().catch(() => ({}))) as T & {
      error?: { code: string; message: string };
    };
    if (!response.ok)
      throw new DeploymentError(
        json.error?.code ?? String(response.status),
        json.error?.message ?? response.statusText,
      );
    return json;
  }
  let wamp: WampService | undefined;
  return {
    link: (domain, linkUrl, secret) =>
      request('PUT', `/presence/federation/${encodeURIComponent(domain)}`, { url: linkUrl, secret }),
    unlink: async (domain) => {
      await request('DELETE', `/presence/federation/${encodeURIComponent(domain)}`);
    },
    links: async () => (await request<{ links: FederationLink[] }>('GET', '/presence/federation')).links,
    setStatus: (extension, status) =>
      status === null
        ? request('DELETE', `/presence/extensions/${extension}/status`)
        : request('PUT', `/presence/extensions/${extension}/status`, { status }),
    async statuses(extensions) {
      if (extensions !== '*')
        return (
          await request<{ statuses: PresenceEntry[] }>('GET', `/presence?extensions=${extensions.join(',')}`)
        ).statuses;
      const all: PresenceEntry[] = [];
      for (let after: string | undefined; ;) {
        const page = await request<{ statuses: PresenceEntry[] }>(
          'GET',
          `/presence?extensions=*&limit=1000${after ? `&after=${after}` : ''}`,
        );
        all.push(...page.statuses);
        after = page.statuses.at(-1)?.extension ?? undefined;
        if (page.statuses.length < 1000 || !after) return all;
      }
    },
    async find(pattern) {
      return (
        await request<{ extensions: { extension: string; userId: string }[] }>(
          'GET',
          `/presence/extensions?pattern=${encodeURIComponent(pattern)}&limit=1000`,
        )
      ).extensions;
    },
    async watch(pattern, onChange, signal) {
      const me = await request<{ userId: string }>('GET', '/presence/status');
      // A pattern of numbers, or one user of a linked deployment (`<userId>@<domain>`).
      const matches = pattern.includes('@')
        ? (change: Change) => change.userId === pattern
        : (change: Change) => change.extension !== null && extensionMatcher(pattern)(change.extension);
      // Subscribe on /ws first, so nothing between the answer and the subscription is missed.
      wamp = await connectService({
        url: `${url.replace(/^http/, 'ws')}/ws`,
        authid: me.userId,
        secret: token,
        log,
      });
      await wamp.subscribe(userTopic(me.userId, 'presence'), (payload) => {
        if (!Value.Check(PresenceRealtimeEvent, payload)) return;
        if (matches(payload)) onChange(payload);
      });
      const { statuses } = await request<{ statuses: PresenceEntry[] }>('POST', '/presence/subscriptions', {
        subscribe: [pattern],
      });
      for (const entry of statuses) onChange(entry);
      await untilAborted(signal);
      await request('POST', '/presence/subscriptions', { unsubscribe: [pattern] }).catch((error: unknown) =>
        log.warn({ err: error }, 'could not remove the subscription'),
      );
    },
    async close() {
      await wamp?.close();
    },
  };
}

async function serviceClient(
  connection: Extract<Connection, { kind: 'service' }>,
  log: Logger,
): Promise<PresenceClient> {
  const wamp = await connectService({
    url: connection.wampUrl,
    realm: connection.realm,
    authid: 'service:presence-router',
    secret: connection.secret,
    log,
  });
  const call = async <T>(procedure: string, kwargs: Record<string, unknown>): Promise<T> => {
    try {
      return await wamp.call<T>(procedure, kwargs);
    } catch (error) {
      const { code, message } = error as { code?: string; message?: string };
      throw new DeploymentError(code ?? 'unavailable', message ?? String(error));
    }
  };
  const statuses = async (extensions: readonly string[] | '*') => {
    if (extensions !== '*')
      return (await call<{ statuses: PresenceEntry[] }>(S.getStatuses, { extensions })).statuses;
    const all: PresenceEntry[] = [];
    for (let after: string | undefined; ;) {
      const page = await call<{ statuses: PresenceEntry[] }>(S.getStatuses, {
        extensions: ['*'],
        limit: 1000,
        ...(after ? { after } : {}),
      });
      all.push(...page.statuses);
      after = page.statuses.at(-1)?.extension ?? undefined;
      if (page.statuses.length < 1000 || !after) return all;
    }
  };
  const find = async (pattern: string) =>
    (
      await call<{ extensions: { extension: string; userId: string }[] }>(S.findExtensions, {
        pattern,
        limit: 1000,
      })
    ).extensions;
  // The admin procedures take the acting user; the operator acts as an administrator.
  const asOperator = (input: Record<string, unknown>) => ({
    actor: { userId: 'operator', role: 'admin' },
    input,
  });
  return {
    link: (domain, url, secret) => call(presenceProcedures.linkDomain, asOperator({ domain, url, secret })),
    unlink: async (domain) => {
      await call(presenceProcedures.unlinkDomain, asOperator({ domain }));
    },
    links: async () =>
      (await call<{ links: FederationLink[] }>(presenceProcedures.listLinks, asOperator({}))).links,
    setStatus: (extension, status) =>
      status === null
        ? call(S.clearExtensionStatus, { extension })
        : call(S.setExtensionStatus, { extension, status }),
    statuses,
    find,
    async watch(pattern, onChange, signal) {
      const matches = extensionMatcher(pattern);
      // Every change reaches services on one topic; numbers that start matching arrive as `extension`.
      await wamp.subscribe(presenceServiceTopic, (payload) => {
        if (!Value.Check(PresenceServiceEvent, payload)) return;
        if (payload.extension !== null && matches(payload.extension)) onChange(payload);
      });
      const numbers = (await find(pattern)).map((f) => f.extension);
      if (numbers.length > 0) for (const entry of await statuses(numbers)) onChange(entry);
      await untilAborted(signal);
    },
    close: () => wamp.close(),
  };
}

export async function connectClient(connection: Connection, log: Logger): Promise<PresenceClient> {
  return connection.kind === 'api'
    ? apiClient(connection.url, connection.token, log)
    : serviceClient(connection, log);
}
