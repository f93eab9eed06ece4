/**
 * Every mail the mailer sends, as typed functions of their data: plain text and HTML, in every
 * language of `../i18n` (one catalogue per language). Pure, so each is rendered and checked in unit
 * tests. Links are built from the public URL; notifications carry an unsubscribe link, security mail
 * never does (it must reach the user anyway). The HTML is an Eta template with auto-escaping on:
 * nothing here escapes by hand.
 */
import { Eta } from 'eta/core';
import { catalogues, defaultLocale, isLocale, t, type Locale } from '../i18n/index.ts';

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

const securityFooter = (locale: Locale, brand: Brand): Block[] => [
  { text: t(locale, 'mail.securityFooter', { product: brand.productName }) },
];

export interface VerifyEmailData {
  locale: Locale;
  displayName: string;
  token: string;
}

export function renderVerifyEmail(brand: Brand, data: VerifyEmailData): RenderedMail {
  const { locale } = data;
  const product = brand.productName;
  return layout(
    {
      locale,
      brand,
      blocks: [
        greeting(locale, data.displayName),
        { text: t(locale, 'verify.intro', { product }) },
        { link: links.verifyEmail(brand, data.token), label: t(locale, 'verify.button') },
        { text: t(locale, 'verify.ignore') },
      ],
      footer: securityFooter(locale, brand),
    },
    t(locale, 'verify.subject', { product }),
  );
}

export interface PasswordResetData {
  locale: Locale;
  displayName: string;
  token: string;
  /** ISO 8601, when the link stops working. */
  expiresAt?: string | undefined;
}

export function renderPasswordReset(brand: Brand, data: PasswordResetData): RenderedMail {
  const { locale } = data;
  const product = brand.productName;
  const until = data.expiresAt ? formatTime(data.expiresAt, locale) : undefined;
  return layout(
    {
      locale,
      brand,
      blocks: [
        greeting(locale, data.displayName),
        { text: t(locale, 'reset.intro', { product }) },
        { link: links.resetPassword(brand, data.token), label: t(locale, 'reset.button') },
        ...(until ? [{ text: t(locale, 'reset.until', { time: until }) }] : []),
        { text: t(locale, 'reset.ignore') },
      ],
      footer: securityFooter(locale, brand),
    },
    t(locale, 'reset.subject', { product }),
  );
}

export interface RegistrationAttemptData {
  locale: Locale;
  displayName: string;
}

/** To the owner of an address someone tried to register again: nothing was created; log in or reset. */
export function renderRegistrationAttempt(brand: Brand, data: RegistrationAttemptData): RenderedMail {
  const { locale } = data;
  const product = brand.productName;
  return layout(
    {
      locale,
      brand,
      blocks: [
        greeting(locale, data.displayName),
        { text: t(locale, 'registrationAttempt.intro', { product }) },
        { link: links.login(brand), label: t(locale, 'registrationAttempt.login') },
        { text: t(locale, 'registrationAttempt.forgot') },
        { link: links.requestPasswordReset(brand), label: t(locale, 'registrationAttempt.reset') },
        { text: t(locale, 'registrationAttempt.notYou') },
      ],
      footer: securityFooter(locale, brand),
    },
    t(locale, 'registrationAttempt.subject', { product }),
  );
}

export interface EmailChangeConfirmData {
  locale: Locale;
  displayName: string;
  newEmail: string;
  token: string;
}

export function renderEmailChangeConfirm(brand: Brand, data: EmailChangeConfirmData): RenderedMail {
  const { locale } = data;
  const product = brand.productName;
  return layout(
    {
      locale,
      brand,
      blocks: [
        greeting(locale, data.displayName),
        { text: t(locale, 'emailChangeConfirm.intro', { product, email: data.newEmail }) },
        { link: links.confirmEmailChange(brand, data.token), label: t(locale, 'emailChangeConfirm.button') },
      ],
      footer: securityFooter(locale, brand),
    },
    t(locale, 'emailChangeConfirm.subject', { product }),
  );
}

export interface EmailChangeNoticeData {
  locale: Locale;
  displayName: string;
  newEmail: string;
}

export function renderEmailChangeNotice(brand: Brand, data: EmailChangeNoticeData): RenderedMail {
  const { locale } = data;
  const product = brand.productName;
  return layout(
    {
      locale,
      brand,
      blocks: [
        greeting(locale, data.displayName),
        { text: t(locale, 'emailChangeNotice.intro', { product, email: data.newEmail }) },
        { text: t(locale, 'emailChangeNotice.notYou') },
      ],
      footer: securityFooter(locale, brand),
    },
    t(locale, 'emailChangeNotice.subject', { product }),
  );
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

export interface ChatNotificationData {
  locale: Locale;
  displayName: string;
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
