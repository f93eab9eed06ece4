/**
 * Every mail the mailer sends, as typed functions of their data: plain text and HTML, English and
 * Russian. Pure, so each is rendered and checked in unit tests. Links are built from the public URL;
 * notifications carry an unsubscribe link, security mail never does (it must reach the user anyway).
 */

export type Locale = 'en' | 'ru';

/** `ru`, `ru-RU`, `ru_UA` → Russian; anything else → English. */
export function pickLocale(tag: string | undefined): Locale {
  return tag && /^ru(?:[-_]|$)/i.test(tag) ? 'ru' : 'en';
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

export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

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
  const htmlOf = (block: Block): string => {
    if ('text' in block) return `<p>${escapeHtml(block.text).replaceAll('\n', '<br>')}</p>`;
    if ('link' in block) {
      return `<p><a href="${escapeHtml(block.link)}" style="display:inline-block;padding:10px 16px;background:#2d5fa6;color:#fff;text-decoration:none;border-radius:4px">${escapeHtml(block.label)}</a></p>`;
    }
    return `<p style="margin:0;color:#555"><strong>${escapeHtml(block.by)}</strong> · ${escapeHtml(block.where)}</p><blockquote style="margin:4px 0 16px;padding-left:12px;border-left:3px solid #ccc">${escapeHtml(block.quote).replaceAll('\n', '<br>')}</blockquote>`;
  };
  const footerText = footer.map(textOf).join('\n');
  const text = `${blocks.map(textOf).join('\n\n')}\n\n-- \n${footerText}\n`;
  const html = [
    '<!doctype html>',
    `<html lang="${locale}"><head><meta charset="utf-8"><title>${escapeHtml(subject)}</title></head>`,
    '<body style="font-family:sans-serif;line-height:1.5;color:#222;max-width:600px;margin:0 auto;padding:16px">',
    `<h2 style="color:#2d5fa6">${escapeHtml(brand.productName)}</h2>`,
    ...blocks.map(htmlOf),
    `<hr style="border:none;border-top:1px solid #ddd"><div style="font-size:12px;color:#777">${footer.map(htmlOf).join('')}</div>`,
    '</body></html>',
  ].join('\n');
  return { subject, text, html };
}

const securityFooter = (locale: Locale, brand: Brand): Block[] => [
  {
    text:
      locale === 'ru'
        ? `Это служебное письмо ${brand.productName} о безопасности вашей учётной записи; от таких писем нельзя отписаться.`
        : `This is a security message from ${brand.productName} about your account; it is sent regardless of notification settings.`,
  },
];

export interface VerifyEmailData {
  locale: Locale;
  displayName: string;
  token: string;
}

