/**
 * The realtime relay: follows the committed event log through an event-store subscription and publishes
 * what each event means to users on their personal WAMP topics, moving the checkpoint only once the
 * router has acknowledged every publication of the batch. A crash or an unreachable router in between
 * publishes the batch again (clients de-duplicate by `seq`); the subscription's advisory lock keeps the
 * relay to one replica at a time.
 */
import type { Database } from '@veche/db';
import { createSubscription, type Checkpoint, type EventStore, type RecordedEvent } from '@veche/event-store';
import type { Logger } from '@veche/log';
import { watchRelayLag } from '@veche/metrics';
import type { Kwargs } from './autobahn.ts';
import type { WampService } from './service.ts';

export interface RealtimeMessage {
  /** Usually `userTopic(userId, stream)` from @veche/wamp-policy. */
  topic: string;
  payload: Kwargs;
}

export interface RealtimeRelayOptions {
  database: Database<unknown>;
  store: EventStore;
  log: Logger;
  /** The service's WAMP session (only `publish` is used). */
  session: Pick<WampService, 'publish'>;
  /** What an event means to whom; `[]` for events no user sees. Must be pure and fast. */
  route: (event: RecordedEvent) => readonly RealtimeMessage[];
  /** The subscription's name: its checkpoint and its lock (default `wamp.realtime-relay`). */
  name?: string;
  /** Only these event types reach `route`; all when omitted. */
  eventTypes?: readonly string[];
  /** Events per checkpoint move (default 500). */
  batchSize?: number;
  pollIntervalMs?: number;
  leaseRetryMs?: number;
  /** How long one publication may wait for its acknowledgement (default 5 s). */
  publishTimeoutMs?: number;
}

export interface RealtimeRelay {
  start(): Promise<void>;
  /** Finishes the batch under way (publications, acknowledgements, checkpoint), then stops. */
  stop(): Promise<void>;
  /** True while this process holds the relay's lock and publishes. */
  readonly isLeader: boolean;
  checkpoint(): Promise<Checkpoint>;
}

export function createRealtimeRelay(options: RealtimeRelayOptions): RealtimeRelay {
  const name = options.name ?? 'wamp.realtime-relay';
  const log = options.log.child({ component: 'realtime-relay', relay: name });
  const publishTimeoutMs = options.publishTimeoutMs ?? 5_000;

  const messagesOf = (event: RecordedEvent): readonly RealtimeMessage[] => {
    try {
      return options.route(event);
    } catch (error) {
      // A routing bug must not stop every user's realtime feed: clients see the `seq` gap and catch up
      // over /api. The log line is the alarm.
      log.error({ err: error, eventId: event.eventId, type: event.type }, 'route threw; event not published');
      return [];
    }
  };

  const subscription = createSubscription({
    name,
    database: options.database,
    store: options.store,
    log,
    mode: 'at-least-once',
    batchSize: options.batchSize ?? 500,
    ...(options.eventTypes === undefined ? {} : { eventTypes: options.eventTypes }),
    ...(options.pollIntervalMs === undefined ? {} : { pollIntervalMs: options.pollIntervalMs }),
    ...(options.leaseRetryMs === undefined ? {} : { leaseRetryMs: options.leaseRetryMs }),
    async handle(events) {
      const messages = events.flatMap(messagesOf);
      // Sent in log order on one session, so the router delivers them in that order; the
      // acknowledgements are awaited together. A rejection leaves the checkpoint where it was.
      await Promise.all(
        messages.map(({ topic, payload }) =>
          options.session.publish(topic, payload, { acknowledge: true, timeoutMs: publishTimeoutMs }),
        ),
      );
      log.debug({ events: events.length, publications: messages.length }, 'batch published and acknowledged');
    },
  });

  let unwatchLag: (() => void) | undefined;

  return {
    get isLeader() {
      return subscription.isLeader;
    },
    checkpoint: () => subscription.checkpoint(),
    async start() {
      await subscription.start();
      unwatchLag = watchRelayLag(name, async () => (subscription.isLeader ? subscription.lag() : undefined));
    },
    async stop() {
      unwatchLag?.();
      await subscription.stop();
    },
  };
}
