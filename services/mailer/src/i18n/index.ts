/**
 * The mailer's strings, one catalogue per language as in the web client (`clients/web/src/i18n`):
 * `en` is the reference, every other is typed against its keys, so a missing key fails the build.
 * A third language is one file beside these and one entry in `catalogues`.
 */
import { en, type MessageKey } from './en.ts';
import { ru } from './ru.ts';

export type { MessageKey };
export type Catalogue = Readonly<Record<MessageKey, string>>;

/** Every language the mailer writes in. */
export const catalogues = { en, ru } as const satisfies Record<string, Catalogue>;

export type Locale = keyof typeof catalogues;

export const isLocale = (tag: string): tag is Locale => Object.hasOwn(catalogues, tag);

export const locales: readonly Locale[] = Object.keys(catalogues).filter(isLocale);

export const defaultLocale: Locale = 'en';

export type Values = Readonly<Record<string, string | number>>;

/** Fills `{name}` placeholders; an unknown name stays visible rather than vanishing. */
export function format(template: string, values: Values = {}): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) =>
    Object.hasOwn(values, name) ? String(values[name]) : whole,
  );
}

/** The message `key` in `locale`, placeholders filled. */
export function t(locale: Locale, key: MessageKey, values?: Values): string {
  return format(catalogues[locale][key], values);
}

/** Keys with plural forms: `<base>.one`, `.few`, `.many`, `.other`. */
export type PluralKey = MessageKey extends infer K ? (K extends `${infer B}.other` ? B : never) : never;

/** `count` with the plural form its language's rules pick, `{count}` filled. */
export function plural(locale: Locale, base: PluralKey, count: number, values: Values = {}): string {
  const messages: Readonly<Record<string, string>> = catalogues[locale];
  const category = new Intl.PluralRules(catalogues[locale]['format.intl']).select(count);
  const template = messages[`${base}.${category}`] ?? catalogues[locale][`${base}.other`];
  return format(template, { ...values, count });
}
