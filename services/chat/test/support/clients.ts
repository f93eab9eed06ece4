/**
 * A user's realtime client, as a browser would hold one: joins the router with a ticket, subscribes to
 * `veche.user.<id>.rooms`, unpacks batched publications, and keeps every room event it received.
 * A kept publication is checked against the chat's realtime contract; `ofType` fails the test once one
 * did not match, so every test that reads realtime events also checks what chat publishes.
 */
import { Value } from '@sinclair/typebox/value';
import { RoomRealtimePublication } from '@veche/contracts';
import { connectWampClient } from '@veche/testing';

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
  /** Publications that did not match `RoomRealtimePublication`. */
  contractViolations: unknown[];
  close(): void;
}

export async function connectUser(
  url: string,
  userId: string,
  ticket: string,
  options: { keep?: boolean } = {},
): Promise<UserClient> {
  const keep = options.keep ?? true;
  const connection = await connectWampClient(url, userId, ticket);
  const client: UserClient = {
    userId,
    events: [],
    onEvent: undefined,
    onPublication: undefined,
    contractViolations: [],
    ofType: (type, roomId) => {
      if (client.contractViolations.length > 0)
        throw new Error(
          `realtime payloads outside the contract: ${JSON.stringify(client.contractViolations)}`,
        );
      return client.events.filter((e) => e.type === type && (roomId === undefined || e.roomId === roomId));
    },
    close: () => connection.close(),
  };
  await connection.session.subscribe(`veche.user.${userId}.rooms`, (_args, kwargs) => {
    if (keep && !Value.Check(RoomRealtimePublication, kwargs)) client.contractViolations.push(kwargs);
    const events = kwargs['type'] === 'batch' ? (kwargs['events'] as RoomEvent[]) : [kwargs as RoomEvent];
    for (const event of events) {
      if (keep) client.events.push(event);
      client.onEvent?.(event);
    }
    client.onPublication?.(events);
  });
  return client;
}
