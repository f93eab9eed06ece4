/**
 * The mail of a fired log alert (`logs.alert_fired`), in every language of `../i18n`: which alert, on which
 * source, how many lines matched in the window, a few of them, how many earlier firings the cool-down
 * held back, and a link to the source's logs screen. The owner stops these by disabling the alert
 * there, so no unsubscribe link: the alert is the subscription.
 */
import type { LogAlertFired } from '../events.ts';
import { plural, t } from '../i18n/index.ts';
import {
  excerpt,
  formatTime,
  layout,
  links,
  type Block,
  type Brand,
  type Locale,
  type RenderedMail,
} from './templates.ts';

export interface LogAlertMailData {
  locale: Locale;
  displayName: string;
  alert: LogAlertFired;
  /** Firings since the previous mail that the cool-down held back. */
  suppressed: number;
}

/** `300 s` → `5 min`; whole hours as hours. */
export function formatWindow(seconds: number, locale: Locale): string {
  if (seconds % 3600 === 0) return t(locale, 'logAlert.window.hours', { count: seconds / 3600 });
  if (seconds % 60 === 0) return t(locale, 'logAlert.window.minutes', { count: seconds / 60 });
  return t(locale, 'logAlert.window.seconds', { count: seconds });
}

function describeFilter(alert: LogAlertFired, locale: Locale): string {
  const f = alert.filter;
  const part = (key: Parameters<typeof t>[1], value: string | number | undefined): string | undefined =>
    value === undefined ? undefined : t(locale, key, { value });
  const parts = [
    part('logAlert.filter.text', f.q),
    part('logAlert.filter.severity', f.severity),
    part('logAlert.filter.file', f.fileName),
    part('logAlert.filter.host', f.hostname),
    part('logAlert.filter.sender', f.senderIp),
  ].filter((p): p is string => p !== undefined);
  if (parts.length === 0) return t(locale, 'logAlert.filter.any');
  return parts.join(', ');
}

export function renderLogAlert(brand: Brand, data: LogAlertMailData): RenderedMail {
  const { alert, locale } = data;
  const product = brand.productName;
  const names = { alert: alert.alertName, source: alert.sourceName };
  const blocks: Block[] = [
    { text: t(locale, 'mail.greeting', { name: data.displayName }) },
    {
      text: t(locale, 'logAlert.fired', {
        ...names,
        lines: plural(locale, 'logAlert.lines', alert.matches),
        window: formatWindow(alert.windowSeconds, locale),
        threshold: alert.threshold,
        filter: describeFilter(alert, locale),
        from: formatTime(alert.firstMatchAt, locale),
        to: formatTime(alert.lastMatchAt, locale),
      }),
    },
    ...(data.suppressed > 0
      ? [
          {
            text: t(locale, 'logAlert.suppressed', {
              times: plural(locale, 'logAlert.times', data.suppressed),
              coolDown: formatWindow(alert.coolDownSeconds, locale),
            }),
          },
        ]
      : []),
    ...alert.samples.map((sample) => ({
      quote: excerpt(sample.message),
      by: [sample.hostname, sample.fileName].filter((p) => p).join(' ') || t(locale, 'logAlert.sample'),
      where: formatTime(sample.createdAt, locale),
    })),
    { link: links.logSource(brand, alert.sourceId), label: t(locale, 'logAlert.open') },
  ];
  const footer: Block[] = [{ text: t(locale, 'logAlert.footer', { product }) }];
  return layout({ locale, brand, blocks, footer }, t(locale, 'logAlert.subject', { product, ...names }));
}
