/**
 * One replica's `/pubsub` subscriptions and the fan-out of changes to them. Every replica LISTENs to
 * the presence channel (NOTIFY sent in the committing transaction), so a change made through any
 * replica reaches the subscribers of all of them. For each subscribed user the replica keeps a view
 * (status, timestamp, privacy rules, extension), moved forward only by newer versions, whether they
 * come from a notification or a load racing with one. A replica that loses its listening connection
 * reloads every view and sends each subscriber whatever differs from what it last sent.
 */
import type pg from 'pg';
import { sql, type Database, type Kysely } from '@veche/db';
import type { Logger } from '@veche/log';
import { presenceStatusCodes, type PresenceStatusCode } from '@veche/contracts';
import { parseAddress } from '../domain/address.ts';
import { maySee, noGroupRules, type GroupRuleSet } from '../domain/privacy.ts';
import { notificationChannel, type PresenceNotification } from '../projections/notifications.ts';
import type { PresenceTables } from '../tables.ts';
import { loadGroups, loadPrivacyRules, loadViews, ownersOf, unseenView, type TargetView } from '../views.ts';
import { encodeStatusFrame, sharedTextFrame, type SharedFrame } from './frames.ts';

/** One `/pubsub` connection, as the fan-out sees it. */
export interface Subscriber {
  /** The authenticated user: whose privacy decides what this connection is told. */
  readonly viewer: string;
  /** A text frame; a {@link SharedFrame} is one encoded frame shared by many subscribers. */
  send(frame: string | SharedFrame): void;
  close(code: number, reason: string): void;
}

interface Subscription {
  subscriber: Subscriber;
  /** As the client wrote it; notifications name the publisher the same way. */
  address: string;
  /** The user the address names now (an extension may have no owner). */
  target: string | null;
  /** The extension, when addressed by number (its owner may change). */
  extension: string | null;
  /** `<userId>@<domain>` of a linked deployment (told by the federation link, not by views). */
  remote: { userId: string; domain: string } | null;
  lastSent: PresenceStatusCode | undefined;
}

export interface Fanout {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** A connection opened (it may be closed by a notification: its account disabled). */
  attach(subscriber: Subscriber): void;
  /** Subscribes and answers each address at once with its current status. */
  subscribe(subscriber: Subscriber, addresses: readonly string[]): Promise<void>;
  unsubscribe(subscriber: Subscriber, addresses: readonly string[]): void;
  /** The connection closed: forget its subscriptions. */
  detach(subscriber: Subscriber): void;
  subscriptionCount(subscriber: Subscriber): number;
  readonly isListening: boolean;
  /** Totals, for /ready and the bench. */
  stats(): { subscribers: number; subscriptions: number; targets: number };
}

export interface FanoutOptions {
  database: Database<unknown>;
  db: Kysely<PresenceTables>;
  log: Logger;
  /** Closes a disabled account's connections with this code. */
  disabledCloseCode: number;
  /** Reconnection delay of the listening connection, growing to 5 s. */
  listenRetryMs?: number;
  /** This deployment's domain: `<userId>@<it>` is a local user. */
  domain: string;
  /** This replica: its remote watches are recorded under it. */
  replicaId: string;
}

const UNKNOWN = presenceStatusCodes.UNKNOWN;
const NOT_REGISTERED = presenceStatusCodes.NOT_REGISTERED;

