/**
 * Every mail the mailer sends, as typed functions of their data: plain text and HTML, in every
 * language of `../i18n` (one catalogue per language). Pure, so each is rendered and checked in unit
 * tests. Links are built from the public URL; notifications carry an unsubscribe link, security mail
 * never does (it must reach the user anyway). The HTML is an Eta template with auto-escaping on:
 * nothing here escapes by hand.
 */
import { Eta } from 'eta/core';
import {
  catalogues,
  defaultLocale,
  isLocale,
  t,
  type Locale,
  type MessageKey,
  type Values,
} from '../i18n/index.ts';

export type { Locale };

/** A tag's primary language if the mailer has a catalogue for it (`ru`, `ru-RU`, `ru_UA` → `ru`), else English. */
export function pickLocale(tag: string | undefined): Locale {
  const primary = tag?.split(/[-_]/)[0]?.toLowerCase();
  return primary !== undefined && isLocale(primary) ? primary : defaultLocale;
}

export interface Brand {
  productName: string;
  /** Without a trailing slash, e.g. `https://veche.example.org`. */
  publicUrl: string;
}

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

export const links = {
  verifyEmail: (brand: Brand, token: string) =>
    `${base(brand)}/verify-email?token=${encodeURIComponent(token)}`,
  resetPassword: (brand: Brand, token: string) =>
    `${base(brand)}/reset-password?token=${encodeURIComponent(token)}`,
  login: (brand: Brand) => `${base(brand)}/login`,
  requestPasswordReset: (brand: Brand) => `${base(brand)}/reset-password`,
  confirmEmailChange: (brand: Brand, token: string) =>
    `${base(brand)}/confirm-email?token=${encodeURIComponent(token)}`,
  room: (brand: Brand, roomId: string, seq?: number) =>
    `${base(brand)}/rooms/${encodeURIComponent(roomId)}${seq === undefined ? '' : `?seq=${seq}`}`,
  unsubscribe: (brand: Brand, token: string) =>
    `${base(brand)}/unsubscribe?token=${encodeURIComponent(token)}`,
  settings: (brand: Brand) => `${base(brand)}/settings/notifications`,
  logSource: (brand: Brand, sourceId: string) => `${base(brand)}/logs/${encodeURIComponent(sourceId)}`,
};

const base = (brand: Brand): string => brand.publicUrl.replace(/\/+$/, '');

const eta = new Eta({ autoEscape: true, autoTrim: false });

/** Eta's own HTML escaping (`&<>"'`), for the dev sink's pages. */
export const escapeHtml = (text: string): string => eta.config.escapeFunction(text);

eta.loadTemplate(
  '@block',
  `<% const b = it.block %><% if ('text' in b) { %><p><% b.text.split('\\n').forEach((line, i) => { %><% if (i > 0) { %><br><% } %><%= line %><% }) %></p><% } else if ('link' in b) { %><p><a href="<%= b.link %>" style="display:inline-block;padding:10px 16px;background:#2d5fa6;color:#fff;text-decoration:none;border-radius:4px"><%= b.label %></a></p><% } else { %><p style="margin:0;color:#555"><strong><%= b.by %></strong> · <%= b.where %></p><blockquote style="margin:4px 0 16px;padding-left:12px;border-left:3px solid #ccc"><% b.quote.split('\\n').forEach((line, i) => { %><% if (i > 0) { %><br><% } %><%= line %><% }) %></blockquote><% } %>`,
);

const page = eta.compile(`<!doctype html>
<html lang="<%= it.locale %>"><head><meta charset="utf-8"><title><%= it.subject %></title></head>
<body style="font-family:sans-serif;line-height:1.5;color:#222;max-width:600px;margin:0 auto;padding:16px">
<h2 style="color:#2d5fa6"><%= it.productName %></h2>
<% for (const block of it.blocks) { %><%~ include('@block', { block }) %>
<% } %><hr style="border:none;border-top:1px solid #ddd"><div style="font-size:12px;color:#777"><% for (const block of it.footer) { %><%~ include('@block', { block }) %><% } %></div>
</body></html>`);

