/**
 * A user's realtime client, as a browser would hold one: joins the router with a ticket, subscribes to
 * `veche.user.<id>.rooms`, unpacks batched publications, and keeps every room event it received.
 */
import { createRequire } from 'node:module';

interface Session {
  subscribe(
    topic: string,
    handler: (args: unknown[], kwargs: Record<string, unknown>) => void,
  ): Promise<unknown>;
}
interface Connection {
  onopen: (session: Session) => void;
  onclose: (reason: string, details: Record<string, unknown>) => boolean;
  open(): void;
  close(): void;
}
const autobahn = createRequire(import.meta.url)('autobahn') as {
  Connection: new (options: Record<string, unknown>) => Connection;
  log: { warn: () => void };
};
autobahn.log.warn = () => {};

export interface RoomEvent {
  type: string;
  roomId: string;
  seq?: number;
  [key: string]: unknown;
}

export interface UserClient {
  userId: string;
  events: RoomEvent[];
  /** Called for every room event as it arrives (after it is recorded). */
  onEvent: ((event: RoomEvent) => void) | undefined;
  /** Called once per publication with its events (a batch or a single event). */
  onPublication: ((events: RoomEvent[]) => void) | undefined;
  ofType(type: string, roomId?: string): RoomEvent[];
  close(): void;
}

export function connectUser(
  url: string,
  userId: string,
  ticket: string,
  options: { keep?: boolean } = {},
): Promise<UserClient> {
  const keep = options.keep ?? true;
  return new Promise((resolve, reject) => {
    const connection = new autobahn.Connection({
      url,
      realm: 'veche',
      authmethods: ['ticket'],
      authid: userId,
      onchallenge: () => ticket,
      max_retries: 0,
      retry_if_unreachable: false,
    });
    const client: UserClient = {
      userId,
      events: [],
      onEvent: undefined,
      onPublication: undefined,
      ofType: (type, roomId) =>
        client.events.filter((e) => e.type === type && (roomId === undefined || e.roomId === roomId)),
      close: () => {
        try {
          connection.close();
        } catch {
          // already closed
        }
      },
    };
    connection.onopen = (session) => {
      session
        .subscribe(`veche.user.${userId}.rooms`, (_args, kwargs) => {
          const events =
            kwargs['type'] === 'batch' ? (kwargs['events'] as RoomEvent[]) : [kwargs as RoomEvent];
          for (const event of events) {
            if (keep) client.events.push(event);
            client.onEvent?.(event);
          }
          client.onPublication?.(events);
        })
        .then(() => resolve(client), reject);
    };
    connection.onclose = (reason) => {
      reject(new Error(`closed: ${reason}`));
      return true;
    };
    connection.open();
  });
}
