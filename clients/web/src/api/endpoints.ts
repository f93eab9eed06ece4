/** The `/api` calls the client makes, named for what they do; types come from the contracts. */
import { request } from './http.ts';
import { call } from './routes.ts';
import type { Attachment, NotifyPreference } from './types.ts';

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