export function renderVerifyEmail(brand: Brand, data: VerifyEmailData): RenderedMail {
  const url = links.verifyEmail(brand, data.token);
  const ru = data.locale === 'ru';
  return layout(
    {
      locale: data.locale,
      brand,
      blocks: [
        { text: ru ? `Здравствуйте, ${data.displayName}!` : `Hello ${data.displayName},` },
        {
          text: ru
            ? `Подтвердите, пожалуйста, адрес электронной почты, чтобы закончить регистрацию в ${brand.productName}.`
            : `Please confirm your e-mail address to finish signing up for ${brand.productName}.`,
        },
        { link: url, label: ru ? 'Подтвердить адрес' : 'Confirm my address' },
        {
          text: ru
            ? 'Если вы не регистрировались, просто не обращайте внимания на это письмо.'
            : 'If you did not sign up, you can ignore this message.',
        },
      ],
      footer: securityFooter(data.locale, brand),
    },
    ru
      ? `${brand.productName}: подтвердите адрес почты`
      : `${brand.productName}: confirm your e-mail address`,
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
  const url = links.resetPassword(brand, data.token);
  const ru = data.locale === 'ru';
  const until = data.expiresAt ? formatTime(data.expiresAt, data.locale) : undefined;
  return layout(
    {
      locale: data.locale,
      brand,
      blocks: [
        { text: ru ? `Здравствуйте, ${data.displayName}!` : `Hello ${data.displayName},` },
        {
          text: ru
            ? `Кто-то (надеемся, вы) попросил сменить пароль в ${brand.productName}.`
            : `Someone (we hope you) asked to reset your ${brand.productName} password.`,
        },
        { link: url, label: ru ? 'Задать новый пароль' : 'Choose a new password' },
        ...(until ? [{ text: ru ? `Ссылка действует до ${until}.` : `The link works until ${until}.` }] : []),
        {
          text: ru
            ? 'Если вы не просили сменить пароль, ничего не делайте: пароль останется прежним.'
            : 'If you did not ask for this, do nothing: your password stays as it is.',
        },
      ],
      footer: securityFooter(data.locale, brand),
    },
    ru ? `${brand.productName}: смена пароля` : `${brand.productName}: reset your password`,
  );
}

export interface RegistrationAttemptData {
  locale: Locale;
  displayName: string;
}

/** To the owner of an address someone tried to register again: nothing was created; log in or reset. */
export function renderRegistrationAttempt(brand: Brand, data: RegistrationAttemptData): RenderedMail {
  const ru = data.locale === 'ru';
  return layout(
    {
      locale: data.locale,
      brand,
      blocks: [
        { text: ru ? `Здравствуйте, ${data.displayName}!` : `Hello ${data.displayName},` },
        {
          text: ru
            ? `Кто-то (возможно, вы) попытался зарегистрироваться в ${brand.productName} с этим адресом почты. У адреса уже есть учётная запись, поэтому новая не создана.`
            : `Someone (perhaps you) tried to sign up for ${brand.productName} with this e-mail address. It already has an account, so no new one was created.`,
        },
        { link: links.login(brand), label: ru ? 'Войти' : 'Log in' },
        {
          text: ru
            ? 'Если вы забыли пароль, задайте новый:'
            : 'If you forgot your password, choose a new one:',
        },
        { link: links.requestPasswordReset(brand), label: ru ? 'Сменить пароль' : 'Reset my password' },
        {
          text: ru
            ? 'Если это были не вы, ничего не делайте: ваша учётная запись не изменилась.'
            : 'If it was not you, do nothing: your account is unchanged.',
        },
      ],
      footer: securityFooter(data.locale, brand),
    },
    ru
      ? `${brand.productName}: попытка регистрации с вашим адресом`
      : `${brand.productName}: someone tried to sign up with your address`,
  );
}

export interface EmailChangeConfirmData {
  locale: Locale;
  displayName: string;
  newEmail: string;
  token: string;
}

export function renderEmailChangeConfirm(brand: Brand, data: EmailChangeConfirmData): RenderedMail {
  const url = links.confirmEmailChange(brand, data.token);
  const ru = data.locale === 'ru';
  return layout(
    {
      locale: data.locale,
      brand,
      blocks: [
        { text: ru ? `Здравствуйте, ${data.displayName}!` : `Hello ${data.displayName},` },
        {
          text: ru
            ? `Подтвердите, что ${data.newEmail} станет новым адресом вашей учётной записи ${brand.productName}.`
            : `Please confirm that ${data.newEmail} is to become the address of your ${brand.productName} account.`,
        },
        { link: url, label: ru ? 'Подтвердить новый адрес' : 'Confirm the new address' },
      ],
      footer: securityFooter(data.locale, brand),
    },
    ru
      ? `${brand.productName}: подтвердите новый адрес почты`
      : `${brand.productName}: confirm your new e-mail address`,
  );
}

export interface EmailChangeNoticeData {
  locale: Locale;
  displayName: string;
  newEmail: string;
}

export function renderEmailChangeNotice(brand: Brand, data: EmailChangeNoticeData): RenderedMail {
  const ru = data.locale === 'ru';
  return layout(
    {
      locale: data.locale,
      brand,
      blocks: [
        { text: ru ? `Здравствуйте, ${data.displayName}!` : `Hello ${data.displayName},` },
        {
          text: ru
            ? `Запрошена смена адреса почты вашей учётной записи ${brand.productName} на ${data.newEmail}. Адрес сменится, только когда новый будет подтверждён.`
            : `A change of your ${brand.productName} account's e-mail address to ${data.newEmail} was requested. It takes effect only once the new address is confirmed.`,
        },
        {
          text: ru
            ? 'Если это были не вы, смените пароль и напишите администратору сообщества.'
            : 'If this was not you, change your password and tell your community administrator.',
        },
      ],
      footer: securityFooter(data.locale, brand),
    },
    ru ? `${brand.productName}: смена адреса почты` : `${brand.productName}: e-mail address change requested`,
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
  const ru = data.locale === 'ru';
  const items = [...data.items].sort((a, b) => a.sentAt.localeCompare(b.sentAt));
  const first = items[0];
  if (!first) throw new Error('a chat notification needs at least one message');
  const where = (item: ChatNotificationItem): string =>
    item.roomKind === 'dm'
      ? ru
        ? 'личное сообщение'
        : 'direct message'
      : `#${item.roomName ?? item.roomId}${item.reason === 'mention' ? (ru ? ', упоминание' : ', mention') : ''}`;
  const subject =
    items.length === 1
      ? first.roomKind === 'dm'
        ? ru
          ? `${brand.productName}: новое сообщение от ${first.senderDisplayName}`
          : `${brand.productName}: new message from ${first.senderDisplayName}`
        : ru
          ? `${brand.productName}: ${first.senderDisplayName} упомянул(а) вас в #${first.roomName ?? first.roomId}`
          : `${brand.productName}: ${first.senderDisplayName} mentioned you in #${first.roomName ?? first.roomId}`
      : ru
        ? `${brand.productName}: ${items.length} непрочитанных сообщений`
        : `${brand.productName}: ${items.length} unread messages`;
  // One link per room, to its oldest unread message: the reader continues from there.
  const rooms = new Map<string, ChatNotificationItem>();
  for (const item of items) if (!rooms.has(item.roomId)) rooms.set(item.roomId, item);
  const blocks: Block[] = [
    { text: ru ? `Здравствуйте, ${data.displayName}!` : `Hello ${data.displayName},` },
    {
      text: ru
        ? items.length === 1
          ? 'Пока вас не было, вам написали:'
          : `Пока вас не было, вам написали ${items.length} сообщений:`
        : items.length === 1
          ? 'While you were away, you got a message:'
          : `While you were away, you got ${items.length} messages:`,
    },
    ...items.map((item) => ({
      quote: excerpt(item.text),
      by: item.senderDisplayName,
      where: `${where(item)}, ${formatTime(item.sentAt, data.locale)}`,
    })),
    ...[...rooms.values()].map((item) => ({
      link: links.room(brand, item.roomId, item.seq),
      label:
        item.roomKind === 'dm'
          ? ru
            ? `Ответить ${item.senderDisplayName}`
            : `Reply to ${item.senderDisplayName}`
          : ru
            ? `Открыть #${item.roomName ?? item.roomId}`
            : `Open #${item.roomName ?? item.roomId}`,
    })),
  ];
  const footer: Block[] = [
    {
      text: ru
        ? `Вы получили это письмо, потому что в ${brand.productName} включены уведомления по почте.`
        : `You received this because e-mail notifications are on in ${brand.productName}.`,
    },
    { link: links.settings(brand), label: ru ? 'Настройки уведомлений' : 'Notification settings' },
    { link: links.unsubscribe(brand, data.unsubscribeToken), label: ru ? 'Отписаться' : 'Unsubscribe' },
  ];
  return layout({ locale: data.locale, brand, blocks, footer }, subject);
}

/** A fixed, readable UTC time: the mailer does not know the reader's time zone. */
export function formatTime(iso: string, locale: Locale): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${new Intl.DateTimeFormat(locale === 'ru' ? 'ru-RU' : 'en-GB', {
    dateStyle: 'medium',
    timeStyle: 'short',
    timeZone: 'UTC',
  }).format(date)} UTC`;
}
