/**
 * Appends to room streams with contiguous `seq`: every room command goes through here. Commands for one
 * room queue up while that room's previous append is in flight, then go out together as one append
 * (one optimistic expected version, `seq` filled in at build time), and the event store group-commits
 * the appends of different rooms into shared transactions. This is the chat's write path under load:
 * thousands of posts a second to one room cost a handful of transactions, not one each.
 */
import { isVecheError } from '@veche/errors';
import type { Kysely } from '@veche/db';
import type { AppendResult, EventMetadata, EventStore, NewEvent, RecordedEvent } from '@veche/event-store';
import type { Logger } from '@veche/log';
import { roomOutboxStream, roomStream, type ChatEvent } from './domain/events.ts';

export interface RoomCommand {
  /** The events, given the `seq` the first one takes; throw to refuse (only this command fails). */
  build(firstSeq: number): ChatEvent[];
  /** Events for the room's outbox stream, derived from the built ones, committed with them. */
  outbox?: (built: ChatEvent[]) => ChatEvent[];
  metadata: Partial<EventMetadata>;
}

interface Pending extends RoomCommand {
  resolve(events: RecordedEvent[]): void;
  reject(error: unknown): void;
}

export interface RoomWriter {
  /** Resolves with the recorded events of this command (empty when `build` returned none). */
  submit(roomId: string, command: RoomCommand): Promise<RecordedEvent[]>;
  /** Waits for every submitted command to settle. */
  drain(): Promise<void>;
}

export function createRoomWriter(options: {
  store: EventStore;
  /** For the explicit transaction of an append that also writes the room's outbox stream. */
  db: Kysely<unknown>;
  log: Logger;
  /** Most events in one merged append (default 2,000). */
  maxEvents?: number;
}): RoomWriter {
  const { store } = options;
  const log = options.log.child({ component: 'room-writer' });
  const maxEvents = options.maxEvents ?? 2_000;
  const queues = new Map<string, Pending[]>();
  const inFlight = new Set<string>();
  const versions = new Map<string, number>();
  let settling = 0;
  let drained: (() => void)[] = [];

  const versionOf = async (roomId: string): Promise<number> => {
    const known = versions.get(roomId);
    if (known !== undefined) return known;
    const version = await store.streamVersion(roomStream(roomId));
    versions.set(roomId, version);
    return version;
  };

  /** Builds each command's events from `version`; a command whose build throws is rejected alone. */
  function build(
    batch: Pending[],
    version: number,
  ): { kept: Pending[]; events: NewEvent[]; counts: number[]; outbox: NewEvent[] } {
    const kept: Pending[] = [];
    const events: NewEvent[] = [];
    const counts: number[] = [];
    const outbox: NewEvent[] = [];
    for (const item of batch) {
      try {
        const chatEvents = item.build(version + events.length + 1);
        const built = chatEvents.map((event) => ({ ...event, metadata: item.metadata }));
        const sideEvents = (item.outbox?.(chatEvents) ?? []).map((event) => ({
          ...event,
          metadata: item.metadata,
        }));
        kept.push(item);
        counts.push(built.length);
        events.push(...built);
        outbox.push(...sideEvents);
      } catch (error) {
        item.reject(error);
      }
    }
    return { kept, events, counts, outbox };
  }

  /**
   * Group-committed when the room's events are all there is; in one explicit transaction with the
   * outbox events otherwise (stream rows locked room first, then its outbox: always the same order).
   */
  function append(
    roomId: string,
    events: NewEvent[],
    outbox: NewEvent[],
    version: number,
  ): Promise<AppendResult> {
    if (outbox.length === 0) return store.append(roomStream(roomId), events, { expectedVersion: version });
    return options.db.transaction().execute(async (trx) => {
      const result = await store.append(roomStream(roomId), events, { expectedVersion: version, trx });
      await store.append(roomOutboxStream(roomId), outbox, { trx });
      return result;
    });
  }

  async function write(roomId: string, batch: Pending[]): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      const version = await versionOf(roomId);
      const { kept, events, counts, outbox } = build(batch, version);
      if (kept.length === 0) return;
      if (events.length === 0) {
        for (const item of kept) item.resolve([]);
        return;
      }
      try {
        const result = await append(roomId, events, outbox, version);
        versions.set(roomId, result.nextVersion);
        let offset = 0;
        kept.forEach((item, index) => {
          const count = counts[index] ?? 0;
          item.resolve(result.events.slice(offset, offset + count));
          offset += count;
        });
        return;
      } catch (error) {
        versions.delete(roomId);
        if (isVecheError(error, 'conflict') && attempt < 20) {
          // Another replica appended to this room: read its version again and rebuild the seqs.
          batch = kept;
          continue;
        }
        if (kept.length > 1) {
          // One command's data was refused (a duplicate idempotency key that raced): isolate it.
          log.warn({ err: error, roomId, commands: kept.length }, 'merged room append failed; one by one');
          for (const item of kept) await write(roomId, [item]);
          return;
        }
        for (const item of kept) item.reject(error);
        return;
      }
    }
  }

  function pump(roomId: string): void {
    if (inFlight.has(roomId)) return;
    const queue = queues.get(roomId);
    if (!queue || queue.length === 0) {
      queues.delete(roomId);
      return;
    }
    // Take commands up to the event budget (estimated one event per command; builds may add more).
    const batch = queue.splice(0, maxEvents);
    inFlight.add(roomId);
    write(roomId, batch)
      .catch((error: unknown) => {
        log.error({ err: error, roomId }, 'room append failed');
        for (const item of batch) item.reject(error);
      })
      .finally(() => {
        inFlight.delete(roomId);
        settling -= batch.length;
        if (settling === 0) {
          const waiters = drained;
          drained = [];
          for (const resolve of waiters) resolve();
        }
        pump(roomId);
      });
  }

  return {
    submit(roomId, command) {
      return new Promise<RecordedEvent[]>((resolve, reject) => {
        let queue = queues.get(roomId);
        if (!queue) queues.set(roomId, (queue = []));
        queue.push({ ...command, resolve, reject });
        settling += 1;
        pump(roomId);
      });
    },
    drain() {
      if (settling === 0) return Promise.resolve();
      return new Promise((resolve) => drained.push(resolve));
    },
  };
}
