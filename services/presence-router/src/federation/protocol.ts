/**
 * The federation link's wire format (issue 20, ADR 0017): JSON text frames on a WebSocket that the
 * watching deployment opens to the watched one's `/pubsub/federation`, authenticated with an HMAC of
 * both domain names and the time under the secret both admins set.
 *
 * Watching side → watched side:
 *   {"type":"hello","checkpoint":C|null,"watch":[[user,viewer]…],"fresh":[[user,viewer]…]}
 *   {"type":"watch","add":[[user,viewer]…],"remove":[[user,viewer]…]}
 *   {"type":"history","id":n,"user":user,"viewer":viewer,"status":s?,"before":ISO?,"limit":n?}
 *     (on a connection of its own, without hello: a WAMP call on any replica asks it)
 * Watched side → watching side:
 *   {"type":"batch","changes":[{"u":user,"w":viewer,"s":status,"t":raw timestamp?}…],"checkpoint":C|null,"at":ISO|null}
 *   {"type":"history","id":n,"status":s,"changes":[{"status":s,"at":ISO}…],"hasMore":bool}
 * C is a position in the watched side's log; a batch that carries one covers every change up to it.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Checkpoint } from '@veche/event-store';
import type { PresenceStatusCode } from '@veche/contracts';

export const federationPath = '/pubsub/federation';

export type Pair = [user: string, viewer: string];

export interface Change {
  u: string;
  w: string;
  s: PresenceStatusCode;
  t?: string;
}

export interface HistoryQuery {
  user: string;
  viewer: string;
  status?: PresenceStatusCode;
  before?: string;
  limit?: number;
}

export type WatcherMessage =
  | { type: 'hello'; checkpoint: Checkpoint | null; watch: Pair[]; fresh: Pair[] }
  | { type: 'watch'; add: Pair[]; remove: Pair[] }
  | ({ type: 'history'; id: number } & HistoryQuery);

/** The watched side's answer to a history question, its own privacy rules applied. */
export interface HistoryAnswer {
  type: 'history';
  id: number;
  status: PresenceStatusCode;
  changes: { status: PresenceStatusCode; at: string }[];
  hasMore: boolean;
}

export interface BatchMessage {
  type: 'batch';
  changes: Change[];
  checkpoint: Checkpoint | null;
  /** When the newest event of the batch was recorded there. */
  at: string | null;
}

const idPattern = /^[A-Za-z0-9_-]{1,64}$/;
const isPair = (value: unknown): value is Pair =>
  Array.isArray(value) &&
  value.length === 2 &&
  typeof value[0] === 'string' &&
  typeof value[1] === 'string' &&
  idPattern.test(value[0]) &&
  idPattern.test(value[1]);
const pairs = (value: unknown, max: number): Pair[] | undefined =>
  Array.isArray(value) && value.length <= max && value.every(isPair) ? value : undefined;

const isCheckpoint = (value: unknown): value is Checkpoint =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as Checkpoint).transactionId === 'string' &&
  /^[0-9]{1,20}$/.test((value as Checkpoint).transactionId) &&
  Number.isSafeInteger((value as Checkpoint).globalPosition) &&
  (value as Checkpoint).globalPosition >= 0;

/** A watcher's message, or undefined when it is not one. */
export function parseWatcherMessage(text: string, maxPairs: number): WatcherMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const message = value as Record<string, unknown>;
  if (message['type'] === 'hello') {
    const watch = pairs(message['watch'], maxPairs);
    const fresh = pairs(message['fresh'], maxPairs);
    const checkpoint = message['checkpoint'];
    if (!watch || !fresh || (checkpoint !== null && !isCheckpoint(checkpoint))) return undefined;
    return { type: 'hello', checkpoint, watch, fresh };
  }
  if (message['type'] === 'watch') {
    const add = pairs(message['add'], maxPairs);
    const remove = pairs(message['remove'], maxPairs);
    if (!add || !remove) return undefined;
    return { type: 'watch', add, remove };
  }
  if (message['type'] === 'history') {
    const { id, user, viewer, status, before, limit } = message;
    if (
      !Number.isSafeInteger(id) ||
      typeof user !== 'string' ||
      !idPattern.test(user) ||
      typeof viewer !== 'string' ||
      !idPattern.test(viewer) ||
      (status !== undefined && !isStatus(status)) ||
      (before !== undefined && (typeof before !== 'string' || Number.isNaN(Date.parse(before)))) ||
      (limit !== undefined && (!Number.isInteger(limit) || (limit as number) < 1 || (limit as number) > 500))
    )
      return undefined;
    return {
      type: 'history',
      id: id as number,
      user,
      viewer,
      ...(status === undefined ? {} : { status: status as PresenceStatusCode }),
      ...(before === undefined ? {} : { before: new Date(before).toISOString() }),
      ...(limit === undefined ? {} : { limit: limit as number }),
    };
  }
  return undefined;
}