export interface Layout {
  locale: Locale;
  brand: Brand;
  /** Paragraphs of plain text; `{link}` entries become a button in HTML and a bare URL in text. */
  blocks: readonly Block[];
  footer: readonly Block[];
}

export type Block =
  { text: string } | { link: string; label: string } | { quote: string; by: string; where: string };

export function layout({ locale, brand, blocks, footer }: Layout, subject: string): RenderedMail {
  const textOf = (block: Block): string => {
    if ('text' in block) return block.text;
    if ('link' in block) return `${block.label}:\n${block.link}`;
    return `${block.by} (${block.where}):\n${block.quote
      .split('\n')
      .map((line) => `> ${line}`)
      .join('\n')}`;
  };
  const text = `${blocks.map(textOf).join('\n\n')}\n\n-- \n${footer.map(textOf).join('\n')}\n`;
  const html = eta.render(page, { locale, subject, productName: brand.productName, blocks, footer });
  return { subject, text, html };
}

const greeting = (locale: Locale, name: string): Block => ({ text: t(locale, 'mail.greeting', { name }) });

/** Whom a mail is written to. */
export interface Recipient {
  locale: Locale;
  displayName: string;
}

/** A message of the recipient's catalogue, the product's name filled in with `values`. */
type Say = (key: MessageKey, values?: Values) => string;

/**
 * A security mail: the greeting, the blocks `body` writes, and the security footer (no unsubscribe
 * link: it must reach the user anyway).
 */
function securityMail(
  brand: Brand,
  to: Recipient,
  subject: MessageKey,
  body: (say: Say) => Block[],
): RenderedMail {
  const { locale } = to;
  const say: Say = (key, values) => t(locale, key, { product: brand.productName, ...values });
  return layout(
    {
      locale,
      brand,
      blocks: [greeting(locale, to.displayName), ...body(say)],
      footer: [{ text: say('mail.securityFooter') }],
    },
    say(subject),
  );
}

export interface VerifyEmailData extends Recipient {
  token: string;
}

export function renderVerifyEmail(brand: Brand, data: VerifyEmailData): RenderedMail {
  return securityMail(brand, data, 'verify.subject', (say) => [
    { text: say('verify.intro') },
    { link: links.verifyEmail(brand, data.token), label: say('verify.button') },
    { text: say('verify.ignore') },
  ]);
}

export interface PasswordResetData extends Recipient {
  token: string;
  /** ISO 8601, when the link stops working. */
  expiresAt?: string | undefined;
}

export function renderPasswordReset(brand: Brand, data: PasswordResetData): RenderedMail {
  const until = data.expiresAt ? formatTime(data.expiresAt, data.locale) : undefined;
  return securityMail(brand, data, 'reset.subject', (say) => [
    { text: say('reset.intro') },
    { link: links.resetPassword(brand, data.token), label: say('reset.button') },
    ...(until ? [{ text: say('reset.until', { time: until }) }] : []),
    { text: say('reset.ignore') },
  ]);
}

export type RegistrationAttemptData = Recipient;

/** To the owner of an address someone tried to register again: nothing was created; log in or reset. */
export function renderRegistrationAttempt(brand: Brand, data: RegistrationAttemptData): RenderedMail {
  return securityMail(brand, data, 'registrationAttempt.subject', (say) => [
    { text: say('registrationAttempt.intro') },
    { link: links.login(brand), label: say('registrationAttempt.login') },
    { text: say('registrationAttempt.forgot') },
    { link: links.requestPasswordReset(brand), label: say('registrationAttempt.reset') },
    { text: say('registrationAttempt.notYou') },
  ]);
}

export interface EmailChangeConfirmData extends Recipient {
  newEmail: string;
  token: string;
}

export function renderEmailChangeConfirm(brand: Brand, data: EmailChangeConfirmData): RenderedMail {
  return securityMail(brand, data, 'emailChangeConfirm.subject', (say) => [
    { text: say('emailChangeConfirm.intro', { email: data.newEmail }) },
    { link: links.confirmEmailChange(brand, data.token), label: say('emailChangeConfirm.button') },
  ]);
}

