/** The `/api` calls the client makes, named for what they do; types come from the contracts. */
import { request } from './http.ts';
import { call } from './routes.ts';
import type {
  Attachment,
  GroupRule,
  NotifyPreference,
  PresenceStatusCode,
  PrivacyRules,
  Tokens,
} from './types.ts';
import type { LogAlertFilter } from '@veche/contracts';

const enc = encodeURIComponent;

export const auth = {
  register: (body: {
    email: string;
    password: string;
    displayName: string;
    locale?: 'en' | 'ru';
    timeZone?: string;
  }) => call('POST', '/auth/register', body, { auth: false }),
  verify: (token: string) => call('POST', '/auth/verify', { token }, { auth: false }),
  resendVerification: (email: string) => call('POST', '/auth/verify/resend', { email }, { auth: false }),
  login: (body: { email: string; password: string; device?: string }) =>
    call('POST', '/auth/login', body, { auth: false }),
  /**
   * Kerberos: the browser answers the gateway's `WWW-Authenticate: Negotiate` with its SPNEGO token
   * by itself (for servers its policy allows), so the request carries nothing of ours.
   */
  negotiate: () => request<Tokens>('POST', '/auth/negotiate', { auth: false }),
  refresh: (refreshToken: string) => call('POST', '/auth/refresh', { refreshToken }, { auth: false }),
  logout: () => call('POST', '/auth/logout'),
  logoutAll: () => call('POST', '/auth/logout-all'),
  requestReset: (email: string) => call('POST', '/auth/password-reset', { email }, { auth: false }),
  confirmReset: (token: string, password: string) =>
    call('POST', '/auth/password-reset/confirm', { token, password }, { auth: false }),
};

export const account = {
  me: () => call('GET', '/me'),
  updateProfile: (body: { displayName?: string; locale?: 'en' | 'ru'; timeZone?: string }) =>
    call('PATCH', '/me', body),
  sessions: async () => (await call('GET', '/me/sessions')).sessions,
  revokeSession: (sessionId: string) => call('DELETE', '/me/sessions/:sessionId', { sessionId }),
  searchUsers: async (q: string) => (await call('GET', '/users', { q, limit: 10 })).users,
  setNotifications: (emailNotifications: NotifyPreference) =>
    call('PUT', '/me/notifications', { emailNotifications }),
  unsubscribe: (token: string) => call('POST', '/mail/unsubscribe', { token }, { auth: false }),
  confirmEmailChange: (token: string) => call('POST', '/me/email/confirm', { token }, { auth: false }),
};

export const chat = {
  rooms: async () => (await call('GET', '/rooms', {})).rooms,
  publicRooms: async () => (await call('GET', '/rooms', { scope: 'public' })).rooms,
  createRoom: (body: { name: string; visibility: 'public' | 'private'; topic?: string }) =>
    call('POST', '/rooms', body),
  join: (roomId: string) => call('POST', '/rooms/:roomId/join', { roomId }),
  leave: (roomId: string) => call('POST', '/rooms/:roomId/leave', { roomId }),
  invite: (roomId: string, userId: string) => call('POST', '/rooms/:roomId/invite', { roomId, userId }),
  openDm: (userId: string) => call('POST', '/dms', { userId }),
  members: async (roomId: string) => (await call('GET', '/rooms/:roomId/members', { roomId })).members,
  /** Newest first, before `before` (exclusive). */
  history: (roomId: string, before: number | undefined, limit = 50) =>
    call('GET', '/rooms/:roomId/messages', { roomId, limit, ...(before === undefined ? {} : { before }) }),
  /** Ascending, after `after` (exclusive): the catch-up direction. */
  after: (roomId: string, after: number, limit = 100) =>
    call('GET', '/rooms/:roomId/messages', { roomId, after, limit }),
  post: (
    roomId: string,
    body: { text: string; idempotencyKey: string; replyTo?: string; attachments?: string[] },
  ) => call('POST', '/rooms/:roomId/messages', { roomId, ...body }),
  edit: (roomId: string, messageId: string, text: string) =>
    call('PUT', '/rooms/:roomId/messages/:messageId', { roomId, messageId, text }),
  remove: (roomId: string, messageId: string) =>
    call('DELETE', '/rooms/:roomId/messages/:messageId', { roomId, messageId }),
  addReaction: (roomId: string, messageId: string, emoji: string) =>
    call('POST', '/rooms/:roomId/messages/:messageId/reactions', { roomId, messageId, emoji }),
  removeReaction: (roomId: string, messageId: string, emoji: string) =>
    call('DELETE', '/rooms/:roomId/messages/:messageId/reactions/:emoji', { roomId, messageId, emoji }),
  receipts: async (roomId: string) => (await call('GET', '/rooms/:roomId/receipts', { roomId })).receipts,
  markReceipts: (roomId: string, body: { deliveredUpTo?: number; readUpTo?: number }) =>
    call('POST', '/rooms/:roomId/receipts', { roomId, ...body }),
  typing: (roomId: string, typing: boolean) => call('POST', '/rooms/:roomId/typing', { roomId, typing }),
  sync: async () => (await call('GET', '/sync')).rooms,
  search: async (q: string, roomId?: string) =>
    (await call('GET', '/search', { q, limit: 30, ...(roomId ? { roomId } : {}) })).results,
  /** Streamed route (multipart field `file`): not an RPC route, so it goes through `request` directly. */
  upload: (roomId: string, file: File) => {
    const form = new FormData();
    form.append('file', file, file.name);
    return request<Attachment>('POST', `/rooms/${enc(roomId)}/attachments`, { raw: form });
  },
  attachmentPath: (roomId: string, attachmentId: string, thumbnail = false) =>
    `/rooms/${enc(roomId)}/attachments/${enc(attachmentId)}${thumbnail ? '/thumbnail' : ''}`,
};

