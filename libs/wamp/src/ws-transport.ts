/**
 * The services' WAMP transport: autobahn's WebSocket transport rebuilt on `ws` (the package the
 * router already uses) instead of Node's built-in WebSocket, for one reason: every WAMP message is a
 * WebSocket frame of its own, and the built-in client makes each frame a write system call of its own.
 * A service answering a batch of calls, or a relay publishing to many users, sent hundreds per tick;
 * here the TCP socket is corked until the tick ends, so they leave in one writev. It speaks
 * wamp.2.json only (what the router and Crossbar's config offer the services), and reports closes in
 * the shape autobahn's connection expects ({code, reason, wasClean}).
 */
import { createRequire } from 'node:module';
import WebSocket from 'ws';

interface AutobahnTransport {
  protocol: string | undefined;
  serializer: { SERIALIZER_ID: string } | undefined;
  info: { type: string; url: string; protocol: string | null };
  onmessage: (message: unknown) => void;
  onopen: () => void;
  onclose: (details: { code: number; reason: string; wasClean: boolean }) => void;
  send: (message: unknown) => void;
  close: (code?: number, reason?: string) => void;
}

interface TransportOptions {
  url: string;
  /** Largest frame accepted from the router, in bytes. */
  maxPayload?: number;
}

export const vecheTransportType = 'veche-ws';

class VecheWebSocketFactory {
  readonly type = 'websocket';
  private readonly options: TransportOptions;
  constructor(options: TransportOptions) {
    this.options = options;
    if (typeof options.url !== 'string') throw new TypeError('options.url must be a string');
  }

  create(): AutobahnTransport {
    const { url, maxPayload } = this.options;
    const socket = new WebSocket(url, ['wamp.2.json'], {
      perMessageDeflate: false,
      ...(maxPayload ? { maxPayload } : {}),
    });
    const transport: AutobahnTransport = {
      protocol: undefined,
      serializer: undefined,
      info: { type: 'websocket', url, protocol: null },
      onmessage: () => {},
      onopen: () => {},
      onclose: () => {},
      send: () => {},
      close: () => {},
    };
    // ws keeps its net.Socket as `_socket` (ws 8); corking it batches this tick's frames.
    const tcp = () =>
      (socket as unknown as { _socket?: { cork(): void; uncork(): void; destroyed: boolean } })._socket;
    let corked = false;
    const uncork = () => {
      corked = false;
      const raw = tcp();
      if (raw && !raw.destroyed) raw.uncork();
    };
    let closed = false;
    const reportClose = (code: number, reason: string) => {
      if (closed) return;
      closed = true;
      transport.onclose({ code, reason, wasClean: code !== 1006 });
    };
    // A refused or broken connection reports through 'close' (1006) after this; without a listener,
    // 'error' would end the process.
    socket.on('error', () => {});
    socket.on('open', () => {
      transport.protocol = socket.protocol;
      transport.info.protocol = socket.protocol;
      transport.serializer = { SERIALIZER_ID: 'json' };
      transport.onopen();
    });
    socket.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
      if (isBinary) {
        socket.close(1003, 'binary frame on wamp.2.json');
        return;
      }
      let message: unknown;
      try {
        const bytes = Buffer.isBuffer(data)
          ? data
          : Array.isArray(data)
            ? Buffer.concat(data)
            : Buffer.from(data);
        message = JSON.parse(bytes.toString('utf8'));
      } catch {
        socket.close(1007, 'invalid JSON');
        return;
      }
      transport.onmessage(message);
    });
    socket.on('close', (code: number, reason: Buffer) => reportClose(code, reason.toString('utf8')));
    transport.send = (message: unknown) => {
      if (socket.readyState !== WebSocket.OPEN) return;
      const raw = tcp();
      if (!corked && raw) {
        corked = true;
        raw.cork();
        process.nextTick(uncork);
      }
      socket.send(JSON.stringify(message));
    };
    transport.close = (code?: number, reason?: string) => {
      if (socket.readyState === WebSocket.CONNECTING) socket.terminate();
      else socket.close(code ?? 1000, reason);
    };
    return transport;
  }
}

let registered = false;

/** Makes the transport known to autobahn (once per process); connections name it by `vecheTransportType`. */
export function registerVecheTransport(): void {
  if (registered) return;
  const autobahn = createRequire(import.meta.url)('autobahn') as {
    transports: { register(name: string, factory: unknown): void };
  };
  autobahn.transports.register(vecheTransportType, VecheWebSocketFactory);
  registered = true;
}
