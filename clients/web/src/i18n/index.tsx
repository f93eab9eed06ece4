/**
 * English and Russian. Two typed dictionaries rather than an i18n library: the compiler checks that
 * Russian has every key, and Intl (in every browser) covers dates and plurals.
 */
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { en, type MessageKey } from './en.ts';
import { ru } from './ru.ts';
import { format } from './format.ts';

export type Locale = 'en' | 'ru';
export const locales: readonly Locale[] = ['en', 'ru'];
const dictionaries: Record<Locale, Record<MessageKey, string>> = { en, ru };
const storageKey = 'veche.locale';

export function initialLocale(): Locale {
  const saved = localStorage.getItem(storageKey);
  if (saved === 'en' || saved === 'ru') return saved;
  return navigator.language.toLowerCase().startsWith('ru') ? 'ru' : 'en';
}

export type Translate = (key: MessageKey, values?: Record<string, string | number>) => string;

interface I18n {
  locale: Locale;
  setLocale: (locale: Locale) => void;
  t: Translate;
  time: (iso: string) => string;
  dateTime: (iso: string) => string;
}

const I18nContext = createContext<I18n | undefined>(undefined);

export function I18nProvider({ children }: { children: ReactNode }) {
  const [locale, setLocaleState] = useState<Locale>(initialLocale);
  useEffect(() => {
    document.documentElement.lang = locale;
  }, [locale]);
  const setLocale = useCallback((next: Locale) => {
    localStorage.setItem(storageKey, next);
    setLocaleState(next);
  }, []);
  const value = useMemo<I18n>(() => {
    const timeFormat = new Intl.DateTimeFormat(locale, { hour: '2-digit', minute: '2-digit' });
    const dateTimeFormat = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' });
    const safe = (f: Intl.DateTimeFormat) => (iso: string) => {
      const date = new Date(iso);
      return Number.isNaN(date.getTime()) ? '' : f.format(date);
    };
    return {
      locale,
      setLocale,
      t: (key, values) => format(dictionaries[locale][key], values),
      time: safe(timeFormat),
      dateTime: safe(dateTimeFormat),
    };
  }, [locale, setLocale]);
  return <I18nContext value={value}>{children}</I18nContext>;
}

export function useI18n(): I18n {
  const value = useContext(I18nContext);
  if (!value) throw new Error('useI18n outside I18nProvider');
  return value;
}
