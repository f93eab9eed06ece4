/**
 * What the presence procedures do, apart from how they are registered: lookups filtered by privacy,
 * status changes, subscriptions (WAMP watches), privacy rules, group rules and history. Every answer
 * about another user goes through `seenBy`, so a viewer who may not see someone is told 8 everywhere.
 */
import { sql, type Kysely } from '@veche/db';
import { forbidden, notFound, validationError } from '@veche/errors';
import type { Federation } from '../federation/federation.ts';
import type { EventStore } from '@veche/event-store';
import {
  presenceStatusCodes,
  type GroupPolicyView,
  type GroupRule,
  type MyPresence,
  type PresenceEntry,
  type PresenceStatusCode,
  type PrivacyMode,
  type PrivacyRules,
} from '@veche/contracts';
import { extensionLike, isExtensionPattern, parseAddress } from '../domain/address.ts';
import {
  decideGroupPolicy,
  decidePrivacy,
  groupsStream,
  privacyStream,
  foldGroupPolicy,
  type GroupPolicyCommand,
  type GroupPolicyState,
} from '../domain/policy.ts';
import { maySee, type GroupRuleSet } from '../domain/privacy.ts';
import type { Statuses } from '../statuses.ts';
import type { PresenceTables } from '../tables.ts';
import { loadGroups, loadPrivacyRules, loadViews, ownersOf, type TargetView } from '../views.ts';

export interface PresenceApiOptions {
  db: Kysely<PresenceTables>;
  store: EventStore;
  statuses: Statuses;
  /** Most watches (users, numbers, patterns) one user may hold. */
  maxWatches: number;
  /** Links to other deployments (issue 20); the admin procedures below manage them. */
  federation?: () => Pick<Federation, 'link' | 'unlink' | 'list' | 'isLinked' | 'history'>;
  /** This deployment's domain: `<userId>@<it>` is a local user. */
  domain?: string;
}

/** Whoever may set or read everything: the CLI with service credentials. */
export type Viewer = { userId: string } | 'operator';

const UNKNOWN = presenceStatusCodes.UNKNOWN;

function entryFor(view: TargetView, viewer: Viewer, groups: GroupRuleSet): PresenceEntry {
  const visible = viewer === 'operator' || maySee(viewer.userId, view.userId, view.rules, groups);
  if (!visible) return { userId: view.userId, extension: view.extension, status: UNKNOWN };
  return {
    userId: view.userId,
    extension: view.extension,
    status: view.status,
    ...(view.changedAt ? { changedAt: view.changedAt.toISOString() } : {}),
  };
}