const isStatus = (value: unknown): boolean =>
  Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 8;

/** The watched side's answer to history question `id`, or undefined when the text is not one. */
export function parseHistoryAnswer(text: string, id: number): HistoryAnswer | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const answer = value as Partial<HistoryAnswer> | null;
  if (
    !answer ||
    answer.type !== 'history' ||
    answer.id !== id ||
    !isStatus(answer.status) ||
    typeof answer.hasMore !== 'boolean' ||
    !Array.isArray(answer.changes) ||
    answer.changes.length > 500 ||
    !answer.changes.every(
      (c) =>
        typeof c === 'object' &&
        c !== null &&
        isStatus(c.status) &&
        typeof c.at === 'string' &&
        !Number.isNaN(Date.parse(c.at)),
    )
  )
    return undefined;
  return {
    type: 'history',
    id,
    status: answer.status!,
    changes: answer.changes.map((c) => ({ status: c.status, at: new Date(c.at).toISOString() })),
    hasMore: answer.hasMore,
  };
}

/** A batch, or undefined when it is not one. */
export function parseBatch(text: string): BatchMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const message = value as Partial<BatchMessage> | null;
  if (!message || message.type !== 'batch' || !Array.isArray(message.changes)) return undefined;
  if (message.checkpoint !== null && !isCheckpoint(message.checkpoint)) return undefined;
  for (const change of message.changes as unknown[]) {
    const c = change as Partial<Change> | null;
    if (
      !c ||
      typeof c.u !== 'string' ||
      !idPattern.test(c.u) ||
      typeof c.w !== 'string' ||
      !idPattern.test(c.w) ||
      !Number.isInteger(c.s) ||
      (c.s as number) < 1 ||
      (c.s as number) > 8 ||
      (c.t !== undefined && (typeof c.t !== 'string' || c.t.length > 64))
    )
      return undefined;
  }
  return {
    type: 'batch',
    changes: message.changes,
    checkpoint: message.checkpoint ?? null,
    at: typeof message.at === 'string' ? message.at : null,
  };
}

const scheme = 'VecheFederation';
/** How far apart the two clocks and the request may be. */
export const federationSkewMs = 300_000;

function signature(secret: string, from: string, to: string, time: number): string {
  return createHmac('sha256', secret).update(`veche-federation\n${from}\n${to}\n${time}`).digest('hex');
}

/** The `Authorization` header `from` opens a link to `to` with. */
export function federationAuthorization(secret: string, from: string, to: string, now = Date.now()): string {
  return `${scheme} ${from} ${now} ${signature(secret, from, to, now)}`;
}

/** The domain claimed by an `Authorization` header (to look its secret up), before checking it. */
export function claimedDomain(header: string | undefined): string | undefined {
  const parts = header?.split(' ');
  return parts?.length === 4 && parts[0] === scheme ? parts[1] : undefined;
}

export function verifyFederationAuthorization(
  header: string,
  secret: string,
  to: string,
  now = Date.now(),
): boolean {
  const [name, from, time, mac] = header.split(' ');
  if (name !== scheme || !from || !time || !mac || !/^[0-9]{1,16}$/.test(time)) return false;
  if (Math.abs(now - Number(time)) > federationSkewMs) return false;
  const expected = Buffer.from(signature(secret, from, to, Number(time)));
  const given = Buffer.from(mac);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
