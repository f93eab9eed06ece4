/**
 * The mail of a fired log alert (`logs.alert_fired`), English and Russian: which alert, on which
 * source, how many lines matched in the window, a few of them, how many earlier firings the cool-down
 * held back, and a link to the source's logs screen. The owner stops these by disabling the alert
 * there, so no unsubscribe link: the alert is the subscription.
 */
import type { LogAlertFired } from '../events.ts';
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

const ruPlural = (n: number, one: string, few: string, many: string): string => {
  const rule = new Intl.PluralRules('ru').select(n);
  return rule === 'one' ? one : rule === 'few' ? few : many;
};

const lines = (n: number, locale: Locale): string =>
  locale === 'ru' ? `${n} ${ruPlural(n, 'строка', 'строки', 'строк')}` : `${n} ${n === 1 ? 'line' : 'lines'}`;

const times = (n: number, locale: Locale): string =>
  locale === 'ru' ? `${n} ${ruPlural(n, 'раз', 'раза', 'раз')}` : n === 1 ? 'once' : `${n} times`;

/** `300 s` → `5 min`; whole hours as hours. */
export function formatWindow(seconds: number, locale: Locale): string {
  const ru = locale === 'ru';
  if (seconds % 3600 === 0) return ru ? `${seconds / 3600} ч` : `${seconds / 3600} h`;
  if (seconds % 60 === 0) return ru ? `${seconds / 60} мин` : `${seconds / 60} min`;
  return ru ? `${seconds} с` : `${seconds} s`;
}

function describeFilter(alert: LogAlertFired, locale: Locale): string {
  const ru = locale === 'ru';
  const f = alert.filter;
  const parts = [
    f.q === undefined ? undefined : ru ? `текст «${f.q}»` : `text "${f.q}"`,
    f.severity === undefined ? undefined : ru ? `важность ≤ ${f.severity}` : `severity ≤ ${f.severity}`,
    f.fileName === undefined ? undefined : ru ? `файл ${f.fileName}` : `file ${f.fileName}`,
    f.hostname === undefined ? undefined : ru ? `хост ${f.hostname}` : `host ${f.hostname}`,
    f.senderIp === undefined ? undefined : ru ? `отправитель ${f.senderIp}` : `sender ${f.senderIp}`,
  ].filter((p): p is string => p !== undefined);
  if (parts.length === 0) return ru ? 'любая строка' : 'any line';
  return parts.join(', ');
}

export function renderLogAlert(brand: Brand, data: LogAlertMailData): RenderedMail {
  const { alert, locale } = data;
  const ru = locale === 'ru';
  const subject = ru
    ? `${brand.productName}: сработало оповещение «${alert.alertName}» (${alert.sourceName})`
    : `${brand.productName}: alert "${alert.alertName}" fired (${alert.sourceName})`;
  const window = formatWindow(alert.windowSeconds, locale);
  const blocks: Block[] = [
    { text: ru ? `Здравствуйте, ${data.displayName}!` : `Hello ${data.displayName},` },
    {
      text: ru
        ? `Оповещение «${alert.alertName}» на источнике «${alert.sourceName}» сработало: ${lines(alert.matches, locale)} за ${window} (порог: ${alert.threshold}; условие: ${describeFilter(alert, locale)}), с ${formatTime(alert.firstMatchAt, locale)} по ${formatTime(alert.lastMatchAt, locale)}.`
        : `Alert "${alert.alertName}" on source "${alert.sourceName}" fired: ${lines(alert.matches, locale)} within ${window} (threshold: ${alert.threshold}; search: ${describeFilter(alert, locale)}), from ${formatTime(alert.firstMatchAt, locale)} to ${formatTime(alert.lastMatchAt, locale)}.`,
    },
    ...(data.suppressed > 0
      ? [
          {
            text: ru
              ? `С прошлого письма оно срабатывало ещё ${times(data.suppressed, locale)}; чтобы не засыпать вас письмами, мы пишем не чаще раза в ${formatWindow(alert.coolDownSeconds, locale)}.`
              : `Since the previous mail it fired ${times(data.suppressed, locale)} more; to spare your inbox we write at most once every ${formatWindow(alert.coolDownSeconds, locale)}.`,
          },
        ]
      : []),
    ...alert.samples.map((sample) => ({
      quote: excerpt(sample.message),
      by: [sample.hostname, sample.fileName].filter((p) => p).join(' ') || (ru ? 'строка' : 'line'),
      where: formatTime(sample.createdAt, locale),
    })),
    { link: links.logSource(brand, alert.sourceId), label: ru ? 'Открыть журнал' : 'Open the logs' },
  ];
  const footer: Block[] = [
    {
      text: ru
        ? `Вы получили это письмо, потому что настроили оповещение в ${brand.productName}. Отключить или изменить его можно на странице журнала.`
        : `You received this because you set up this alert in ${brand.productName}. Disable or change it on the logs screen.`,
    },
  ];
  return layout({ locale, brand, blocks, footer }, subject);
}