export function createPresenceApi(options: PresenceApiOptions) {
  const { db, store, statuses } = options;
  const federation = () => {
    if (!options.federation) throw notFound('Federation is not available here');
    return options.federation();
  };

  /**
   * `<userId>@<domain>` of a linked deployment, or undefined for a local user (our own domain's
   * addresses name local users).
   */
  const remoteOf = (text: string): { userId: string; domain: string } | undefined => {
    const address = parseAddress(text);
    return address?.kind === 'remote' && address.domain !== options.domain ? address : undefined;
  };
  const localOf = (text: string): string => {
    const address = parseAddress(text);
    return address?.kind === 'remote' ? address.userId : text;
  };

  /** What the link last told `viewer` of these remote users (their domain's privacy applied); 8 if nothing. */
  async function remoteEntries(viewer: Viewer, addresses: readonly string[]): Promise<PresenceEntry[]> {
    const unique = [...new Set(addresses)];
    if (unique.length === 0) return [];
    const known = new Map<string, PresenceStatusCode>();
    if (viewer !== 'operator') {
      const wanted = unique.map((a) => ({ ...remoteOf(a)!, viewer: viewer.userId }));
      const { rows } = await sql<{ domain: string; remote_user: string; status: PresenceStatusCode }>`
        select r.domain, r.remote_user, r.status from remote_statuses r
        join jsonb_to_recordset(${JSON.stringify(wanted)}::jsonb) as w(domain text, "userId" text, viewer text)
          on r.domain = w.domain and r.remote_user = w."userId" and r.viewer = w.viewer`.execute(db);
      for (const row of rows) known.set(`${row.remote_user}@${row.domain}`, row.status);
    }
    return unique.map((address) => ({
      userId: address,
      extension: null,
      status: known.get(address) ?? UNKNOWN,
    }));
  }

  async function entries(viewer: Viewer, userIds: readonly string[]): Promise<PresenceEntry[]> {
    const remote = userIds.filter((id) => remoteOf(id) !== undefined);
    if (remote.length > 0) {
      const local = userIds.filter((id) => remoteOf(id) === undefined).map(localOf);
      return [...(await entries(viewer, local)), ...(await remoteEntries(viewer, remote))];
    }
    const unique = [...new Set(userIds.map(localOf))];
    if (unique.length === 0) return [];
    const [views, { ruleSet }] = await Promise.all([loadViews(db, unique), loadGroups(db)]);
    return unique.map((id) => entryFor(views.get(id)!, viewer, ruleSet));
  }

  async function myPresence(userId: string): Promise<MyPresence> {
    const [{ state, facts }, directory] = await Promise.all([
      statuses.state(userId),
      db.selectFrom('directory').select('extension').where('user_id', '=', userId).executeTakeFirst(),
    ]);
    return {
      userId,
      extension: directory?.extension ?? null,
      status: state.status,
      chosen: state.chosen?.status ?? null,
      connected: facts.connected,
    };
  }

  /** The owner of `extension`, when `viewer` may set its status (its owner, an admin, the operator). */
  async function extensionOwner(
    viewer: Viewer | { userId: string; role: 'user' | 'admin' },
    extension: string,
  ): Promise<string> {
    const owner = (await ownersOf(db, [extension])).get(extension);
    const privileged = viewer === 'operator' || ('role' in viewer && viewer.role === 'admin');
    if (!owner) throw notFound('No user has this extension number');
    if (!privileged && typeof viewer === 'object' && viewer.userId !== owner)
      throw forbidden('Only its owner or an administrator may set this extension’s status');
    return owner;
  }

  async function statusesOf(
    viewer: Viewer,
    query: { users?: readonly string[]; extensions?: readonly string[]; after?: string; limit?: number },
  ): Promise<{ statuses: PresenceEntry[] }> {
    const userIds = [...(query.users ?? [])];
    const extensions = query.extensions ?? [];
    if (extensions.includes('*')) {
      const rows = await db
        .selectFrom('directory')
        .select('user_id')
        .where('extension', 'is not', null)
        .where('disabled', '=', false)
        .$if(query.after !== undefined, (q) => q.where('extension', '>', query.after ?? ''))
        .orderBy('extension')
        .limit(query.limit ?? 1000)
        .execute();
      userIds.push(...rows.map((r) => r.user_id));
    } else if (extensions.length > 0) {
      const owners = await ownersOf(db, extensions);
      userIds.push(...extensions.flatMap((e) => (owners.has(e) ? [owners.get(e)!] : [])));
    }
    return { statuses: await entries(viewer, userIds) };
  }

  async function findExtensions(pattern: string, limit = 200) {
    const rows = await db
      .selectFrom('directory')
      .select(['extension', 'user_id'])
      .where('extension', 'like', extensionLike(pattern))
      .where('disabled', '=', false)
      .orderBy('extension')
      .limit(limit)
      .execute();
    return {
      extensions: rows.flatMap((r) => (r.extension ? [{ extension: r.extension, userId: r.user_id }] : [])),
    };
  }

  async function groupPolicyState(): Promise<GroupPolicyState> {
    return foldGroupPolicy(await store.readStream(groupsStream));
  }

  async function groupView(): Promise<GroupPolicyView> {
    const { groups, rules } = await loadGroups(db);
    return { groups, rules };
  }

  async function changeGroups(command: GroupPolicyCommand, actor: string): Promise<GroupPolicyView> {
    const state = await groupPolicyState();
    const events = decideGroupPolicy(state, command);
    if (events.length > 0) {
      await store.append(groupsStream, events, { expectedVersion: state.version, actor });
    }
    return groupView();
  }

  return {
    myPresence,
    statusesOf,
    findExtensions,

    async activity(userId: string): Promise<void> {
      await statuses.activity(userId);
    },

    async setStatus(userId: string, status: PresenceStatusCode): Promise<MyPresence> {
      await statuses.activity(userId);
      await statuses.publish(userId, status, { by: userId });
      return myPresence(userId);
    },

    async clearStatus(userId: string): Promise<MyPresence> {
      await statuses.activity(userId);
      await statuses.clear(userId, userId);
      return myPresence(userId);
    },

    async setExtensionStatus(
      viewer: Viewer | { userId: string; role: 'user' | 'admin' },
      extension: string,
      status: PresenceStatusCode | null,
    ): Promise<PresenceEntry> {
      const owner = await extensionOwner(viewer, extension);
      const by = viewer === 'operator' ? 'service:veche-presence' : viewer.userId;
      if (status === null) await statuses.clear(owner, by);
      else await statuses.publish(owner, status, { by });
      const [entry] = await entries('operator', [owner]);
      return entry!;
    },

    /** Statuses of `users` as `viewer` may see them (chat's member list). */
    statusesFor: (viewer: string, users: readonly string[]) => entries({ userId: viewer }, users),

    async subscribe(
      userId: string,
      change: { subscribe?: readonly string[]; unsubscribe?: readonly string[] },
    ): Promise<{ statuses: PresenceEntry[] }> {
      const unsubscribe = change.unsubscribe ?? [];
      if (unsubscribe.length > 0) {
        await db
          .deleteFrom('watches')
          .where('watcher_id', '=', userId)
          .where(
            'target',
            'in',
            [...unsubscribe].map((t) => (remoteOf(t) ? t : localOf(t))),
          )
          .execute();
      }
      const subscribe = change.subscribe ?? [];
      const rows = subscribe.map((target) => {
        if (isExtensionPattern(target)) return { watcher_id: userId, target, kind: 'pattern' as const };
        const address = parseAddress(target);
        if (!address)
          throw validationError('Not a user id, extension number or pattern', {
            details: [{ path: '/subscribe', message: 'bad address' }],
          });
        if (address.kind === 'remote') {
          if (address.domain === options.domain)
            return { watcher_id: userId, target: address.userId, kind: 'user' as const };
          return { watcher_id: userId, target, kind: 'remote' as const };
        }
        return { watcher_id: userId, target, kind: address.kind };
      });
      const domains = [
        ...new Set(rows.flatMap((r) => (r.kind === 'remote' ? [remoteOf(r.target)!.domain] : []))),
      ];
      for (const domain of domains) {
        if (!(await federation().isLinked(domain)))
          throw validationError('Not a linked domain', {
            details: [{ path: '/subscribe', message: `no link to ${domain}` }],
          });
      }
      if (rows.length === 0) return { statuses: [] };
      const held = await db
        .selectFrom('watches')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('watcher_id', '=', userId)
        .executeTakeFirstOrThrow();
      if (Number(held.n) + rows.length > options.maxWatches)
        throw validationError(`At most ${options.maxWatches} subscriptions per user`);
      await db
        .insertInto('watches')
        .values(rows)
        .onConflict((oc) => oc.doNothing())
        .execute();
      const users = rows.filter((r) => r.kind === 'user' || r.kind === 'remote').map((r) => r.target);
      const numbers = rows.filter((r) => r.kind === 'extension').map((r) => r.target);
      const patterns = rows.filter((r) => r.kind === 'pattern').map((r) => r.target);
      for (const pattern of patterns) {
        const { extensions } = await findExtensions(pattern, 1000);
        users.push(...extensions.map((e) => e.userId));
      }
      const owners = await ownersOf(db, numbers);
      users.push(...numbers.flatMap((n) => (owners.has(n) ? [owners.get(n)!] : [])));
      return { statuses: await entries({ userId }, users) };
    },

    async listSubscriptions(userId: string): Promise<{ subscriptions: string[] }> {
      const rows = await db
        .selectFrom('watches')
        .select('target')
        .where('watcher_id', '=', userId)
        .orderBy('created_at')
        .execute();
      return { subscriptions: rows.map((r) => r.target) };
    },

    async getPrivacy(userId: string): Promise<PrivacyRules> {
      const { rules, users } = await loadPrivacyRules(db, userId);
      return { mode: rules.mode, users };
    },

    async setPrivacy(userId: string, mode: PrivacyMode, users: readonly string[]): Promise<PrivacyRules> {
      const current = await loadPrivacyRules(db, userId);
      const events = decidePrivacy(
        { version: current.version, mode: current.rules.mode, users: current.users },
        { owner: userId, mode, users },
      );
      if (events.length > 0) {
        await store.append(privacyStream(userId), events, {
          expectedVersion: current.version,
          actor: userId,
        });
      }
      return this.getPrivacy(userId);
    },

    async history(
      viewer: string,
      query: { userId: string; status?: PresenceStatusCode; before?: string; limit?: number },
    ): Promise<{
      userId: string;
      status: PresenceStatusCode;
      changes: { status: PresenceStatusCode; at: string }[];
      hasMore: boolean;
    }> {
      const remote = remoteOf(query.userId);
      if (remote) {
        // Asked of the user's own domain, whose privacy rules decide what this viewer sees.
        const { userId: user, domain } = remote;
        const { userId: _address, ...rest } = query;
        const answer = await federation().history(domain, { user, viewer, ...rest });
        return { userId: query.userId, ...answer };
      }
      query = { ...query, userId: localOf(query.userId) };
      const [views, { ruleSet }] = await Promise.all([loadViews(db, [query.userId]), loadGroups(db)]);
      const view = views.get(query.userId)!;
      const limit = query.limit ?? 50;
      if (!maySee(viewer, query.userId, view.rules, ruleSet)) {
        // As a user who chose 8 once and never changed: no hint that a rule hides anything.
        const first = await db
          .selectFrom('status_history')
          .select('at')
          .where('user_id', '=', query.userId)
          .orderBy('version')
          .limit(1)
          .executeTakeFirst();
        const before = query.before === undefined ? undefined : new Date(query.before);
        const shown =
          first && (query.status === undefined || query.status === UNKNOWN) && (!before || first.at < before);
        return {
          userId: query.userId,
          status: UNKNOWN,
          changes: shown ? [{ status: UNKNOWN, at: first.at.toISOString() }] : [],
          hasMore: false,
        };
      }
      const rows = await db
        .selectFrom('status_history')
        .select(['status', 'at'])
        .where('user_id', '=', query.userId)
        .$if(query.status !== undefined, (q) => q.where('status', '=', query.status!))
        .$if(query.before !== undefined, (q) => q.where('at', '<', new Date(query.before!)))
        .orderBy('version', 'desc')
        .limit(limit + 1)
        .execute();
      return {
        userId: query.userId,
        status: view.status,
        changes: rows.slice(0, limit).map((r) => ({ status: r.status, at: r.at.toISOString() })),
        hasMore: rows.length > limit,
      };
    },

    getGroups: groupView,
    setGroup: (name: string, members: readonly string[], actor: string) =>
      changeGroups({ type: 'setGroup', name, members }, actor),
    deleteGroup: (name: string, actor: string) => changeGroups({ type: 'deleteGroup', name }, actor),
    setGroupRules: (rules: readonly GroupRule[], actor: string) =>
      changeGroups({ type: 'setRules', rules }, actor),
    linkDomain: (domain: string, input: { url: string; secret: string }) => federation().link(domain, input),
    unlinkDomain: async (domain: string) => {
      await federation().unlink(domain);
      return { ok: true as const };
    },
    listLinks: async () => ({ links: await federation().list() }),
  };
}

export type PresenceApi = ReturnType<typeof createPresenceApi>;
