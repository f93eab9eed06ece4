/**
 * Prometheus metrics for a Veche process, with prom-client (the maintained Node client). One registry
 * per process; every family is declared here, once, so a name and its labels mean the same in every
 * service and on every dashboard. Libraries record into it (the bus, the event store), the service
 * kit serves it at GET /metrics and records each HTTP request. `service` is a default label set at
 * start (`setServiceName`).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'veche_' });

/** Labels every sample with the service's name (`gateway`, `chat`…); call once at start. */
export function setServiceName(service: string): void {
  registry.setDefaultLabels({ service });
}

/** The exposition text and its content type, for a GET /metrics handler. */
export async function exposition(): Promise<{ contentType: string; body: string }> {
  return { contentType: registry.contentType, body: await registry.metrics() };
}

// ---- HTTP ----------------------------------------------------------------------------------------
export const httpRequests = new Counter({
  name: 'veche_http_requests_total',
  help: 'HTTP requests answered, by method, route pattern and status code',
  labelNames: ['method', 'route', 'status'] as const,
  registers: [registry],
});

export const httpRequestDuration = new Histogram({
  name: 'veche_http_request_duration_seconds',
  help: 'Time to answer an HTTP request, by method and route pattern',
  labelNames: ['method', 'route'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

/** Records one answered request; `route` is the pattern (`/rooms/:roomId`), never the raw URL. */
export function recordHttpRequest(method: string, route: string, status: number, seconds: number): void {
  httpRequests.inc({ method, route, status: String(status) });
  httpRequestDuration.observe({ method, route }, seconds);
}

// ---- event store and outbox relay ----------------------------------------------------------------
export const eventsAppended = new Counter({
  name: 'veche_event_store_appended_events_total',
  help: 'Events appended to the event store',
  registers: [registry],
});

/** What each relay of this process reports as its lag when scraped (undefined: not leading now). */
const relayLagReaders = new Map<string, () => Promise<number | undefined>>();

export const relayLag = new Gauge({
  name: 'veche_outbox_relay_lag_events',
  help: 'Events committed to the log that the relay has not published yet (leader only)',
  labelNames: ['relay'] as const,
  registers: [registry],
  // Read when Prometheus scrapes, never on the relay's path: one indexed query per relay.
  async collect() {
    for (const [relay, read] of relayLagReaders) {
      const lag = await read().catch(() => undefined);
      if (lag === undefined) this.remove({ relay });
      else this.set({ relay }, lag);
    }
  },
});

/**
 * Reports `relay`'s lag on every scrape through `read` (a standby replica answers undefined, so only
 * the leader's series exists). Returns the function that stops reporting it.
 */
export function watchRelayLag(relay: string, read: () => Promise<number | undefined>): () => void {
  relayLagReaders.set(relay, read);
  return () => {
    if (relayLagReaders.get(relay) !== read) return;
    relayLagReaders.delete(relay);
    relayLag.remove({ relay });
  };
}

export const relayPublished = new Counter({
  name: 'veche_outbox_relay_published_events_total',
  help: 'Events the relay published to RabbitMQ and saw confirmed',
  labelNames: ['relay'] as const,
  registers: [registry],
});

// ---- bus consumers -------------------------------------------------------------------------------
export const consumerMessages = new Counter({
  name: 'veche_bus_consumer_messages_total',
  help: 'Messages a consumer finished with, by queue and outcome (handled, duplicate, retried, dead_lettered)',
  labelNames: ['queue', 'outcome'] as const,
  registers: [registry],
});

export const consumerRedeliveries = new Counter({
  name: 'veche_bus_consumer_redeliveries_total',
  help: 'Messages RabbitMQ delivered again (after a lost ack, a reconnect or a requeue)',
  labelNames: ['queue'] as const,
  registers: [registry],
});

export const consumerLag = new Gauge({
  name: 'veche_bus_consumer_lag_messages',
  help: 'Messages waiting in a consumer queue, unconsumed, when last checked',
  labelNames: ['queue'] as const,
  registers: [registry],
});

export type ConsumerOutcome = 'handled' | 'duplicate' | 'retried' | 'dead_lettered';

// ---- WAMP ----------------------------------------------------------------------------------------
export const wampPublications = new Counter({
  name: 'veche_wamp_publications_total',
  help: 'WAMP events published, by topic kind (the topic with its ids replaced: veche.user.*.rooms)',
  labelNames: ['topic'] as const,
  registers: [registry],
});

export const wampProcedureCalls = new Counter({
  name: 'veche_wamp_procedure_calls_total',
  help: 'WAMP calls this process answered as a callee, by procedure and outcome (ok, refused: a typed error, failed: internal)',
  labelNames: ['procedure', 'outcome'] as const,
  registers: [registry],
});

/** `veche.user.0190…-…​.rooms` → `veche.user.*.rooms`: topic kinds, not one series per user. */
export function topicKind(topic: string): string {
  return topic
    .split('.')
    .map((part) => (/[0-9]/.test(part) && part.length >= 8 ? '*' : part))
    .join('.');
}

export function recordWampPublication(topic: string): void {
  wampPublications.inc({ topic: topicKind(topic) });
}

// ---- mail ----------------------------------------------------------------------------------------
export const mailTransitions = new Counter({
  name: 'veche_mail_transitions_total',
  help: 'Mails entering a state (queued, sending, sent, deferred, failed, suppressed)',
  labelNames: ['state'] as const,
  registers: [registry],
});

// ---- presence (presence-router) ------------------------------------------------------------------
export const presenceConnections = new Gauge({
  name: 'veche_presence_connections',
  help: 'Open presence connections, by transport (pubsub: the seed WebSocket; wamp: /ws sessions)',
  labelNames: ['transport'] as const,
  registers: [registry],
});

// ---- syslog (log-listener) -----------------------------------------------------------------------
export const syslogLines = new Counter({
  name: 'veche_syslog_lines_total',
  help: 'Syslog lines received, by outcome (stored, or dropped: over the rate or size limit, unparsable, unknown source)',
  labelNames: ['outcome'] as const,
  registers: [registry],
});
