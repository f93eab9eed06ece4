/**
 * Federation between deployments (issue 20, ADR 0017). Each deployment is a domain; an admin links
 * another with its endpoint and a shared secret (the other's admin links back with the same secret).
 *
 * - **Watching side** (the link's client, one replica per link, by a PostgreSQL advisory lock): opens
 *   a WebSocket to the other's `/pubsub/federation`, says which of their users our users watch
 *   (`federation_watches`, kept by every replica's `/pubsub` fan-out) and from where in their log to
 *   resume, and applies each batch in one transaction: the statuses (`remote_statuses`), the
 *   checkpoint, and a NOTIFY per change, which every replica's fan-out tells its subscribers.
 * - **Watched side** (every replica serves it): follows its own log from the watcher's checkpoint
 *   (commit-safe `readAll`) and sends, for watched users only, what each remote viewer may see under
 *   this domain's privacy rules (the viewer is `<userId>@<their domain>`), at most `batchMax` changes a
 *   batch with `pauseMs` between batches. A snapshot answers newly watched pairs at once.
 *
 * Only a domain's own users' statuses are ever sent (remote statuses live in another table and are
 * never in the log), so nothing is echoed back and three linked domains cannot loop.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type pg from 'pg';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { sql, type Database, type Kysely } from '@veche/db';
import { notFound, unavailable, validationError } from '@veche/errors';
import {
  notificationChannel,
  zeroCheckpoint,
  type Checkpoint,
  type EventStore,
  type RecordedEvent,
} from '@veche/event-store';
import type { Logger } from '@veche/log';
import {
  presenceEventTypes as T,
  presenceStatusCodes,
  type FederationLink,
  type PresenceRealtimeEvent,
  type PresenceStatusCode,
} from '@veche/contracts';
import { readPresenceEvent } from '../domain/events.ts';
import { maySee, type GroupRuleSet } from '../domain/privacy.ts';
import {
  notificationChannel as presenceChannel,
  type PresenceNotification,
} from '../projections/notifications.ts';
import type { PresenceTables } from '../tables.ts';
import type { SecretBox } from './secrets.ts';
import { loadGroups, loadViews, type TargetView } from '../views.ts';
import {
  claimedDomain,
  federationAuthorization,
  federationPath,
  parseBatch,
  parseHistoryAnswer,
  parseWatcherMessage,
  verifyFederationAuthorization,
  type BatchMessage,
  type Change,
  type HistoryAnswer,
  type HistoryQuery,
  type Pair,
} from './protocol.ts';

export interface FederationOptions {
  database: Database<unknown>;
  db: Kysely<PresenceTables>;
  store: EventStore;
  log: Logger;
  /** This deployment's domain. */
  domain: string;
  /** Seals the link secrets in `federation_links` and opens them. */
  secrets: SecretBox;
  /** Most changes in one batch, and the pause between batches (the seed's sender had both). */
  batchMax: number;
  pauseMs: number;
  /** How often the watched side looks for new events, and the watching side for new watches. */
  pollMs?: number;
  /**
   * Tells a viewer's WAMP topic a remote status (one of their `/api` subscriptions); resolves once
   * the router acknowledged it. Without it the outbox waits.
   */
  publish?: (viewer: string, event: PresenceRealtimeEvent) => Promise<void>;
  /** One of our users' history as a remote viewer (`<id>@<their domain>`) may see it here. */
  historyFor?: (
    viewer: string,
    query: { userId: string; status?: PresenceStatusCode; before?: string; limit?: number },
  ) => Promise<{ status: PresenceStatusCode; changes: HistoryAnswer['changes']; hasMore: boolean }>;
}

export type RemoteHistory = Omit<HistoryAnswer, 'type' | 'id'>;

