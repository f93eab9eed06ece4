/**
 * The logs screen: my log sources (register one, its set-up snippets and counters, delete it) and a
 * source's lines, newest at the bottom, followed live. Scrolled up, the tail pauses (new lines are
 * counted, not shown); back at the bottom it reads the latest page and goes on live without a gap or
 * a duplicate (lines that arrive meanwhile are merged by id). Scrolling to the top loads older pages.
 * Filters: text, severity, sender address, file and host; the current search can be saved as an
 * alert (a threshold per window; the owner is mailed when it fires).
 */
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import {
  severityNames,
  type LogAlert,
  type LogAlertFilter,
  type LogEvent,
  type LogSource,
} from '@veche/contracts';
import { logs } from '../api/endpoints.ts';
import { useI18n } from '../i18n/index.tsx';
import { laterId, mergeLines, onLogEvent, onLogRejoin } from '../logs/live.ts';
import { ErrorNote, useAction } from './common.tsx';
import { MenuButton } from './shell.tsx';

const pageSize = 200;
/** Lines kept on screen; older ones are dropped while following live (scrolling up reads them again). */
const maxHeld = 5_000;

const browserZone = (): string => {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || '+00:00';
  } catch {
    return '+00:00';
  }
};

export function LogsScreen() {
  const { t } = useI18n();
  const { sourceId } = useParams();
  const [sources, setSources] = useState<LogSource[]>();
  const load = useAction(async () => setSources(await logs.sources()));
  useEffect(() => {
    void load.run();
  }, [sourceId]);
  return (
    <section className="room logs-screen">
      <header className="room-head">
        <MenuButton />
        <div className="room-title">
          <h1>{t('logs.title')}</h1>
        </div>
      </header>
      <div className="logs-body">
        <aside className="logs-sources">
          <ul data-testid="log-sources">
            {sources?.map((s) => (
              <li key={s.sourceId}>
                <Link to={`/logs/${s.sourceId}`} aria-current={s.sourceId === sourceId ? 'page' : undefined}>
                  {s.name} <span className="muted small">{s.userId}</span>
                </Link>
              </li>
            ))}
          </ul>
          {sources && sources.length === 0 && <p className="muted">{t('logs.noSources')}</p>}
          <ErrorNote error={load.error} />
          <NewSource onCreated={() => void load.run()} />
        </aside>
        {sourceId && sources?.some((s) => s.sourceId === sourceId) && (
          <SourceView key={sourceId} source={sources.find((s) => s.sourceId === sourceId)!} />
        )}
      </div>
    </section>
  );
}

function NewSource({ onCreated }: { onCreated: () => void }) {
  const { t } = useI18n();
  const navigate = useNavigate();
  const [name, setName] = useState('');
  const [timeZone, setTimeZone] = useState(browserZone);
  const [tls, setTls] = useState(false);
  const [allowed, setAllowed] = useState('');
  const { busy, error, run } = useAction(async () => {
    const allowedIps = allowed.split(/[\s,]+/).filter(Boolean);
    const created = await logs.create({
      name: name.trim(),
      timeZone,
      tls,
      ...(allowedIps.length ? { allowedIps } : {}),
    });
    setName('');
    onCreated();
    void navigate(`/logs/${created.sourceId}`);
  });
  return (
    <form
      className="logs-new"
      onSubmit={(e) => {
        e.preventDefault();
        if (name.trim()) void run();
      }}
    >
      <h2>{t('logs.new')}</h2>
      <label>
        {t('logs.name')}
        <input value={name} onChange={(e) => setName(e.target.value)} required maxLength={100} />
      </label>
      <label>
        {t('logs.timeZone')}
        <input value={timeZone} onChange={(e) => setTimeZone(e.target.value)} required />
      </label>
      <label>
        {t('logs.allowedIps')}
        <input
          value={allowed}
          onChange={(e) => setAllowed(e.target.value)}
          placeholder="10.0.0.0/8, 192.0.2.7"
        />
      </label>
      <label className="checkbox">
        <input type="checkbox" checked={tls} onChange={(e) => setTls(e.target.checked)} /> {t('logs.tls')}
      </label>
      <button className="button button-primary" disabled={busy || !name.trim()}>
        {t('logs.create')}
      </button>
      <ErrorNote error={error} />
    </form>
  );
}

