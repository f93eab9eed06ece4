/**
 * What arrives on `veche.user.<me>.logs` (new lines of my sources), handed to whichever logs screen
 * is open; nothing is kept when none is (the screen reads the latest page when it opens). Each time
 * the realtime session (re)joins, the open screen is told so it can read over /api what was published
 * while no session was there to receive it (a lost connection, a token refresh, a router restart).
 */
import type { LogRealtimeEvent } from '@veche/contracts';

const listeners = new Set<(event: LogRealtimeEvent) => void>();

export function emitLogEvent(event: Record<string, unknown>): void {
  if (event['type'] !== 'lines' && event['type'] !== 'source_deleted') return;
  for (const listener of listeners) listener(event as LogRealtimeEvent);
}

export function onLogEvent(listener: (event: LogRealtimeEvent) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

const rejoinListeners = new Set<() => void>();

export function emitLogRejoin(): void {
  for (const listener of rejoinListeners) listener();
}

export function onLogRejoin(listener: () => void): () => void {
  rejoinListeners.add(listener);
  return () => rejoinListeners.delete(listener);
}

/** The larger of two line ids (decimal strings, may outgrow 2^53). */
export function laterId(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return BigInt(a) >= BigInt(b) ? a : b;
}

/** Lines merged by id (decimal strings, may outgrow 2^53), oldest first, without duplicates. */
export function mergeLines<T extends { id: string }>(held: readonly T[], more: readonly T[]): T[] {
  const byId = new Map<string, T>();
  for (const line of held) byId.set(line.id, line);
  for (const line of more) byId.set(line.id, line);
  return [...byId.values()].sort((a, b) => {
    const x = BigInt(a.id);
    const y = BigInt(b.id);
    return x < y ? -1 : x > y ? 1 : 0;
  });
}
