/**
 * The WAMP side of presence: follows the committed log (an at-least-once event-store subscription,
 * one replica at a time) and publishes to each entitled watcher's `veche.user.<id>.presence` what
 * that watcher may see, and every change, unfiltered, to services on `veche.presence.changes`. The
 * checkpoint moves only after the router acknowledged every publication of the batch.
 *
 * Watchers of a user are those who subscribed (through /api) to the user's id, to the user's
 * extension number, or to a pattern the number matches; the user themself is always told. A privacy
 * or group change is told only to the watchers whose answer flips (real status ↔ 8), so nobody learns
 * that a rule changed about someone else.
 */
import { sql, type Database } from '@veche/db';
import {
  createSubscription,
  type EventStore,
  type RecordedEvent,
  type Subscription,
} from '@veche/event-store';
import { isVecheError } from '@veche/errors';
import type { Logger } from '@veche/log';
import {
  presenceEventTypes as T,
  presenceServiceTopic,
  presenceStatusCodes,
  type PresenceRealtimeEvent,
  type PresenceServiceEvent,
  type PresenceStatusCode,
} from '@veche/contracts';
import type { WampService } from '@veche/wamp';
import { userTopic } from '@veche/wamp-policy';
import { readPresenceEvent } from './domain/events.ts';
import { foldGroupPolicy, groupsStream } from './domain/policy.ts';
import { groupRuleSet, maySee, openRules, type GroupRuleSet, type PrivacyRules } from './domain/privacy.ts';
import type { PresenceTables } from './tables.ts';
import { loadGroups, loadViews, type TargetView } from './views.ts';

export interface PresenceRelayOptions {
  database: Database<unknown>;
  store: EventStore;
  log: Logger;
  session: Pick<WampService, 'publish'>;
  batchSize?: number;
  publishTimeoutMs?: number;
}

interface Publication {
  topic: string;
  payload: PresenceRealtimeEvent | PresenceServiceEvent;
}

const userStream = 'presence-';
const privacyPrefix = 'presence-privacy-';
const directoryPrefix = 'presence-directory-';