export interface Federation {
  /** For `/pubsub/federation` upgrades (the caller routes that path here). */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void;
  link(domain: string, input: { url: string; secret: string }): Promise<FederationLink>;
  unlink(domain: string): Promise<void>;
  list(): Promise<FederationLink[]>;
  isLinked(domain: string): Promise<boolean>;
  /** A user of `domain`'s history as one of our users may see it, asked of that domain now. */
  history(domain: string, query: HistoryQuery): Promise<RemoteHistory>;
  /** Publishes what the outbox holds (the link does it after each batch, and on a timer). */
  drain(): Promise<void>;
  /** Seals plain or old-key secrets under the current key (at start; returns how many). */
  reseal(): Promise<number>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

const followed = [T.statusChanged, T.privacyChanged, T.groupSet, T.groupDeleted, T.groupRulesSet];
const statusPrefix = 'presence-';
const privacyPrefix = 'presence-privacy-';
const UNKNOWN = presenceStatusCodes.UNKNOWN;
const textOf = (data: RawData): string =>
  (Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer)).toString('utf8');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface LinkRow {
  domain: string;
  url: string;
  secret: string;
  checkpoint_tx: string | null;
  checkpoint_pos: string | null;
  last_batch_at: Date | null;
  lag_ms: number | null;
}