/** The applied filters: what the API is asked for, and what live lines are checked against. */
type Filters = LogAlertFilter;

function matches(line: LogEvent, f: Filters): boolean {
  if (f.severity !== undefined && (line.severity === null || line.severity > f.severity)) return false;
  if (f.senderIp !== undefined && line.senderIp !== f.senderIp) return false;
  if (f.fileName !== undefined && line.fileName !== f.fileName) return false;
  if (f.hostname !== undefined && line.hostname !== f.hostname) return false;
  return f.q === undefined || line.message.toLowerCase().includes(f.q.toLowerCase());
}

/** The form's texts as filters: blanks left out. */
function filtersOf(form: {
  q: string;
  severity: number | undefined;
  senderIp: string;
  fileName: string;
  hostname: string;
}): Filters {
  const f: Filters = {};
  if (form.q.trim()) f.q = form.q.trim();
  if (form.severity !== undefined) f.severity = form.severity;
  if (form.senderIp.trim()) f.senderIp = form.senderIp.trim();
  if (form.fileName.trim()) f.fileName = form.fileName.trim();
  if (form.hostname.trim()) f.hostname = form.hostname.trim();
  return f;
}

function SourceView({ source }: { source: LogSource }) {
  const { t, dateTime } = useI18n();
  const navigate = useNavigate();
  const [lines, setLines] = useState<LogEvent[]>([]);
  const [oldestReached, setOldestReached] = useState(false);
  const [paused, setPaused] = useState(false);
  const [missed, setMissed] = useState(0);
  const [q, setQ] = useState('');
  const [severity, setSeverity] = useState<number | undefined>(undefined);
  const [senderIp, setSenderIp] = useState('');
  const [fileName, setFileName] = useState('');
  const [hostname, setHostname] = useState('');
  const [applied, setApplied] = useState<Filters>({});
  const list = useRef<HTMLOListElement>(null);
  const atBottom = useRef(true);
  const resuming = useRef<LogEvent[] | undefined>(undefined);
  const keepOffset = useRef<number | undefined>(undefined);
  /** The newest line id this view has shown or counted as missed: where a catch-up starts. */
  const seenUpTo = useRef<string | undefined>(undefined);
  const filters = useCallback(() => ({ ...applied }), [applied]);

  /** The latest page, then whatever arrived while it was read: no gap, no duplicate. */
  const latest = useAction(async () => {
    resuming.current = [];
    try {
      const page = await logs.events(source.sourceId, { limit: pageSize, ...filters() });
      const arrived = resuming.current;
      const merged = mergeLines([...page.events].reverse(), arrived);
      seenUpTo.current = merged.at(-1)?.id;
      setLines(merged);
      setOldestReached(page.isOldestEventReached);
      setMissed(0);
      atBottom.current = true;
      setPaused(false);
    } finally {
      resuming.current = undefined;
    }
  });
  const older = useAction(async () => {
    if (oldestReached || lines.length === 0) return;
    const page = await logs.events(source.sourceId, { limit: pageSize, before: lines[0]!.id, ...filters() });
    keepOffset.current = (list.current?.scrollHeight ?? 0) - (list.current?.scrollTop ?? 0);
    setLines((held) => mergeLines([...page.events].reverse(), held));
    setOldestReached(page.isOldestEventReached);
  });

  useEffect(() => {
    void latest.run();
  }, [source.sourceId, applied]);

  /** New lines, live or caught up: shown at the bottom, counted while the user reads older ones. */
  const deliver = useCallback((fresh: readonly LogEvent[]) => {
    if (fresh.length === 0) return;
    if (resuming.current) {
      resuming.current.push(...fresh);
      return;
    }
    const before = seenUpTo.current;
    const unseen = before === undefined ? fresh : fresh.filter((line) => BigInt(line.id) > BigInt(before));
    for (const line of fresh) seenUpTo.current = laterId(seenUpTo.current, line.id);
    if (!atBottom.current) {
      // A caught-up line may have a lower id than the newest seen (committed late) or be one seen
      // already: not counted, but the view still reloads on return to the bottom.
      setMissed((n) => n + unseen.length || Math.max(n, 1));
      return;
    }
    setLines((held) => {
      const merged = mergeLines(held, fresh);
      return merged.length > maxHeld ? merged.slice(merged.length - maxHeld) : merged;
    });
  }, []);

  useEffect(
    () =>
      onLogEvent((event) => {
        if (event.sourceId !== source.sourceId) return;
        if (event.type === 'source_deleted') {
          void navigate('/logs');
          return;
        }
        deliver(event.events.filter((line) => matches(line, applied)));
      }),
    [source.sourceId, applied, navigate, deliver],
  );

  // Lines published while no realtime session was there to receive them are read over /api from the
  // newest one seen, a page at a time (a reading of the latest page is already doing it). They come in
  // commit order, lower ids included (a batch may commit after higher ids were shown): the next page
  // goes on from the previous page's cursor, not from the newest id.
  useEffect(
    () =>
      onLogRejoin(() => {
        void (async () => {
          let cursor: string | undefined;
          for (let page = 0; page < maxHeld / pageSize; page += 1) {
            const after = seenUpTo.current;
            if (resuming.current || after === undefined) return;
            const next = await logs.events(source.sourceId, {
              limit: pageSize,
              ...(cursor === undefined ? { after } : { cursor }),
              ...filters(),
            });
            deliver(next.events);
            if (next.events.length < pageSize || next.cursor === undefined) return;
            cursor = next.cursor;
          }
        })().catch(() => {
          // Offline again: the next join tries again.
        });
      }),
    [source.sourceId, filters, deliver],
  );

  useLayoutEffect(() => {
    const element = list.current;
    if (!element) return;
    if (keepOffset.current !== undefined) {
      element.scrollTop = element.scrollHeight - keepOffset.current;
      keepOffset.current = undefined;
    } else if (atBottom.current) {
      element.scrollTop = element.scrollHeight;
    }
  }, [lines]);

  const onScroll = () => {
    const element = list.current;
    if (!element) return;
    const bottom = element.scrollHeight - element.scrollTop - element.clientHeight < 8;
    if (bottom !== atBottom.current) {
      atBottom.current = bottom;
      if (bottom && missed > 0) void latest.run();
      else setPaused(!bottom);
    }
    if (element.scrollTop < 40 && !older.busy) void older.run();
  };

  const remove = useAction(async () => {
    if (!window.confirm(t('logs.deleteConfirm', { name: source.name }))) return;
    await logs.remove(source.sourceId);
    void navigate('/logs');
  });

  return (
    <div className="logs-source">
      <div className="logs-source-head">
        <h2>{source.name}</h2>
        <span className="muted small">
          {source.userId} · {source.tls ? 'TLS' : 'TCP'} · {source.timeZone}
        </span>
        <button type="button" className="button" onClick={() => void remove.run()} disabled={remove.busy}>
          {t('logs.delete')}
        </button>
      </div>
      <p className="muted small" data-testid="log-counters">
        {t('logs.counters', {
          received: source.counters.received,
          refused: source.counters.rejectedConnections,
          truncated: source.counters.truncated,
          invalid: source.counters.invalidUtf8,
          closed: source.counters.closedConnections,
        })}
      </p>
      <details className="logs-setup">
        <summary>{t('logs.setup')}</summary>
        <h3>rsyslog</h3>
        <pre>{source.setup.rsyslog}</pre>
        <h3>remote_syslog2</h3>
        <pre>{source.setup.remoteSyslog2}</pre>
      </details>
      <form
        className="logs-filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          setApplied(filtersOf({ q, severity, senderIp, fileName, hostname }));
        }}
      >
        <input
          type="search"
          aria-label={t('logs.search')}
          placeholder={t('logs.search')}
          value={q}
          onChange={(e) => setQ(e.target.value)}
        />
        <select
          aria-label={t('logs.severity')}
          value={severity ?? ''}
          onChange={(e) => setSeverity(e.target.value === '' ? undefined : Number(e.target.value))}
        >
          <option value="">{t('logs.anySeverity')}</option>
          {severityNames.map((name, code) => (
            <option key={name} value={code}>
              ≤ {name}
            </option>
          ))}
        </select>
        <input
          aria-label={t('logs.senderIp')}
          placeholder={t('logs.senderIp')}
          value={senderIp}
          onChange={(e) => setSenderIp(e.target.value)}
          size={14}
        />
        <input
          aria-label={t('logs.fileName')}
          placeholder={t('logs.fileName')}
          value={fileName}
          onChange={(e) => setFileName(e.target.value)}
          size={12}
        />
        <input
          aria-label={t('logs.hostname')}
          placeholder={t('logs.hostname')}
          value={hostname}
          onChange={(e) => setHostname(e.target.value)}
          size={12}
        />
        <button className="button">{t('logs.apply')}</button>
      </form>
      <Alerts source={source} search={applied} />
      <ErrorNote error={latest.error ?? older.error ?? remove.error} />
      <ol className="log-lines" ref={list} onScroll={onScroll} data-testid="log-lines" aria-live="off">
        {oldestReached && <li className="muted small">{t('logs.oldest')}</li>}
        {lines.map((line) => (
          <li key={line.id} className={`log-line severity-${line.severity ?? 'none'}`}>
            <time dateTime={line.createdAt} className="muted small">
              {dateTime(line.createdAt)}
            </time>{' '}
            <span className="log-meta small">
              {line.hostname ?? line.senderIp} {line.fileName}
            </span>{' '}
            <Highlighted text={line.message} q={applied.q ?? ''} />
            {line.truncated && <span className="badge small">{t('logs.truncated')}</span>}
          </li>
        ))}
      </ol>
      {paused && (
        <button
          type="button"
          className="button logs-resume"
          data-testid="log-resume"
          onClick={() => void latest.run()}
        >
          {missed > 0 ? t('logs.newLines', { count: missed }) : t('logs.paused')}
        </button>
      )}
    </div>
  );
}