export function createPresenceRelay(options: PresenceRelayOptions): Subscription {
  const { database, store } = options;
  const db = database.db.$extendTables<PresenceTables>();
  const log = options.log.child({ component: 'presence-relay' });

  /** Everyone watching `view`'s user, by id, number or pattern, and the user themself. */
  async function watchersOf(view: TargetView, extensions: readonly (string | null)[]): Promise<string[]> {
    const numbers = extensions.filter((e): e is string => e !== null);
    const rows = await db
      .selectFrom('watches')
      .select('watcher_id')
      .where((eb) =>
        eb.or([
          eb.and([eb('kind', '=', 'user'), eb('target', '=', view.userId)]),
          ...(numbers.length > 0
            ? [
                eb.and([eb('kind', '=', 'extension'), eb('target', 'in', numbers)]),
                eb.and([
                  eb('kind', '=', 'pattern'),
                  eb.or(
                    numbers.map((n) =>
                      eb(sql.val(n), 'like', sql<string>`replace(replace(target, '*', '%'), '?', '_')`),
                    ),
                  ),
                ]),
              ]
            : []),
        ]),
      )
      .execute();
    return [...new Set([view.userId, ...rows.map((r) => r.watcher_id)])];
  }

  const statusEvent = (
    view: TargetView,
    status: PresenceStatusCode,
    visible: boolean,
  ): PresenceRealtimeEvent => ({
    type: 'status',
    userId: view.userId,
    extension: view.extension,
    status,
    ...(visible && view.changedAt ? { changedAt: view.changedAt.toISOString() } : {}),
  });

  function tellWatchers(
    view: TargetView,
    watchers: readonly string[],
    groups: GroupRuleSet,
    only?: (watcher: string) => boolean,
  ): Publication[] {
    const out: Publication[] = [];
    for (const watcher of watchers) {
      if (only && !only(watcher)) continue;
      const visible = maySee(watcher, view.userId, view.rules, groups);
      out.push({
        topic: userTopic(watcher, 'presence'),
        payload: statusEvent(view, visible ? view.status : presenceStatusCodes.UNKNOWN, visible),
      });
    }
    return out;
  }

  /** Group rules as they were before the group event at `version`, and after it. */
  async function groupsAround(version: number): Promise<{ before: GroupRuleSet; after: GroupRuleSet }> {
    const events = await store.readStream(groupsStream, { fromVersion: 1 });
    const toRuleSet = (upTo: number) => {
      const state = foldGroupPolicy(events, upTo);
      return groupRuleSet(
        [...state.groups].map(([name, members]) => ({ name, members })),
        state.rules,
      );
    };
    return { before: toRuleSet(version - 1), after: toRuleSet(version) };
  }

  async function publicationsOf(event: RecordedEvent, groups: GroupRuleSet): Promise<Publication[]> {
    const typed = readPresenceEvent(event);
    if (!typed) return [];
    switch (typed.type) {
      case T.statusChanged: {
        const userId = event.streamId.slice(userStream.length);
        const view = (await loadViews(db, [userId])).get(userId)!;
        // The status of this event, not whatever is current by now (the batch may hold several).
        view.status = typed.data.status;
        view.changedAt = new Date(event.metadata.occurredAt);
        const watchers = await watchersOf(view, [view.extension]);
        return [
          ...tellWatchers(view, watchers, groups),
          {
            topic: presenceServiceTopic,
            payload: {
              type: 'status',
              userId,
              extension: view.extension,
              status: typed.data.status,
              changedAt: event.metadata.occurredAt,
            },
          },
        ];
      }
      case T.privacyChanged: {
        const userId = event.streamId.slice(privacyPrefix.length);
        const view = (await loadViews(db, [userId])).get(userId)!;
        const previous = await previousPrivacy(event);
        const now: PrivacyRules = { mode: typed.data.mode, users: new Set(typed.data.users) };
        view.rules = now;
        const watchers = await watchersOf(view, [view.extension]);
        return tellWatchers(
          view,
          watchers,
          groups,
          (w) => maySee(w, userId, previous, groups) !== maySee(w, userId, now, groups),
        );
      }
      case T.groupSet:
      case T.groupDeleted:
      case T.groupRulesSet: {
        const { before, after } = await groupsAround(event.streamVersion);
        const watches = await db.selectFrom('watches').select(['watcher_id', 'target', 'kind']).execute();
        const targets = new Set<string>();
        for (const w of watches) if (w.kind === 'user') targets.add(w.target);
        const byExtension = await db
          .selectFrom('directory')
          .select(['user_id', 'extension'])
          .where('extension', 'is not', null)
          .execute();
        for (const row of byExtension) targets.add(row.user_id);
        const views = await loadViews(db, [...targets]);
        const out: Publication[] = [];
        for (const view of views.values()) {
          const watchers = await watchersOf(view, [view.extension]);
          out.push(
            ...tellWatchers(
              view,
              watchers,
              after,
              (w) => maySee(w, view.userId, view.rules, before) !== maySee(w, view.userId, view.rules, after),
            ),
          );
        }
        return out;
      }
      case T.directoryUpdated: {
        const userId = event.streamId.slice(directoryPrefix.length);
        const view = (await loadViews(db, [userId])).get(userId)!;
        view.extension = typed.data.extension;
        // Watchers of the old number or patterns it matched learn where the user went; new ones, the status.
        const watchers = await watchersOf(view, [typed.data.extension, typed.data.previous]);
        return [
          ...tellWatchers(view, watchers, groups),
          {
            topic: presenceServiceTopic,
            payload: { type: 'extension', userId, extension: typed.data.extension, status: view.status },
          },
        ];
      }
      case T.statusChosen:
        return [];
    }
  }

  async function previousPrivacy(event: RecordedEvent): Promise<PrivacyRules> {
    if (event.streamVersion <= 1) return openRules;
    const [previous] = await store.readStream(event.streamId, {
      fromVersion: event.streamVersion - 1,
      limit: 1,
    });
    const typed = previous ? readPresenceEvent(previous) : undefined;
    return typed?.type === T.privacyChanged
      ? { mode: typed.data.mode, users: new Set(typed.data.users) }
      : openRules;
  }

  return createSubscription({
    name: 'presence.realtime-relay',
    database,
    store,
    log,
    mode: 'at-least-once',
    eventTypes: [
      T.statusChanged,
      T.privacyChanged,
      T.groupSet,
      T.groupDeleted,
      T.groupRulesSet,
      T.directoryUpdated,
    ],
    batchSize: options.batchSize ?? 200,
    async handle(events) {
      const { ruleSet } = await loadGroups(db);
      const publications: Publication[] = [];
      for (const event of events) {
        try {
          publications.push(...(await publicationsOf(event, ruleSet)));
        } catch (error) {
          // An event that breaks its own schema can never be routed: skip it rather than stall every
          // user's feed. Anything else (PostgreSQL away) fails the batch, which is tried again.
          if (!isVecheError(error, 'internal')) throw error;
          log.error({ err: error, eventId: event.eventId, type: event.type }, 'unroutable event skipped');
        }
      }
      await Promise.all(
        publications.map((p) =>
          options.session.publish(p.topic, p.payload, {
            acknowledge: true,
            timeoutMs: options.publishTimeoutMs ?? 5_000,
          }),
        ),
      );
    },
  });
}