export function createFederation(options: FederationOptions): Federation {
  const { database, db, store, domain: ownDomain, batchMax, pauseMs } = options;
  const log = options.log.child({ component: 'federation' });
  const pollMs = options.pollMs ?? 100;
  const wss = new WebSocketServer({ noServer: true, maxPayload: 4 * 1_048_576, clientTracking: false });
  const served = new Set<WebSocket>();
  const links = new Map<string, LinkClient>();
  let stopped = false;
  let manager: NodeJS.Timeout | undefined;
  /** Each served peer's wake-up: the event store's NOTIFY on append ends their wait at once. */
  const wakers = new Set<() => void>();
  let listener: pg.Client | undefined;

  /** The link to `domain`, its secret opened. */
  async function linkRow(domain: string): Promise<LinkRow | undefined> {
    const { rows } = await sql<LinkRow>`
      select domain, url, secret, checkpoint_tx::text, checkpoint_pos::text, last_batch_at, lag_ms
      from federation_links where domain = ${domain}`.execute(db);
    const row = rows[0];
    return row ? { ...row, secret: options.secrets.open(domain, row.secret) } : undefined;
  }

  /**
   * Seals every secret stored plain (before sealing) or under an older key, with the current key.
   * Idempotent and safe on several replicas at once: a row changed meanwhile is left to its writer.
   */
  async function reseal(): Promise<number> {
    const { rows } = await sql<{ domain: string; secret: string }>`
      select domain, secret from federation_links`.execute(db);
    let count = 0;
    for (const row of rows) {
      if (!options.secrets.needsResealing(row.secret)) continue;
      const sealed = options.secrets.seal(row.domain, options.secrets.open(row.domain, row.secret));
      const result = await sql`
        update federation_links set secret = ${sealed}
        where domain = ${row.domain} and secret = ${row.secret}`.execute(db);
      if (result.numAffectedRows) count++;
    }
    if (count > 0) log.info({ count, key: options.secrets.currentKeyId }, 'link secrets sealed again');
    return count;
  }

  // ---- the watched side ----------------------------------------------------------------------

  /** The newest commit-safe position of the log now: reading after it misses nothing later. */
  async function head(): Promise<Checkpoint> {
    const { rows } = await sql<{ tx: string; pos: string }>`
      select transaction_id::text as tx, global_position::text as pos from events
      where transaction_id < pg_snapshot_xmin(pg_current_snapshot())
      order by transaction_id desc, global_position desc limit 1`.execute(db);
    return rows[0] ? { transactionId: rows[0].tx, globalPosition: Number(rows[0].pos) } : zeroCheckpoint;
  }

  function servePeer(socket: WebSocket, peer: string): void {
    const peerLog = log.child({ peer });
    const watched = new Map<string, Set<string>>();
    let cursor: Checkpoint | undefined;
    let groups: GroupRuleSet | undefined;
    let open = true;
    let chain: Promise<void> = Promise.resolve();
    let wake: (() => void) | undefined;
    /**
     * What this sender knows of each watched user: loaded once (at the snapshot that answers the
     * first watch), then kept by the log it follows (status and privacy events, in log order, each
     * applied only when newer than the view): a batch reads nothing but the log.
     */
    const known = new Map<string, TargetView>();
    async function viewsOf(users: readonly string[]): Promise<Map<string, TargetView>> {
      const missing = [...new Set(users)].filter((user) => !known.has(user));
      if (missing.length > 0) {
        for (const [user, view] of await loadViews(db, missing)) {
          // Only users still watched (the watch may have gone while loading).
          if (watched.has(user) && !known.has(user)) known.set(user, view);
        }
      }
      return known;
    }
    const run = (work: () => Promise<void>) => {
      chain = chain.then(work).catch((error: unknown) => {
        peerLog.error({ err: error }, 'federation sender failed; closing the link');
        socket.close(1011, 'sender failed');
      });
      return chain;
    };

    const seen = (view: TargetView, viewer: string, status: PresenceStatusCode): Change => {
      const visible = groups !== undefined && maySee(`${viewer}@${peer}`, view.userId, view.rules, groups);
      return visible
        ? {
            u: view.userId,
            w: viewer,
            s: status,
            ...(view.timestamp === undefined ? {} : { t: view.timestamp }),
          }
        : { u: view.userId, w: viewer, s: UNKNOWN };
    };

    async function send(changes: Change[], checkpoint: Checkpoint | null, at: string | null): Promise<void> {
      if (changes.length === 0 && checkpoint === null) return;
      for (let i = 0; i === 0 || i < changes.length; i += batchMax) {
        if (!open) return;
        const chunk = changes.slice(i, i + batchMax);
        const last = i + batchMax >= changes.length;
        const message: BatchMessage = {
          type: 'batch',
          changes: chunk,
          checkpoint: last ? checkpoint : null,
          at,
        };
        socket.send(JSON.stringify(message));
        if (!last || changes.length >= batchMax) await sleep(pauseMs);
      }
    }

    /**
     * The current statuses of `pairs`. With `from` (a new watcher's starting point), the last batch
     * carries it as the checkpoint even when there is nothing to tell: a link that breaks before its
     * first change then resumes from there, not from a later "now" that would skip what came between.
     */
    async function snapshot(pairs: readonly Pair[], from: Checkpoint | null = null): Promise<void> {
      if (pairs.length === 0) {
        if (from) await send([], from, null);
        return;
      }
      groups ??= (await loadGroups(db)).ruleSet;
      const views = await viewsOf(pairs.map(([user]) => user));
      const changes: Change[] = [];
      for (const [user, viewer] of pairs) {
        const view = views.get(user);
        if (view) changes.push(seen(view, viewer, view.status));
      }
      await send(changes, from, null);
    }

    /** One read of the log after the cursor: what the watcher must be told of it. */
    async function step(): Promise<boolean> {
      if (!cursor) return false;
      const read = await store.readAll(cursor, { limit: Math.max(batchMax, 100), eventTypes: followed });
      if (read.events.length === 0) {
        cursor = read.checkpoint;
        return false;
      }
      const events = read.events;
      const groupsChanged = events.some((e) => e.streamId === 'presence-groups');
      if (groupsChanged || groups === undefined) groups = (await loadGroups(db)).ruleSet;
      // Users watched but not known yet (none once the snapshot loaded them): one read for all.
      const views = await viewsOf(
        events.flatMap((event) => {
          const user = watchedUserOf(event);
          return user !== undefined && watched.has(user) ? [user] : [];
        }),
      );
      const changes: Change[] = [];
      for (const event of events) {
        const user = watchedUserOf(event);
        const view = user === undefined ? undefined : views.get(user);
        const viewers = user === undefined ? undefined : watched.get(user);
        if (!view || !viewers) continue;
        const typed = readPresenceEvent(event);
        if (typed?.type === T.statusChanged) {
          if (event.streamVersion > view.version) {
            view.version = event.streamVersion;
            view.status = typed.data.status;
            view.timestamp = typed.data.timestamp;
          }
          const at = { ...view, timestamp: typed.data.timestamp };
          for (const viewer of viewers) changes.push(seen(at, viewer, typed.data.status));
        } else if (typed?.type === T.privacyChanged) {
          // The rules as of this event (a view loaded later than the cursor already holds newer ones).
          if (event.streamVersion > view.rulesVersion) {
            view.rules = { mode: typed.data.mode, users: new Set(typed.data.users) };
            view.rulesVersion = event.streamVersion;
          }
          for (const viewer of viewers) changes.push(seen(view, viewer, view.status));
        }
      }
      if (groupsChanged) {
        for (const [user, viewers] of watched) {
          const view = views.get(user);
          if (view) for (const viewer of viewers) changes.push(seen(view, viewer, view.status));
        }
      }
      const newest = events.at(-1)!;
      await send(changes, read.checkpoint, newest.recordedAt.toISOString());
      cursor = read.checkpoint;
      return true;
    }

    const loop = async () => {
      while (open && !stopped) {
        let more = false;
        await run(async () => {
          more = await step();
        });
        if (!more) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, pollMs);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
            wakers.add(wake);
          });
          if (wake) wakers.delete(wake);
          wake = undefined;
        }
      }
    };

    const watch = (pairs: readonly Pair[]) => {
      for (const [user, viewer] of pairs) {
        let viewers = watched.get(user);
        if (!viewers) watched.set(user, (viewers = new Set()));
        viewers.add(viewer);
      }
    };

    socket.on('message', (data) => {
      const message = parseWatcherMessage(textOf(data), 1_000_000);
      if (!message) {
        peerLog.warn('unreadable federation message; closing');
        socket.close(1008, 'bad message');
        return;
      }
      if (message.type === 'history') {
        const { id, user, viewer, ...rest } = message;
        const historyFor = options.historyFor;
        void (async () => {
          if (!historyFor) throw unavailable('No history here');
          const answer = await historyFor(`${viewer}@${peer}`, { userId: user, ...rest });
          const reply: HistoryAnswer = {
            type: 'history',
            id,
            status: answer.status,
            changes: answer.changes,
            hasMore: answer.hasMore,
          };
          socket.send(JSON.stringify(reply));
        })().catch((error: unknown) => {
          peerLog.warn({ err: error }, 'answering a history question failed');
          socket.close(1011, 'history failed');
        });
        return;
      }
      if (message.type === 'hello') {
        if (cursor) return;
        watch(message.watch);
        void run(async () => {
          // A new watcher starts from now, told the current statuses; a returning one resumes.
          cursor = message.checkpoint ?? (await head());
          if (message.checkpoint) await snapshot(message.fresh);
          else await snapshot(message.watch, cursor);
          peerLog.info(
            { pairs: message.watch.length, resumed: message.checkpoint !== null },
            'federation peer joined',
          );
        });
        void loop();
        return;
      }
      for (const [user, viewer] of message.remove) {
        const viewers = watched.get(user);
        viewers?.delete(viewer);
        if (viewers?.size === 0) {
          watched.delete(user);
          known.delete(user);
        }
      }
      watch(message.add);
      void run(() => snapshot(message.add));
      wake?.();
    });
    socket.on('error', (error) => peerLog.info({ err: error }, 'federation connection error'));
    socket.on('close', () => {
      open = false;
      served.delete(socket);
      wake?.();
      peerLog.info('federation peer left');
    });
  }

  function refuse(socket: Duplex, status: 401 | 404, message: string): void {
    const body = JSON.stringify({ error: { code: status === 401 ? 'unauthorized' : 'not_found', message } });
    socket.end(
      `HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : 'Not Found'}\r\n` +
        'Content-Type: application/json; charset=utf-8\r\n' +
        (status === 401 ? 'WWW-Authenticate: VecheFederation\r\n' : '') +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }

  // ---- the watching side ---------------------------------------------------------------------

  interface LinkClient {
    stop(): Promise<void>;
  }

  /** Holds the link to `domain` while this replica has its lock; reconnects until stopped. */
  async function startLink(domain: string): Promise<LinkClient | undefined> {
    const lockClient: pg.Client = await database.connect();
    // A failure here ends the connection, and its lock with it: the next manage() tries again.
    const { rows } = await lockClient
      .query<{ ok: boolean }>('select pg_try_advisory_lock(hashtext($1)) as ok', [
        `veche.federation:${database.schema}:${domain}`,
      ])
      .catch(async (error: unknown) => {
        await lockClient.end().catch(() => undefined);
        throw error;
      });
    if (!rows[0]?.ok) {
      await lockClient.end();
      return undefined;
    }
    const linkLog = log.child({ link: domain });
    let socket: WebSocket | undefined;
    let ended = false;
    let retryMs = 200;
    let sent = new Set<string>();
    let watchTimer: NodeJS.Timeout | undefined;
    let applying: Promise<void> = Promise.resolve();
    lockClient.on('error', (error) => linkLog.warn({ err: error }, 'the link’s lock connection failed'));

    const key = ([user, viewer]: Pair) => `${user}\u0000${viewer}`;
    const pairOf = (k: string): Pair => k.split('\u0000') as Pair;
    async function currentPairs(): Promise<Set<string>> {
      // /pubsub's watches (per replica) and /api's (per user, `<userId>@<domain>`).
      const { rows: watches } = await sql<{ remote_user: string; viewer: string }>`
        select remote_user, viewer from federation_watches where domain = ${domain}
        union
        select split_part(target, '@', 1), watcher_id from watches
        where kind = 'remote' and split_part(target, '@', 2) = ${domain}`.execute(db);
      return new Set(watches.map((w) => key([w.remote_user, w.viewer])));
    }

    const setConnected = async (connected: boolean) => {
      await sql`update federation_links set connected = ${connected} where domain = ${domain}`.execute(db);
    };

    /**
     * Applies one batch in one statement (its own transaction): the statuses, the changes queued for
     * /api subscriptions, the checkpoint, and the notifications every replica's fan-out tells; one
     * round trip, whatever the batch holds. Returns how many changes went to the outbox.
     */
    async function apply(batch: BatchMessage): Promise<number> {
      // A change repeated in the batch: the last one stands.
      const latest = new Map(batch.changes.map((c) => [`${c.u}\u0000${c.w}`, c]));
      // Every change is told, in order, a few dozen to a notification (NOTIFY payloads stop at 8000 bytes).
      const notifications: string[] = [];
      for (let i = 0; i < batch.changes.length; i += 25) {
        notifications.push(
          JSON.stringify({
            k: 'remotes',
            c: batch.changes.slice(i, i + 25).map((c) => [`${c.u}@${domain}`, c.w, c.s, c.t ?? null]),
          } satisfies PresenceNotification),
        );
      }
      const lag = batch.at ? Math.max(0, Date.now() - Date.parse(batch.at)) : null;
      const checkpoint = batch.checkpoint
        ? sql`
            update federation_links set checkpoint_tx = ${batch.checkpoint.transactionId}::xid8,
              checkpoint_pos = ${batch.checkpoint.globalPosition}, last_batch_at = now(),
              lag_ms = coalesce(${lag}::integer, lag_ms)
            where domain = ${domain} returning 1`
        : sql`select 1 where false`;
      // Data-modifying WITH clauses always run to completion, read or not; the notifications are sent
      // in array order (unnest yields it) and delivered at commit, with the rows they tell of.
      const { rows } = await sql<{ queued: number }>`
        with stored as (
          insert into remote_statuses (domain, remote_user, viewer, status, raw_timestamp, updated_at)
          select ${domain}, c.u, c.w, c.s, c.t, now()
          from jsonb_to_recordset(${JSON.stringify([...latest.values()])}::jsonb) as c(u text, w text, s smallint, t text)
          on conflict (domain, remote_user, viewer) do update
            set status = excluded.status, raw_timestamp = excluded.raw_timestamp, updated_at = now()
          returning 1
        ), queued as (
          insert into federation_outbox (viewer, address, status)
          select c.w, c.u || '@' || ${domain}, c.s
          from jsonb_to_recordset(${JSON.stringify(batch.changes.map((c, i) => ({ ...c, i })))}::jsonb)
            as c(u text, w text, s smallint, i integer)
          where exists (
            select 1 from watches w
            where w.kind = 'remote' and w.watcher_id = c.w and w.target = c.u || '@' || ${domain})
          order by c.i
          returning 1
        ), moved as (${checkpoint})
        select (select count(*) from queued)::integer as queued,
          (select count(pg_notify(${presenceChannel(database.schema)}, n))
           from unnest(${notifications}::text[]) as n) as notified`.execute(db);
      return rows[0]?.queued ?? 0;
    }

    async function connect(): Promise<void> {
      const row = await linkRow(domain);
      if (!row || ended) return;
      const ws = new WebSocket(row.url, {
        headers: { authorization: federationAuthorization(row.secret, ownDomain, domain) },
        perMessageDeflate: false,
        handshakeTimeout: 10_000,
      });
      socket = ws;
      ws.on('open', () => {
        retryMs = 200;
        void (async () => {
          const pairs = await currentPairs();
          const { rows: known } = await sql<{ remote_user: string; viewer: string }>`
            select remote_user, viewer from remote_statuses where domain = ${domain}`.execute(db);
          const knownKeys = new Set(known.map((k) => key([k.remote_user, k.viewer])));
          const checkpoint =
            row.checkpoint_tx === null
              ? null
              : { transactionId: row.checkpoint_tx, globalPosition: Number(row.checkpoint_pos) };
          sent = pairs;
          ws.send(
            JSON.stringify({
              type: 'hello',
              checkpoint,
              watch: [...pairs].map(pairOf),
              fresh: [...pairs].filter((k) => !knownKeys.has(k)).map(pairOf),
            }),
          );
          await setConnected(true);
          linkLog.info({ pairs: pairs.size, resumed: checkpoint !== null }, 'federation link open');
          const refresh = async () => {
            if (ws.readyState !== WebSocket.OPEN) return;
            const now = await currentPairs();
            const add = [...now].filter((k) => !sent.has(k)).map(pairOf);
            const remove = [...sent].filter((k) => !now.has(k)).map(pairOf);
            if (add.length > 0 || remove.length > 0) {
              sent = now;
              ws.send(JSON.stringify({ type: 'watch', add, remove }));
            }
          };
          const tick = () => {
            watchTimer = setTimeout(() => {
              refresh()
                .catch((error: unknown) => linkLog.warn({ err: error }, 'sending the watches failed'))
                .finally(() => {
                  if (!ended && ws.readyState === WebSocket.OPEN) tick();
                });
            }, pollMs * 2);
          };
          tick();
        })().catch((error: unknown) => {
          linkLog.error({ err: error }, 'opening the link failed');
          ws.terminate();
        });
      });
      ws.on('message', (data) => {
        const batch = parseBatch(textOf(data));
        if (!batch) {
          linkLog.warn('unreadable batch; reconnecting');
          ws.terminate();
          return;
        }
        // In order, one at a time: the checkpoint only moves after what it covers is stored.
        applying = applying
          .then(() => apply(batch))
          .then((queued) => {
            if (queued > 0) void drain();
          })
          .catch((error: unknown) => {
            linkLog.error({ err: error }, 'applying a batch failed; reconnecting');
            ws.terminate();
          });
      });
      ws.on('unexpected-response', (_request, response) => {
        linkLog.warn({ status: response.statusCode }, 'the other domain refused the link');
        ws.terminate();
      });
      ws.on('error', (error) => linkLog.info({ err: error }, 'federation link error'));
      ws.on('close', () => {
        clearTimeout(watchTimer);
        if (socket === ws) void setConnected(false).catch(() => undefined);
        reconnectLater();
      });
    }

    /**
     * The next attempt, after the current backoff (200 ms doubling to 5 s). An attempt that fails
     * before it has a socket (its row could not be read: PostgreSQL away or too slow to give a
     * connection) schedules the next itself; before, it was dropped and the link stayed down until
     * the process restarted, while this replica kept its lock.
     */
    function reconnectLater(): void {
      if (ended) return;
      setTimeout(() => {
        applying
          .then(() => (ended ? undefined : connect()))
          .catch((error: unknown) => {
            linkLog.warn({ err: error, retryMs }, 'reconnecting the federation link failed; trying again');
            reconnectLater();
          });
      }, retryMs);
      retryMs = Math.min(retryMs * 2, 5_000);
    }

    try {
      await connect();
    } catch (error) {
      linkLog.warn({ err: error, retryMs }, 'opening the federation link failed; trying again');
      reconnectLater();
    }
    return {
      async stop() {
        ended = true;
        clearTimeout(watchTimer);
        socket?.terminate();
        await applying.catch(() => undefined);
        await lockClient.end().catch(() => undefined);
      },
    };
  }

  async function manage(): Promise<void> {
    const { rows } = await sql<{ domain: string }>`select domain from federation_links`.execute(db);
    const wanted = new Set(rows.map((r) => r.domain));
    for (const [domain, client] of links) {
      if (!wanted.has(domain)) {
        links.delete(domain);
        await client.stop();
      }
    }
    for (const domain of wanted) {
      if (links.has(domain) || stopped) continue;
      const client = await startLink(domain);
      if (client) links.set(domain, client);
    }
  }

  // ---- remote statuses for /api subscriptions ------------------------------------------------

  let draining: Promise<void> | undefined;
  let drainAgain = false;
  const outboxBatch = 200;

  /** Publishes one batch of the outbox and deletes it in the same transaction; true when more wait. */
  async function drainOnce(publish: NonNullable<FederationOptions['publish']>): Promise<boolean> {
    return database.db.transaction().execute(async (trx) => {
      const { rows } = await sql<{ id: string; viewer: string; address: string; status: PresenceStatusCode }>`
        delete from federation_outbox where id in (
          select id from federation_outbox order by id limit ${outboxBatch} for update skip locked)
        returning id::text, viewer, address, status`.execute(trx);
      rows.sort((x, y) => (BigInt(x.id) < BigInt(y.id) ? -1 : 1));
      await Promise.all(
        rows.map((row) =>
          publish(row.viewer, { type: 'status', userId: row.address, extension: null, status: row.status }),
        ),
      );
      return rows.length === outboxBatch;
    });
  }

  function drain(): Promise<void> {
    const publish = options.publish;
    if (!publish || stopped) return Promise.resolve();
    if (draining) {
      drainAgain = true;
      return draining;
    }
    draining = (async () => {
      do {
        drainAgain = false;
        while (await drainOnce(publish));
      } while (drainAgain && !stopped);
    })()
      .catch((error: unknown) =>
        log.warn({ err: error }, 'publishing remote statuses failed; kept for later'),
      )
      .finally(() => {
        draining = undefined;
      });
    return draining;
  }

  let historyIds = 0;
  async function askHistory(domain: string, query: HistoryQuery): Promise<RemoteHistory> {
    const row = await linkRow(domain);
    if (!row) throw notFound('No link to this domain', { details: { domain } });
    const id = ++historyIds;
    return new Promise<RemoteHistory>((resolve, reject) => {
      const ws = new WebSocket(row.url, {
        headers: { authorization: federationAuthorization(row.secret, ownDomain, domain) },
        perMessageDeflate: false,
        handshakeTimeout: 5_000,
      });
      const fail = (why: string) => {
        clearTimeout(timer);
        ws.terminate();
        reject(unavailable(`The linked domain did not answer: ${why}`, { details: { domain } }));
      };
      const timer = setTimeout(() => fail('timed out'), 10_000);
      ws.on('open', () => ws.send(JSON.stringify({ type: 'history', id, ...query })));
      ws.on('message', (data) => {
        const answer = parseHistoryAnswer(textOf(data), id);
        if (!answer) return fail('an unreadable answer');
        clearTimeout(timer);
        ws.close(1000);
        resolve({ status: answer.status, changes: answer.changes, hasMore: answer.hasMore });
      });
      ws.on('unexpected-response', (_request, response) => fail(`HTTP ${response.statusCode}`));
      ws.on('error', (error) => fail(error.message));
      ws.on('close', () => fail('closed'));
    });
  }

  function watchedUserOf(event: RecordedEvent): string | undefined {
    if (event.streamId.startsWith(privacyPrefix)) return event.streamId.slice(privacyPrefix.length);
    if (event.type === T.statusChanged && event.streamId.startsWith(statusPrefix))
      return event.streamId.slice(statusPrefix.length);
    return undefined;
  }

  return {
    handleUpgrade(request, socket, head) {
      socket.on('error', () => socket.destroy());
      const header = request.headers.authorization;
      const peer = claimedDomain(header);
      if (!header || !peer) {
        refuse(socket, 401, 'Send Authorization: VecheFederation <domain> <time> <signature>');
        return;
      }
      linkRow(peer)
        .then((row) => {
          // Stopping: a connection upgraded now would outlive stop() and keep the HTTP server open.
          if (stopped) {
            socket.destroy();
            return;
          }
          if (!row || !verifyFederationAuthorization(header, row.secret, ownDomain)) {
            log.warn({ peer, linked: row !== undefined }, 'federation link refused');
            refuse(socket, 401, 'Not a linked domain, or a wrong signature');
            return;
          }
          wss.handleUpgrade(request, socket, head, (ws) => {
            served.add(ws);
            servePeer(ws, peer);
          });
        })
        .catch((error: unknown) => {
          log.error({ err: error }, 'federation upgrade failed');
          socket.destroy();
        });
    },

    async link(domain, input) {
      if (domain === ownDomain) throw notFound('This is our own domain');
      // What the link will dial: a URL the WebSocket client takes (ws:/wss:, no fragment). The
      // schema only checks the scheme's prefix; an unparsable one stored here failed every dial.
      const url = URL.canParse(input.url) ? new URL(input.url) : undefined;
      if (!url || !/^wss?:$/.test(url.protocol) || url.hash !== '')
        throw validationError('url must be a ws:// or wss:// URL without a fragment', {
          details: { field: 'url' },
        });
      await sql`
        insert into federation_links (domain, url, secret)
        values (${domain}, ${input.url}, ${options.secrets.seal(domain, input.secret)})
        on conflict (domain) do update set url = excluded.url, secret = excluded.secret`.execute(db);
      log.info({ domain, url: input.url }, 'domain linked');
      await manage();
      return (await this.list()).find((l) => l.domain === domain)!;
    },

    async unlink(domain) {
      const { numAffectedRows } = (await sql`delete from federation_links where domain = ${domain}`.execute(
        db,
      )) as { numAffectedRows?: bigint };
      if (!numAffectedRows) throw notFound('No link to this domain', { details: { domain } });
      await sql`delete from remote_statuses where domain = ${domain}`.execute(db);
      log.info({ domain }, 'domain unlinked');
      await manage();
    },

    async list() {
      const { rows } = await sql<LinkRow & { watches: string; connected: boolean }>`
        select l.domain, l.url, l.last_batch_at, l.lag_ms, l.connected,
          (select count(*) from (
             select w.remote_user, w.viewer from federation_watches w where w.domain = l.domain
             union
             select split_part(w.target, '@', 1), w.watcher_id from watches w
             where w.kind = 'remote' and split_part(w.target, '@', 2) = l.domain) pairs)::text as watches
        from federation_links l order by l.domain`.execute(db);
      return rows.map((row) => ({
        domain: row.domain,
        url: row.url,
        connected: row.connected,
        lastBatchAt: row.last_batch_at ? row.last_batch_at.toISOString() : null,
        lagMs: row.lag_ms,
        watches: Number(row.watches),
      }));
    },

    async isLinked(domain) {
      return (await linkRow(domain)) !== undefined;
    },

    history: askHistory,
    drain,
    reseal,

    async start() {
      // Appends NOTIFY the event store's channel: served peers read at once instead of at the next poll.
      try {
        const client = await database.connect();
        client.on('notification', () => {
          for (const wakeUp of [...wakers]) wakeUp();
        });
        client.on('error', (error) =>
          log.warn({ err: error }, 'the federation’s listening connection failed'),
        );
        await client.query(`listen "${notificationChannel(database.schema).replaceAll('"', '""')}"`);
        listener = client;
      } catch (error) {
        log.warn({ err: error }, 'listening for appends failed; polling only');
      }
      await reseal();
      await manage();
      const again = () => {
        manager = setTimeout(() => {
          manage()
            .then(() => drain())
            .catch((error: unknown) => log.warn({ err: error }, 'managing the links failed'))
            .finally(() => {
              if (!stopped) again();
            });
        }, 2_000);
      };
      again();
      void drain();
    },

    async stop() {
      stopped = true;
      clearTimeout(manager);
      await draining;
      for (const socket of served) socket.terminate();
      for (const client of links.values()) await client.stop();
      links.clear();
      await listener?.end().catch(() => undefined);
      wss.close();
    },
  };
}

export { federationPath };
