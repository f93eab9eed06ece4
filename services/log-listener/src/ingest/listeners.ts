/**
 * Every registered source's syslog listener on this replica: one TCP server per source on its port
 * (TLS sources wrap each accepted socket once the sender's address passed), reconciled with the
 * `sources` table at start, on a timer and right after a local change, so listeners come back after a
 * restart and on every replica (ports are bound with SO_REUSEPORT: replicas on one host share them).
 * Each reconciliation also looks at the TLS certificate's files: a renewed pair is taken for the
 * connections that follow, without a restart (a pair that does not load keeps the previous one).
 *
 * Hostile senders cost nothing but their own connection: an address outside the source's list is
 * closed at once, silence beyond LOGS_IDLE_MS closes, keep-alive finds half-open peers, too many
 * connections on one source are dropped, every socket error is swallowed; all of it is counted.
 */
import { readFile, stat } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from '@veche/log';
import { allowList, plainAddress } from '../domain/addresses.ts';
import { decodeFrame, Framer, type Frame } from '../domain/framing.ts';
import { parseSyslogLine } from '../domain/syslog.ts';
import type { TlsMaterial } from '../env.ts';
import type { Writer } from './writer.ts';

export interface ListenedSource {
  sourceId: string;
  ownerId: string;
  port: number;
  tls: boolean;
  timeZone: string;
  allowedIps: string[];
}

export interface ListenersOptions {
  log: Logger;
  writer: Writer;
  bindHost: string;
  publicHost: string;
  tls: TlsMaterial | undefined;
  maxLineBytes: number;
  idleMs: number;
  maxConnectionsPerSource: number;
  /** The sources this replica should listen for now. */
  load(): Promise<ListenedSource[]>;
  syncMs: number;
}

interface Listener {
  source: ListenedSource;
  server: net.Server;
  connections: Set<net.Socket>;
  listening: boolean;
}

export interface Listeners {
  start(): Promise<void>;
  /** Reconciles now (after a local create or delete). */
  sync(): Promise<void>;
  /** Ports listening now, by source id. */
  readonly ports: ReadonlyMap<string, number>;
  readonly connectionCount: number;
  stop(): Promise<void>;
}

const noop = (): void => {};