export function createFanout(options: FanoutOptions): Fanout {
  const { db, database } = options;
  const log = options.log.child({ component: 'pubsub-fanout' });
  const channel = notificationChannel(database.schema);
  const views = new Map<string, TargetView>();
  /** Loads in flight, so a burst of subscriptions to one user loads it once. */
  const loading = new Map<string, Promise<void>>();
  const byTarget = new Map<string, Set<Subscription>>();
  const byExtension = new Map<string, Set<Subscription>>();
  const bySubscriber = new Map<Subscriber, Map<string, Subscription>>();
  /** Remote subscriptions by address, and what each viewer was last told of each (`address\0viewer`). */
  const byRemote = new Map<string, Set<Subscription>>();
  const remoteKnown = new Map<string, { s: PresenceStatusCode; t: string | undefined }>();
  const remoteKey = (address: string, viewer: string) => `${address}\u0000${viewer}`;
  let groups: GroupRuleSet = noGroupRules;
  let groupsVersion = 0;
  let listener: pg.Client | undefined;
  let listening = false;
  let stopped = false;
  let retryTimer: NodeJS.Timeout | undefined;

  const add = <K, V>(index: Map<K, Set<V>>, key: K, value: V) => {
    let set = index.get(key);
    if (!set) index.set(key, (set = new Set()));
    set.add(value);
  };
  const remove = <K, V>(index: Map<K, Set<V>>, key: K, value: V) => {
    const set = index.get(key);
    if (!set) return;
    set.delete(value);
    if (set.size === 0) index.delete(key);
  };

  /**
   * Frames of one fan-out pass, encoded once per address and visibility class instead of once per
   * subscriber: within a pass over one target's subscriptions, the address and the status told decide
   * the frame (the timestamp is the target's, or none for 8 and 3). Keyed by address, then status.
   */
  type FrameCache = Map<string, Map<PresenceStatusCode, SharedFrame>>;
  function frameOf(
    cache: FrameCache,
    status: PresenceStatusCode,
    address: string,
    timestamp: string | undefined,
  ): SharedFrame {
    let byStatus = cache.get(address);
    if (!byStatus) cache.set(address, (byStatus = new Map<PresenceStatusCode, SharedFrame>()));
    let frame = byStatus.get(status);
    if (!frame)
      byStatus.set(status, (frame = sharedTextFrame(encodeStatusFrame(status, address, timestamp))));
    return frame;
  }

  /**
   * What `subscription`'s viewer is told now, and the frame that says it. `frames`: the pass's shared
   * frames, for passes over one local target's subscriptions (not for remote ones, whose timestamps
   * are per viewer).
   */
  function tell(subscription: Subscription, force: boolean, frames?: FrameCache): void {
    const { subscriber, target } = subscription;
    const view = target === null ? undefined : views.get(target);
    let status: PresenceStatusCode = NOT_REGISTERED;
    let timestamp: string | undefined;
    if (subscription.remote) {
      // Only what the user's own domain told, its privacy applied there; nothing known yet: 8.
      const known = remoteKnown.get(remoteKey(subscription.address, subscriber.viewer));
      status = known?.s ?? UNKNOWN;
      timestamp = known?.t;
    } else if (target !== null && view) {
      if (maySee(subscriber.viewer, target, view.rules, groups)) {
        status = view.status;
        timestamp = view.timestamp;
      } else {
        status = UNKNOWN;
      }
    }
    if (!force && subscription.lastSent === status) return;
    subscription.lastSent = status;
    subscriber.send(
      frames && !subscription.remote
        ? frameOf(frames, status, subscription.address, timestamp)
        : encodeStatusFrame(status, subscription.address, timestamp),
    );
  }

  const forgetViewIfUnused = (userId: string | null) => {
    if (userId !== null && !byTarget.has(userId)) views.delete(userId);
  };

  /** Makes sure views of `userIds` are loaded (one query set for all of them). */
  async function ensureViews(userIds: readonly string[]): Promise<void> {
    const missing = [...new Set(userIds)].filter((id) => !views.has(id) && !loading.has(id));
    if (missing.length > 0) {
      const load = (async () => {
        const loaded = await loadViews(db, missing);
        for (const [id, view] of loaded) {
          const current = views.get(id);
          // A notification may have arrived while loading: keep whichever is newer, part by part.
          if (!current) views.set(id, view);
          else {
            if (view.version > current.version) Object.assign(current, statusPart(view));
            if (view.rulesVersion > current.rulesVersion) {
              current.rules = view.rules;
              current.rulesVersion = view.rulesVersion;
            }
            current.extension = view.extension;
          }
        }
      })();
      for (const id of missing) loading.set(id, load);
      try {
        await load;
      } finally {
        for (const id of missing) if (loading.get(id) === load) loading.delete(id);
      }
    }
    await Promise.all(userIds.map((id) => loading.get(id)).filter((p) => p !== undefined));
  }

  const statusPart = (view: TargetView) => ({
    version: view.version,
    status: view.status,
    timestamp: view.timestamp,
    changedAt: view.changedAt,
  });

  function onStatus(n: Extract<PresenceNotification, { k: 'status' }>): void {
    let view = views.get(n.u);
    if (!view) {
      if (!loading.has(n.u)) return;
      // Being loaded for a subscriber: hold the newer status for when the load lands.
      view = unseenView(n.u);
      view.version = -1;
      views.set(n.u, view);
    }
    if (n.v <= view.version) return;
    view.version = n.v;
    view.status = n.s;
    view.timestamp = n.t;
    view.changedAt = new Date();
    // Every change is told, even an unchanged status (a re-publication) or an unchanged 8.
    const frames: FrameCache = new Map();
    for (const subscription of byTarget.get(n.u) ?? []) tell(subscription, true, frames);
  }

  /** Reloads `userId`'s rules and tells each subscriber whose answer flipped. */
  async function onPrivacy(userId: string, version: number): Promise<void> {
    const view = views.get(userId);
    if (!view || version <= view.rulesVersion) return;
    const loaded = await loadPrivacyRules(db, userId);
    if (loaded.version <= view.rulesVersion) return;
    view.rules = loaded.rules;
    view.rulesVersion = loaded.version;
    const frames: FrameCache = new Map();
    for (const subscription of byTarget.get(userId) ?? []) tell(subscription, false, frames);
  }

  let groupsReload: Promise<void> | undefined;
  let groupsPending = false;
  /** Reloads the group rules (coalescing bursts) and tells every flipped subscriber. */
  function onGroups(version: number): Promise<void> {
    if (version <= groupsVersion) return Promise.resolve();
    if (groupsReload) {
      groupsPending = true;
      return groupsReload;
    }
    groupsReload = (async () => {
      do {
        groupsPending = false;
        groups = (await loadGroups(db)).ruleSet;
        groupsVersion = Math.max(groupsVersion, version);
        for (const subscriptions of byTarget.values()) {
          const frames: FrameCache = new Map();
          for (const s of subscriptions) tell(s, false, frames);
        }
      } while (groupsPending);
    })().finally(() => {
      groupsReload = undefined;
    });
    return groupsReload;
  }

  /** Points subscriptions by `extension` at its owner now, and tells them. */
  async function reresolve(extension: string): Promise<void> {
    const subscriptions = byExtension.get(extension);
    if (!subscriptions || subscriptions.size === 0) return;
    const owner = (await ownersOf(db, [extension])).get(extension) ?? null;
    if (owner !== null) await ensureViews([owner]);
    for (const subscription of byExtension.get(extension) ?? []) {
      if (subscription.target === owner) continue;
      const previous = subscription.target;
      if (previous !== null) remove(byTarget, previous, subscription);
      subscription.target = owner;
      if (owner !== null) add(byTarget, owner, subscription);
      forgetViewIfUnused(previous);
      tell(subscription, false);
    }
  }

  /**
   * Work that later notifications must wait for, by the user it concerns (`*`: everyone). A rule change
   * is applied by reloading the rules, which takes a query; a status committed after the change (and
   * so notified after it) must not be told under the old rules meanwhile, so a user's notifications
   * queue behind that user's rule reload, and everyone's behind a group-rule reload. Without such work
   * in flight a notification applies at once, in the order PostgreSQL delivered it (commit order).
   */
  const inFlight = new Map<string, Promise<void>>();
  function inOrder(key: string, apply: () => void | Promise<void>, failed: (error: unknown) => void): void {
    const before = [inFlight.get(key), key === '*' ? undefined : inFlight.get('*')].filter(
      (p): p is Promise<void> => p !== undefined,
    );
    let run: Promise<void>;
    if (before.length === 0) {
      let result: void | Promise<void>;
      try {
        result = apply();
      } catch (error) {
        failed(error);
        return;
      }
      if (!result) return;
      run = result.catch(failed);
    } else {
      run = Promise.all(before).then(apply).catch(failed);
    }
    inFlight.set(key, run);
    void run.finally(() => {
      if (inFlight.get(key) === run) inFlight.delete(key);
    });
  }

  function onNotification(payload: string | undefined): void {
    let notification: PresenceNotification;
    try {
      notification = JSON.parse(payload ?? '') as PresenceNotification;
    } catch (error) {
      log.error({ err: error }, 'unreadable notification');
      return;
    }
    const failed = (error: unknown) =>
      log.error({ err: error, notification }, 'applying a notification failed');
    switch (notification.k) {
      case 'status': {
        const n = notification;
        inOrder(n.u, () => onStatus(n), failed);
        return;
      }
      case 'privacy': {
        const { u, v } = notification;
        inOrder(u, () => onPrivacy(u, v), failed);
        return;
      }
      case 'groups': {
        const { v } = notification;
        inOrder('*', () => onGroups(v), failed);
        return;
      }
      case 'extension': {
        const view = views.get(notification.u);
        if (view) view.extension = notification.e;
        for (const extension of [notification.p, notification.e]) {
          if (extension !== null) reresolve(extension).catch(failed);
        }
        return;
      }
      case 'remote':
        onRemote(notification.a, notification.w, notification.s, notification.t);
        return;
      case 'remotes':
        for (const [a, w, status, t] of notification.c) onRemote(a, w, status, t ?? undefined);
        return;
      case 'disabled':
        for (const subscriber of [...bySubscriber.keys()]) {
          if (subscriber.viewer === notification.u)
            subscriber.close(options.disabledCloseCode, 'account disabled');
        }
        return;
    }
  }

  /** A linked domain told viewer `w` the status of its user `a`. */
  function onRemote(a: string, w: string, status: PresenceStatusCode, t: string | undefined): void {
    remoteKnown.set(remoteKey(a, w), { s: status, t });
    for (const subscription of byRemote.get(a) ?? []) {
      if (subscription.subscriber.viewer === w) tell(subscription, true);
    }
  }

  /** After a gap in listening: everything may have changed. */
  async function resynchronise(): Promise<void> {
    groups = (await loadGroups(db)).ruleSet;
    const fresh = await loadViews(db, [...views.keys()]);
    for (const [id, view] of fresh) {
      const current = views.get(id);
      if (current) Object.assign(current, view);
    }
    for (const extension of [...byExtension.keys()]) await reresolve(extension);
    for (const subscriptions of byTarget.values()) {
      const frames: FrameCache = new Map();
      for (const s of subscriptions) tell(s, false, frames);
    }
    const remote = [...byRemote.values()].flatMap((set) => [...set]);
    await loadRemote(remote);
    for (const subscription of remote) tell(subscription, false);
  }

  /** What the link has recorded for these remote subscriptions' viewers. */
  async function loadRemote(subscriptions: readonly Subscription[]): Promise<void> {
    const wanted = subscriptions.flatMap((s) =>
      s.remote ? [{ domain: s.remote.domain, user: s.remote.userId, viewer: s.subscriber.viewer }] : [],
    );
    if (wanted.length === 0) return;
    const { rows } = await sql<{
      domain: string;
      remote_user: string;
      viewer: string;
      status: number;
      raw_timestamp: string | null;
    }>`
      select r.domain, r.remote_user, r.viewer, r.status, r.raw_timestamp
      from remote_statuses r
      join jsonb_to_recordset(${JSON.stringify(wanted)}::jsonb) as w(domain text, "user" text, viewer text)
        on r.domain = w.domain and r.remote_user = w."user" and r.viewer = w.viewer`.execute(db);
    for (const row of rows) {
      remoteKnown.set(remoteKey(`${row.remote_user}@${row.domain}`, row.viewer), {
        s: row.status as PresenceStatusCode,
        t: row.raw_timestamp ?? undefined,
      });
    }
  }

  /** Records that this replica watches these remote users for these viewers (the link sends only those). */
  async function recordWatches(subscriptions: readonly Subscription[]): Promise<void> {
    const rows = subscriptions.flatMap((s) =>
      s.remote ? [{ domain: s.remote.domain, user: s.remote.userId, viewer: s.subscriber.viewer }] : [],
    );
    if (rows.length === 0) return;
    await sql`
      insert into federation_watches (domain, remote_user, viewer, replica_id)
      select w.domain, w."user", w.viewer, ${options.replicaId}
      from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as w(domain text, "user" text, viewer text)
      on conflict do nothing`.execute(db);
  }

  async function listen(): Promise<void> {
    const client = await database.connect();
    client.on('notification', (message) => {
      if (message.channel === channel) onNotification(message.payload);
    });
    client.on('error', (error) => {
      log.warn({ err: error }, 'the listening connection failed; reconnecting');
    });
    client.on('end', () => {
      if (listener !== client) return;
      listener = undefined;
      listening = false;
      if (!stopped) scheduleListen(options.listenRetryMs ?? 200);
    });
    await client.query(`listen "${channel.replaceAll('"', '""')}"`);
    listener = client;
    listening = true;
  }

  function scheduleListen(delayMs: number): void {
    retryTimer = setTimeout(() => {
      listen()
        .then(() => {
          log.info('listening again; resynchronising subscriptions');
          return resynchronise();
        })
        .catch((error: unknown) => {
          log.warn({ err: error }, 'listening failed; retrying');
          if (!stopped) scheduleListen(Math.min(delayMs * 2, 5_000));
        });
    }, delayMs);
  }

  function unsubscribeOne(subscriber: Subscriber, address: string): void {
    const mine = bySubscriber.get(subscriber);
    const subscription = mine?.get(address);
    if (!mine || !subscription) return;
    mine.delete(address);
    if (subscription.remote) {
      remove(byRemote, address, subscription);
      const viewer = subscriber.viewer;
      const still = [...(byRemote.get(address) ?? [])].some((s) => s.subscriber.viewer === viewer);
      if (!still) {
        remoteKnown.delete(remoteKey(address, viewer));
        const { domain, userId } = subscription.remote;
        sql`
          delete from federation_watches
          where domain = ${domain} and remote_user = ${userId} and viewer = ${viewer} and replica_id = ${options.replicaId}`
          .execute(db)
          .catch((error: unknown) => log.warn({ err: error }, 'forgetting a remote watch failed'));
      }
    }
    if (subscription.target !== null) remove(byTarget, subscription.target, subscription);
    if (subscription.extension !== null) remove(byExtension, subscription.extension, subscription);
    forgetViewIfUnused(subscription.target);
  }

  return {
    get isListening() {
      return listening;
    },

    async start() {
      groups = (await loadGroups(db)).ruleSet;
      // A previous process under this replica id may have left its watches.
      await sql`delete from federation_watches where replica_id = ${options.replicaId}`.execute(db);
      await listen();
    },

    async stop() {
      stopped = true;
      clearTimeout(retryTimer);
      const client = listener;
      listener = undefined;
      listening = false;
      await client?.end().catch(() => undefined);
      await sql`delete from federation_watches where replica_id = ${options.replicaId}`
        .execute(db)
        .catch((error: unknown) =>
          log.warn({ err: error }, 'forgetting this replica’s remote watches failed'),
        );
    },

    attach(subscriber) {
      if (!bySubscriber.has(subscriber)) bySubscriber.set(subscriber, new Map<string, Subscription>());
    },

    async subscribe(subscriber, addresses) {
      let mine = bySubscriber.get(subscriber);
      if (!mine) bySubscriber.set(subscriber, (mine = new Map<string, Subscription>()));
      const extensions = addresses.flatMap((a) => {
        const parsed = parseAddress(a);
        return parsed?.kind === 'extension' ? [parsed.extension] : [];
      });
      const owners = await ownersOf(db, extensions);
      const fresh: Subscription[] = [];
      for (const address of addresses) {
        const parsed = parseAddress(address);
        if (!parsed) continue;
        const existing = mine.get(address);
        if (existing) {
          // SUBSCRIBE again: answered again, at once.
          fresh.push(existing);
          continue;
        }
        const base = { subscriber, address, extension: null, remote: null, lastSent: undefined };
        const subscription: Subscription =
          parsed.kind === 'user'
            ? { ...base, target: parsed.userId }
            : parsed.kind === 'remote'
              ? parsed.domain === options.domain
                ? { ...base, target: parsed.userId }
                : { ...base, target: null, remote: { userId: parsed.userId, domain: parsed.domain } }
              : { ...base, target: owners.get(parsed.extension) ?? null, extension: parsed.extension };
        fresh.push(subscription);
      }
      const remote = fresh.filter((s) => s.remote && !mine.has(s.address));
      await recordWatches(remote);
      await loadRemote(remote);
      await ensureViews(fresh.flatMap((s) => (s.target === null ? [] : [s.target])));
      // The connection may have closed while the views loaded.
      if (bySubscriber.get(subscriber) !== mine) {
        for (const subscription of fresh) forgetViewIfUnused(subscription.target);
        return;
      }
      for (const subscription of fresh) {
        if (!mine.has(subscription.address)) {
          mine.set(subscription.address, subscription);
          if (subscription.target !== null) add(byTarget, subscription.target, subscription);
          if (subscription.extension !== null) add(byExtension, subscription.extension, subscription);
          if (subscription.remote) add(byRemote, subscription.address, subscription);
        }
        tell(subscription, true);
      }
    },

    unsubscribe(subscriber, addresses) {
      for (const address of addresses) unsubscribeOne(subscriber, address);
    },

    detach(subscriber) {
      const mine = bySubscriber.get(subscriber);
      if (!mine) return;
      for (const address of [...mine.keys()]) unsubscribeOne(subscriber, address);
      bySubscriber.delete(subscriber);
    },

    subscriptionCount(subscriber) {
      return bySubscriber.get(subscriber)?.size ?? 0;
    },

    stats() {
      let subscriptions = 0;
      for (const mine of bySubscriber.values()) subscriptions += mine.size;
      return { subscribers: bySubscriber.size, subscriptions, targets: views.size };
    },
  };
}