function Highlighted({ text, q }: { text: string; q: string }) {
  if (!q) return <span className="log-message">{text}</span>;
  const parts: (string | { mark: string })[] = [];
  const lower = text.toLowerCase();
  const needle = q.toLowerCase();
  let at = 0;
  for (let i = lower.indexOf(needle); i >= 0 && lower.length === text.length; i = lower.indexOf(needle, at)) {
    parts.push(text.slice(at, i), { mark: text.slice(i, i + needle.length) });
    at = i + needle.length;
  }
  parts.push(text.slice(at));
  return (
    <span className="log-message">
      {parts.map((part, i) => (typeof part === 'string' ? part : <mark key={i}>{part.mark}</mark>))}
    </span>
  );
}

/** The source's alerts: each with its condition and firings, on/off, delete; and the current search saved as a new one. */
function Alerts({ source, search }: { source: LogSource; search: Filters }) {
  const { t, dateTime } = useI18n();
  const [alerts, setAlerts] = useState<LogAlert[]>();
  const [name, setName] = useState('');
  const [threshold, setThreshold] = useState(1);
  const [windowMinutes, setWindowMinutes] = useState(5);
  const [coolDownMinutes, setCoolDownMinutes] = useState(15);
  const load = useAction(async () => setAlerts(await logs.alerts(source.sourceId)));
  useEffect(() => {
    void load.run();
  }, [source.sourceId]);
  const create = useAction(async () => {
    await logs.createAlert(source.sourceId, {
      name: name.trim(),
      filter: search,
      threshold,
      windowSeconds: windowMinutes * 60,
      coolDownSeconds: coolDownMinutes * 60,
    });
    setName('');
    await load.run();
  });
  const toggle = useAction(async (alert: LogAlert) => {
    await logs.updateAlert(source.sourceId, alert.alertId, { enabled: !alert.enabled });
    await load.run();
  });
  const remove = useAction(async (alert: LogAlert) => {
    await logs.removeAlert(source.sourceId, alert.alertId);
    await load.run();
  });
  const describe = (f: Filters): string => {
    const parts = [
      f.q === undefined ? undefined : `“${f.q}”`,
      f.severity === undefined ? undefined : `≤ ${severityNames[f.severity]}`,
      f.senderIp,
      f.fileName,
      f.hostname,
    ].filter((p): p is string => p !== undefined);
    return parts.length > 0 ? parts.join(' · ') : t('logs.alertAnyLine');
  };
  return (
    <details className="logs-alerts" data-testid="log-alerts">
      <summary>{t('logs.alerts', { count: alerts?.length ?? 0 })}</summary>
      <ul>
        {alerts?.map((alert) => (
          <li key={alert.alertId} data-testid="log-alert">
            <strong>{alert.name}</strong>{' '}
            <span className="small">
              {t('logs.alertRule', {
                threshold: alert.threshold,
                minutes: Math.round(alert.windowSeconds / 60),
                search: describe(alert.filter),
              })}
            </span>{' '}
            <span className="muted small">
              {alert.lastFiredAt
                ? t('logs.alertFired', { count: alert.firings, at: dateTime(alert.lastFiredAt) })
                : t('logs.alertNeverFired')}
            </span>{' '}
            <label className="checkbox small">
              <input
                type="checkbox"
                checked={alert.enabled}
                onChange={() => void toggle.run(alert)}
                disabled={toggle.busy}
              />{' '}
              {t('logs.alertEnabled')}
            </label>{' '}
            <button
              type="button"
              className="button small"
              onClick={() => void remove.run(alert)}
              disabled={remove.busy}
              aria-label={t('logs.alertDelete', { name: alert.name })}
            >
              {t('logs.delete')}
            </button>
          </li>
        ))}
      </ul>
      <form
        className="logs-alert-new"
        onSubmit={(e) => {
          e.preventDefault();
          if (name.trim()) void create.run();
        }}
      >
        <p className="small">{t('logs.alertFromSearch', { search: describe(search) })}</p>
        <label>
          {t('logs.alertName')}
          <input value={name} onChange={(e) => setName(e.target.value)} required maxLength={100} />
        </label>
        <label>
          {t('logs.alertThreshold')}
          <input
            type="number"
            min={1}
            value={threshold}
            onChange={(e) => setThreshold(Math.max(1, Number(e.target.value) || 1))}
          />
        </label>
        <label>
          {t('logs.alertWindow')}
          <input
            type="number"
            min={1}
            max={1440}
            value={windowMinutes}
            onChange={(e) => setWindowMinutes(Math.min(1440, Math.max(1, Number(e.target.value) || 1)))}
          />
        </label>
        <label>
          {t('logs.alertCoolDown')}
          <input
            type="number"
            min={1}
            max={10080}
            value={coolDownMinutes}
            onChange={(e) => setCoolDownMinutes(Math.min(10080, Math.max(1, Number(e.target.value) || 1)))}
          />
        </label>
        <button className="button button-primary" disabled={create.busy || !name.trim()}>
          {t('logs.alertCreate')}
        </button>
      </form>
      <ErrorNote error={load.error ?? create.error ?? toggle.error ?? remove.error} />
    </details>
  );
}