export function createListeners(options: ListenersOptions): Listeners {
  const { writer } = options;
  const log = options.log.child({ component: 'syslog-listeners' });
  const listeners = new Map<string, Listener>();
  let secureContext = options.tls
    ? tls.createSecureContext({ cert: options.tls.cert, key: options.tls.key })
    : undefined;
  /** The certificate files' size and time as last loaded (empty: not looked at yet). */
  let tlsStamp = '';
  let timer: NodeJS.Timeout | undefined;
  let syncing: Promise<void> | undefined;
  let stopped = false;

  function onConnection(listener: Listener, raw: net.Socket, allowed: (ip: string) => boolean): void {
    raw.on('error', noop);
    const { source } = listener;
    const senderIp = plainAddress(raw.remoteAddress);
    if (!allowed(senderIp)) {
      writer.count(source.sourceId, 'rejected_connections');
      raw.destroy();
      return;
    }
    raw.setKeepAlive(true, 30_000);
    raw.setNoDelay(true);
    const socket: net.Socket =
      secureContext && source.tls ? new tls.TLSSocket(raw, { isServer: true, secureContext }) : raw;
    socket.on('error', noop);
    listener.connections.add(socket);
    const userId = `${options.publicHost}:${source.port}`;
    const framer = new Framer(options.maxLineBytes);
    const emit = (frame: Frame): void => {
      if (frame.bytes.length === 0) {
        writer.count(source.sourceId, 'dropped');
        return;
      }
      const receivedAt = Date.now();
      const { text, invalidUtf8 } = decodeFrame(frame);
      const parsed = parseSyslogLine(text, source.timeZone, receivedAt);
      writer.add({
        sourceId: source.sourceId,
        ownerId: source.ownerId,
        userId,
        receivedAt,
        createdAt: parsed.createdAt ?? receivedAt,
        senderIp,
        fileName: parsed.appName ?? '-',
        message: parsed.message,
        severity: parsed.severity,
        facility: parsed.facility,
        hostname: parsed.hostname,
        appName: parsed.appName,
        truncated: frame.truncated,
        invalidUtf8,
      });
    };
    socket.setTimeout(options.idleMs, () => {
      writer.count(source.sourceId, 'closed_connections');
      socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => {
      framer.push(chunk, emit);
      if (writer.isFull && !socket.isPaused()) {
        // While we hold the sender back, its silence is ours: the idle clock stops until we read again
        // (it closed busy senders whenever PostgreSQL was slower than the idle limit, losing what
        // they had sent).
        socket.pause();
        socket.setTimeout(0);
        writer.onDrain(() => {
          if (socket.destroyed) return;
          socket.setTimeout(options.idleMs);
          socket.resume();
        });
      }
    });
    socket.on('end', () => {
      framer.end(emit);
      socket.end();
    });
    socket.on('close', () => listener.connections.delete(socket));
  }

  async function open(source: ListenedSource): Promise<void> {
    if (source.tls && !secureContext) {
      log.error({ sourceId: source.sourceId }, 'a TLS source, but this replica has no LOGS_TLS_CERT_FILE');
      return;
    }
    let allowed: (ip: string) => boolean;
    try {
      allowed = allowList(source.allowedIps);
    } catch (error) {
      log.error({ err: error, sourceId: source.sourceId }, 'unusable allowed addresses; nobody may send');
      allowed = () => false;
    }
    const server = net.createServer({ noDelay: true });
    const listener: Listener = { source, server, connections: new Set(), listening: false };
    server.maxConnections = options.maxConnectionsPerSource;
    server.on('connection', (socket) => onConnection(listener, socket, allowed));
    server.on('drop', () => writer.count(source.sourceId, 'closed_connections'));
    server.on('error', (error) => log.error({ err: error, port: source.port }, 'syslog listener error'));
    listeners.set(source.sourceId, listener);
    await new Promise<void>((resolve) => {
      const failed = (error: Error): void => {
        log.error(
          { err: error, sourceId: source.sourceId, port: source.port },
          'cannot listen; retrying on the next sync',
        );
        listeners.delete(source.sourceId);
        resolve();
      };
      server.once('error', failed);
      server.listen({ host: options.bindHost, port: source.port, reusePort: true, backlog: 1024 }, () => {
        server.off('error', failed);
        listener.listening = true;
        resolve();
      });
    });
  }

  async function close(listener: Listener): Promise<void> {
    listeners.delete(listener.source.sourceId);
    const closed = new Promise<void>((resolve) => listener.server.close(() => resolve()));
    for (const socket of listener.connections) socket.destroy();
    await closed;
  }

  /** A changed certificate pair is loaded for the next connections; one that fails keeps the old. */
  async function reloadTls(): Promise<void> {
    const files = options.tls?.files;
    if (!files) return;
    let stamp: string;
    try {
      const [cert, key] = await Promise.all([stat(files.cert), stat(files.key)]);
      stamp = `${cert.size}:${cert.mtimeMs}:${key.size}:${key.mtimeMs}`;
    } catch (error) {
      log.warn({ err: error }, 'cannot read the TLS certificate files; keeping the loaded pair');
      return;
    }
    if (tlsStamp === '') tlsStamp = stamp;
    if (stamp === tlsStamp) return;
    try {
      const [cert, key] = await Promise.all([readFile(files.cert), readFile(files.key)]);
      secureContext = tls.createSecureContext({ cert, key });
      tlsStamp = stamp;
      log.info({ certFile: files.cert }, 'TLS certificate reloaded');
    } catch (error) {
      // Half-written (the key not yet renewed with the certificate): the next sync tries again.
      log.warn({ err: error }, 'the changed TLS certificate does not load; keeping the previous one');
    }
  }

  async function reconcile(): Promise<void> {
    if (stopped) return;
    await reloadTls();
    const wanted = await options.load();
    const wantedIds = new Set(wanted.map((s) => s.sourceId));
    for (const listener of [...listeners.values()]) {
      if (!wantedIds.has(listener.source.sourceId)) await close(listener);
    }
    for (const source of wanted) {
      if (!listeners.has(source.sourceId) && !stopped) await open(source);
    }
  }

  function sync(): Promise<void> {
    const next = (syncing ?? Promise.resolve()).then(reconcile, reconcile);
    syncing = next.catch((error: unknown) => log.error({ err: error }, 'listener sync failed'));
    return next;
  }

  function tick(): void {
    timer = setTimeout(() => {
      void sync()
        .catch(noop)
        .finally(() => {
          if (!stopped) tick();
        });
    }, options.syncMs);
  }

  return {
    async start() {
      await sync();
      tick();
    },
    sync,
    get ports() {
      return new Map(
        [...listeners.values()].filter((l) => l.listening).map((l) => [l.source.sourceId, l.source.port]),
      );
    },
    get connectionCount() {
      let n = 0;
      for (const l of listeners.values()) n += l.connections.size;
      return n;
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await syncing;
      // Stop accepting, let what senders already sent be read, then close.
      for (const listener of listeners.values()) listener.server.close();
      for (const listener of [...listeners.values()]) await close(listener);
    },
  };
}
