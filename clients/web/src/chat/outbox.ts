/**
 * Messages written but not yet accepted by the server, kept across reloads and sent in order with
 * their idempotency keys, so a resend after a lost answer never posts twice. Pure apart from the
 * injected storage.
 */
export interface PendingMessage {
  idempotencyKey: string;
  roomId: string;
  text: string;
  replyTo?: string;
  attachments?: {
    attachmentId: string;
    filename: string;
    contentType: string;
    size: number;
    hasThumbnail: boolean;
  }[];
  createdAt: string;
  state: 'queued' | 'sending' | 'failed';
  error?: string;
}

export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

export function loadOutbox(storage: KeyValueStorage, userId: string): PendingMessage[] {
  try {
    const value = JSON.parse(storage.getItem(`veche.outbox.${userId}`) ?? '[]') as unknown;
    if (!Array.isArray(value)) return [];
    // A message caught mid-send by a reload goes out again (same key: the server dedupes).
    return (value as PendingMessage[]).map((p) => (p.state === 'sending' ? { ...p, state: 'queued' } : p));
  } catch {
    return [];
  }
}

export function saveOutbox(
  storage: KeyValueStorage,
  userId: string,
  outbox: readonly PendingMessage[],
): void {
  storage.setItem(`veche.outbox.${userId}`, JSON.stringify(outbox));
}

/** The next message to send: the oldest queued one, but none while one is in flight. */
export function nextToSend(outbox: readonly PendingMessage[]): PendingMessage | undefined {
  if (outbox.some((p) => p.state === 'sending')) return undefined;
  return outbox.find((p) => p.state === 'queued');
}

export function updatePending(
  outbox: readonly PendingMessage[],
  key: string,
  patch: Partial<PendingMessage> | undefined,
): PendingMessage[] {
  return patch === undefined
    ? outbox.filter((p) => p.idempotencyKey !== key)
    : outbox.map((p) => (p.idempotencyKey === key ? { ...p, ...patch } : p));
}
