/**
 * Who holds a `/ws` session: every replica follows the router's session meta events
 * (`wamp.session.on_join` / `on_leave`, as Crossbar publishes them and the local router too) and,
 * at start and every `reconcileMs`, replaces what it knows with the router's list, which covers
 * events missed while a replica or the router was down. A session is a connection of kind `ws`
 * (`ws:<sessionId>`); several replicas recording the same event is harmless (see statuses.ts).
 */
import type { Logger } from '@veche/log';
import { presenceConnections } from '@veche/metrics';
import type { WampService } from '@veche/wamp';
import type { Statuses } from './statuses.ts';

export interface WsSessionTracker {
  start(): Promise<void>;
  /** Replaces the known `/ws` sessions with the router's list. */
  reconcile(): Promise<void>;
  stop(): Promise<void>;
}

const connectionIdOf = (sessionId: number) => `ws:${sessionId}`;

function userOf(details: unknown): { sessionId: number; userId: string } | undefined {
  if (typeof details !== 'object' || details === null) return undefined;
  const { session, authid, authrole } = details as Record<string, unknown>;
  if (typeof session !== 'number' || typeof authid !== 'string' || authrole !== 'user') return undefined;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(authid)) return undefined;
  return { sessionId: session, userId: authid };
}

export function createWsSessionTracker(options: {
  wamp: WampService;
  statuses: Statuses;
  log: Logger;
  reconcileMs: number;
}): WsSessionTracker {
  const { wamp, statuses } = options;
  const log = options.log.child({ component: 'ws-sessions' });
  // Meta events are applied in the order they arrive.
  let queue: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  // The user sessions this replica knows of, for the gauge: every replica sees every session (the
  // dashboards take the largest replica's count for `wamp`, and sum `pubsub`, which is per replica).
  const known = new Set<number>();
  const countSessions = () => presenceConnections.set({ transport: 'wamp' }, known.size);
  const enqueue = (work: () => Promise<void>) => {
    queue = queue
      .then(work)
      .catch((error: unknown) => log.error({ err: error }, 'applying a session event failed'));
  };

  async function reconcile(): Promise<void> {
    const listedAt = await statuses.now();
    const ids = await wamp.call<unknown>('wamp.session.list', {}, { bare: true, args: [['user']] });
    if (!Array.isArray(ids)) throw new TypeError('wamp.session.list answered something other than a list');
    const sessions: { connectionId: string; userId: string }[] = [];
    const listed = new Set<number>();
    for (const id of ids) {
      try {
        const user = userOf(await wamp.call('wamp.session.get', {}, { bare: true, args: [id] }));
        if (user) {
          sessions.push({ connectionId: connectionIdOf(user.sessionId), userId: user.userId });
          listed.add(user.sessionId);
        }
      } catch (error) {
        // Left between the list and the get.
        log.debug({ err: error, sessionId: id }, 'session gone before it was read');
      }
    }
    await statuses.replaceWsSessions(sessions, listedAt);
    known.clear();
    for (const sessionId of listed) known.add(sessionId);
    countSessions();
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      enqueue(() => reconcile().finally(schedule));
    }, options.reconcileMs);
  }

  return {
    reconcile: () => {
      let done!: Promise<void>;
      enqueue(() => (done = reconcile()));
      return queue.then(() => done);
    },
    async start() {
      await wamp.subscribe('wamp.session.on_join', (_kwargs, args) => {
        const user = userOf(args[0]);
        if (!user) return;
        known.add(user.sessionId);
        countSessions();
        enqueue(() =>
          statuses.connectionOpened({
            connectionId: connectionIdOf(user.sessionId),
            userId: user.userId,
            kind: 'ws',
            replicaId: null,
          }),
        );
      });
      await wamp.subscribe('wamp.session.on_leave', (_kwargs, args) => {
        const [sessionId] = args;
        if (typeof sessionId !== 'number') return;
        if (known.delete(sessionId)) countSessions();
        enqueue(() => statuses.connectionClosed(connectionIdOf(sessionId), { ended: true }));
      });
      await this.reconcile();
      schedule();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await queue;
    },
  };
}