export const presence = {
  mine: () => call('GET', '/presence/status'),
  /** A status that stays until changed; `null` goes back to the automatic one. */
  choose: (status: PresenceStatusCode | null) =>
    status === null ? call('DELETE', '/presence/status') : call('PUT', '/presence/status', { status }),
  activity: () => call('POST', '/presence/activity'),
  /** Subscribes (changes then arrive on veche.user.<me>.presence) and answers the current statuses. */
  watch: async (userIds: string[]) =>
    (await call('POST', '/presence/subscriptions', { subscribe: userIds })).statuses,
  statuses: async (userIds: string[]) =>
    (await call('GET', '/presence', { users: userIds.join(',') })).statuses,
  privacy: () => call('GET', '/presence/privacy'),
  setPrivacy: (rules: PrivacyRules) => call('PUT', '/presence/privacy', rules),
};

/** Presence groups and the rules between them (administrators only); each answers the whole policy. */
export const presenceAdmin = {
  groups: () => call('GET', '/presence/groups'),
  setGroup: (name: string, members: string[]) => call('PUT', '/presence/groups/:name', { name, members }),
  deleteGroup: (name: string) => call('DELETE', '/presence/groups/:name', { name }),
  setRules: (rules: GroupRule[]) => call('PUT', '/presence/group-rules', { rules }),
};

/** Log sources and their lines (the log-listener). */
export const logs = {
  sources: async () => (await call('GET', '/logs/sources')).sources,
  create: (input: { name: string; timeZone: string; tls?: boolean; allowedIps?: string[] }) =>
    call('POST', '/logs/sources', input),
  remove: (sourceId: string) => call('DELETE', '/logs/sources/:sourceId', { sourceId }),
  source: (sourceId: string) => call('GET', '/logs/sources/:sourceId', { sourceId }),
  events: (
    sourceId: string,
    query: {
      before?: string;
      after?: string;
      /** The next page of a catch-up (`after`): the previous page's `cursor`. */
      cursor?: string;
      limit?: number;
      q?: string;
      severity?: number;
      senderIp?: string;
      fileName?: string;
      hostname?: string;
    },
  ) => call('GET', '/logs/sources/:sourceId/events', { sourceId, ...query }),
  alerts: async (sourceId: string) =>
    (await call('GET', '/logs/sources/:sourceId/alerts', { sourceId })).alerts,
  createAlert: (
    sourceId: string,
    input: {
      name: string;
      filter: LogAlertFilter;
      threshold: number;
      windowSeconds: number;
      coolDownSeconds: number;
    },
  ) => call('POST', '/logs/sources/:sourceId/alerts', { sourceId, ...input }),
  updateAlert: (sourceId: string, alertId: string, input: { enabled?: boolean }) =>
    call('PATCH', '/logs/sources/:sourceId/alerts/:alertId', { sourceId, alertId, ...input }),
  removeAlert: (sourceId: string, alertId: string) =>
    call('DELETE', '/logs/sources/:sourceId/alerts/:alertId', { sourceId, alertId }),
};
