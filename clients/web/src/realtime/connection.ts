/**
 * The browser's WAMP session on `/ws`: ticket = the current access token, authid = the user's id,
 * reconnection with growing, jittered delay (autobahn's own retry loop, never giving up), and the
 * user's topics subscribed again on every join. The browser's offline/online events close and reopen
 * it at once instead of waiting for a dead socket to time out.
 */
import type autobahn from 'autobahn';

// autobahn (with its crypto and promise libraries) is loaded only once someone signs in, so the
// first screen stays small.
let library: Promise<typeof autobahn> | undefined;
const loadAutobahn = () => (library ??= import('autobahn').then((m) => m.default));

export type RealtimeStatus = 'connecting' | 'open' | 'offline';

export interface RealtimeOptions {
  userId: string;
  realm?: string;
  ticket: () => Promise<string | undefined>;
  /** Called with each topic's kwargs (or first positional argument). */
  onEvent: (stream: string, event: Record<string, unknown>) => void;
  /** Each time a session (re)joins: the caller catches up over /api. */
  onJoin: () => void;
  onStatus: (status: RealtimeStatus) => void;
  /** The router refused our ticket: the caller refreshes or ends the session. */
  onAuthFailed: () => void;
  streams?: readonly string[];
}

export function wsUrl(location: Location): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
}

export function startRealtime(options: RealtimeOptions) {
  const streams = options.streams ?? ['rooms', 'account', 'presence'];
  let connection: autobahn.Connection | undefined;
  let stopped = false;

  let opening = false;
  function open() {
    if (opening) return;
    opening = true;
    options.onStatus(navigator.onLine ? 'connecting' : 'offline');
    loadAutobahn().then(
      (lib) => {
        opening = false;
        if (!stopped && !connection && navigator.onLine) connect(lib);
      },
      () => {
        opening = false;
        // The chunk could not be fetched (offline at sign-in): the next online event tries again.
        options.onStatus('offline');
      },
    );
  }

  function connect(lib: typeof autobahn) {
    // JSON only, stated rather than left to autobahn's defaults (its binary serializers are stubbed out).
    const { JSONSerializer } = (lib as unknown as { serializer: { JSONSerializer: new () => unknown } })
      .serializer;
    const connectionOptions: autobahn.IConnectionOptions & { serializers: unknown[] } = {
      serializers: [new JSONSerializer()],
      url: wsUrl(window.location),
      realm: options.realm ?? 'veche',
      authmethods: ['ticket'],
      authid: options.userId,
      // autobahn accepts a promise here (it wraps the result); its types name its own promise class.
      onchallenge: (() => options.ticket().then((t) => t ?? '')) as unknown as () => string,
      max_retries: -1,
      initial_retry_delay: 0.5,
      max_retry_delay: 15,
      retry_delay_growth: 1.7,
      retry_delay_jitter: 0.3,
      use_es6_promises: true,
    };
    const conn = new lib.Connection(connectionOptions);
    conn.onopen = (session) => {
      attempts = 0;
      for (const stream of streams) {
        const topic = `veche.user.${options.userId}.${stream}`;
        session
          .subscribe(topic, (args, kwargs) => {
            const named = kwargs as Record<string, unknown> | undefined;
            const event: unknown =
              named && Object.keys(named).length > 0 ? named : (args as unknown[] | undefined)?.[0];
            if (event && typeof event === 'object') options.onEvent(stream, event as Record<string, unknown>);
          })
          .catch(() => {
            // A refused subscription (policy) leaves the others working; catch-up covers the rest.
          });
      }
      options.onStatus('open');
      options.onJoin();
    };
    conn.onclose = (reason, details) => {
      // Closed by us (offline, restart, stop): nothing to do.
      if (stopped || connection !== conn) return true;
      options.onStatus(navigator.onLine ? 'connecting' : 'offline');
      if (reason !== 'closed') return false; // lost: autobahn's own retry loop goes on
      // autobahn gave up: the router refused the ticket (expired, or its authenticator not back yet
      // after a restart) or said goodbye. Refresh the token when that was the reason, then start over.
      const message = (details as { reason?: string; message?: string } | undefined) ?? {};
      if (/authenticat|ticket|not.authorized/i.test(`${message.reason ?? ''} ${message.message ?? ''}`)) {
        options.onAuthFailed();
      }
      connection = undefined;
      scheduleReopen();
      return true;
    };
    connection = conn;
    conn.open();
  }

  let reopenTimer: number | undefined;
  let attempts = 0;
  /** Our own backoff (1 s doubling to 30 s, jittered) for when autobahn's loop has stopped. */
  function scheduleReopen() {
    window.clearTimeout(reopenTimer);
    if (stopped || !navigator.onLine) return;
    const delay = Math.min(30_000, 1_000 * 2 ** attempts) * (0.7 + Math.random() * 0.6);
    attempts += 1;
    reopenTimer = window.setTimeout(() => {
      if (!stopped && !connection) open();
    }, delay);
  }

  function close() {
    const conn = connection;
    connection = undefined;
    if (conn?.isOpen || conn?.isRetrying) conn.close();
  }

  const goOffline = () => {
    close();
    options.onStatus('offline');
  };
  const goOnline = () => {
    if (!stopped && !connection) open();
  };
  window.addEventListener('offline', goOffline);
  window.addEventListener('online', goOnline);
  if (navigator.onLine) open();
  else options.onStatus('offline');

  return {
    /** Reconnect now with a fresh ticket (after a refresh that followed a refused ticket). */
    restart() {
      close();
      if (navigator.onLine) open();
    },
    stop() {
      stopped = true;
      window.clearTimeout(reopenTimer);
      window.removeEventListener('offline', goOffline);
      window.removeEventListener('online', goOnline);
      close();
    },
  };
}