export interface EmailChangeNoticeData extends Recipient {
  newEmail: string;
}

export function renderEmailChangeNotice(brand: Brand, data: EmailChangeNoticeData): RenderedMail {
  return securityMail(brand, data, 'emailChangeNotice.subject', (say) => [
    { text: say('emailChangeNotice.intro', { email: data.newEmail }) },
    { text: say('emailChangeNotice.notYou') },
  ]);
}

export interface ChatNotificationItem {
  roomId: string;
  roomKind: 'room' | 'dm';
  roomName?: string | undefined;
  seq: number;
  senderDisplayName: string;
  text: string;
  sentAt: string;
  reason: 'mention' | 'direct';
}

export interface ChatNotificationData extends Recipient {
  items: readonly ChatNotificationItem[];
  unsubscribeToken: string;
}

/** Longest excerpt of one message in a notification; the link leads to the rest. */
export const excerptLength = 300;

export function excerpt(text: string): string {
  const flat = text.trim();
  return flat.length > excerptLength ? `${flat.slice(0, excerptLength - 1)}…` : flat;
}

/** One message (immediately) or a digest of several, oldest first. */
export function renderChatNotification(brand: Brand, data: ChatNotificationData): RenderedMail {
  const { locale } = data;
  const product = brand.productName;
  const items = [...data.items].sort((a, b) => a.sentAt.localeCompare(b.sentAt));
  const first = items[0];
  if (!first) throw new Error('a chat notification needs at least one message');
  const roomOf = (item: ChatNotificationItem): string => item.roomName ?? item.roomId;
  const where = (item: ChatNotificationItem): string =>
    item.roomKind === 'dm'
      ? t(locale, 'chat.where.direct')
      : t(locale, item.reason === 'mention' ? 'chat.where.mention' : 'chat.where.room', {
          room: roomOf(item),
        });
  const subject =
    items.length === 1
      ? first.roomKind === 'dm'
        ? t(locale, 'chat.subject.direct', { product, sender: first.senderDisplayName })
        : t(locale, 'chat.subject.mention', { product, sender: first.senderDisplayName, room: roomOf(first) })
      : t(locale, 'chat.subject.digest', { product, count: items.length });
  // One link per room, to its oldest unread message: the reader continues from there.
  const rooms = new Map<string, ChatNotificationItem>();
  for (const item of items) if (!rooms.has(item.roomId)) rooms.set(item.roomId, item);
  const blocks: Block[] = [
    greeting(locale, data.displayName),
    {
      text:
        items.length === 1
          ? t(locale, 'chat.intro.one')
          : t(locale, 'chat.intro.several', { count: items.length }),
    },
    ...items.map((item) => ({
      quote: excerpt(item.text),
      by: item.senderDisplayName,
      where: `${where(item)}, ${formatTime(item.sentAt, locale)}`,
    })),
    ...[...rooms.values()].map((item) => ({
      link: links.room(brand, item.roomId, item.seq),
      label:
        item.roomKind === 'dm'
          ? t(locale, 'chat.reply', { sender: item.senderDisplayName })
          : t(locale, 'chat.open', { room: roomOf(item) }),
    })),
  ];
  const footer: Block[] = [
    { text: t(locale, 'chat.footer', { product }) },
    { link: links.settings(brand), label: t(locale, 'chat.settings') },
    { link: links.unsubscribe(brand, data.unsubscribeToken), label: t(locale, 'chat.unsubscribe') },
  ];
  return layout({ locale, brand, blocks, footer }, subject);
}

/** A fixed, readable UTC time: the mailer does not know the reader's time zone. */
export function formatTime(iso: string, locale: Locale): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${new Intl.DateTimeFormat(catalogues[locale]['format.intl'], {
    dateStyle: 'medium',
    timeStyle: 'short',
    timeZone: 'UTC',
  }).format(date)} UTC`;
}
