/** Profile, language, notification e-mail, and the sessions list (log out elsewhere). */
import { useEffect, useState } from 'react';
import { NavLink, useParams } from 'react-router';
import { account, auth } from '../api/endpoints.ts';
import type { NotifyPreference, Session } from '../api/types.ts';
import { useI18n } from '../i18n/index.tsx';
import { describeDevice } from '../session/device.ts';
import { ErrorNote, Field, LanguageSwitch, useAction } from './common.tsx';
import { useChat, useChatStore, useSessionStore } from './context.tsx';
import { MenuButton } from './shell.tsx';

export function SettingsScreen() {
  const { t } = useI18n();
  const { section = 'profile' } = useParams();
  return (
    <section className="room settings">
      <header className="room-head">
        <MenuButton />
        <div className="room-title">
          <h1>{t('settings.title')}</h1>
        </div>
      </header>
      <div className="settings-body">
        <nav className="tabs" aria-label={t('settings.title')}>
          <NavLink to="/settings/profile" className={() => (section === 'profile' ? 'tab tab-on' : 'tab')}>
            {t('settings.profile')}
          </NavLink>
          <NavLink
            to="/settings/notifications"
            className={() => (section === 'notifications' ? 'tab tab-on' : 'tab')}
          >
            {t('settings.notifications')}
          </NavLink>
          <NavLink to="/settings/sessions" className={() => (section === 'sessions' ? 'tab tab-on' : 'tab')}>
            {t('settings.sessions')}
          </NavLink>
        </nav>
        <div className="settings-panel">
          {section === 'notifications' ? (
            <Notifications />
          ) : section === 'sessions' ? (
            <Sessions />
          ) : (
            <Profile />
          )}
        </div>
      </div>
    </section>
  );
}

function Profile() {
  const { t, locale, setLocale } = useI18n();
  const me = useChat((s) => s.me);
  const store = useChatStore();
  const [displayName, setDisplayName] = useState(me?.displayName ?? '');
  const [saved, setSaved] = useState(false);
  useEffect(() => setDisplayName(me?.displayName ?? ''), [me?.displayName]);
  const { busy, error, run } = useAction(async () => {
    setSaved(false);
    const updated = await account.updateProfile({ displayName: displayName.trim(), locale });
    store.setMe(updated);
    setSaved(true);
  });
  useEffect(() => {
    if (me && me.locale !== locale) setLocale(me.locale);
    // Only when the profile first arrives: afterwards the switch below leads.
  }, [me?.userId]);
  return (
    <form
      className="stack narrow"
      onSubmit={(e) => {
        e.preventDefault();
        void run();
      }}
    >
      <ErrorNote error={error} />
      {saved && (
        <p className="alert alert-ok" role="status">
          {t('settings.saved')}
        </p>
      )}
      <Field label={t('auth.email')} value={me?.email ?? ''} readOnly />
      <Field
        label={t('auth.displayName')}
        required
        maxLength={64}
        value={displayName}
        onChange={(e) => setDisplayName(e.target.value)}
      />
      <div className="field">
        <span className="label">{t('settings.language')}</span>
        <LanguageSwitch />
      </div>
      <button className="button button-primary" disabled={busy}>
        {t('settings.save')}
      </button>
    </form>
  );
}

function Notifications() {
  const { t } = useI18n();
  const [choice, setChoice] = useState<NotifyPreference>(
    () => (localStorage.getItem('veche.notify') as NotifyPreference | null) ?? 'immediately',
  );
  const [saved, setSaved] = useState(false);
  const { busy, error, run } = useAction(async () => {
    setSaved(false);
    const result = await account.setNotifications(choice);
    localStorage.setItem('veche.notify', result.emailNotifications);
    setSaved(true);
  });
  const options: { value: NotifyPreference; label: string }[] = [
    { value: 'immediately', label: t('settings.notify.mentions') },
    { value: 'digest', label: t('settings.notify.digest') },
    { value: 'never', label: t('settings.notify.never') },
  ];
  return (
    <form
      className="stack narrow"
      onSubmit={(e) => {
        e.preventDefault();
        void run();
      }}
    >
      <ErrorNote error={error} />
      {saved && (
        <p className="alert alert-ok" role="status">
          {t('settings.saved')}
        </p>
      )}
      <fieldset className="choice">
        <legend>{t('settings.notifications')}</legend>
        {options.map((o) => (
          <label key={o.value} className="choice-option">
            <input
              type="radio"
              name="notify"
              value={o.value}
              checked={choice === o.value}
              onChange={() => setChoice(o.value)}
            />
            {o.label}
          </label>
        ))}
      </fieldset>
      <button className="button button-primary" disabled={busy}>
        {t('settings.save')}
      </button>
    </form>
  );
}

function Sessions() {
  const { t, dateTime } = useI18n();
  const session = useSessionStore();
  const [sessions, setSessions] = useState<Session[]>();
  const [error, setError] = useState<unknown>();
  const load = () =>
    account.sessions().then(
      (list) => setSessions(list),
      (e: unknown) => setError(e),
    );
  useEffect(() => {
    void load();
  }, []);
  const revoke = useAction(async (id: string) => {
    await account.revokeSession(id);
    await load();
  });
  const everywhere = useAction(async () => {
    await auth.logoutAll();
    session.end();
  });
  return (
    <div className="stack">
      <ErrorNote error={error ?? revoke.error ?? everywhere.error} />
      {!sessions && !error && <p className="muted">{t('common.loading')}</p>}
      <ul className="session-list">
        {sessions?.map((s) => (
          <li key={s.sessionId} className="session">
            <div>
              <div className="session-device">
                {/Mozilla\//.test(s.device) ? describeDevice(s.device) : s.device}{' '}
                {s.current && <span className="pill">{t('sessions.current')}</span>}
              </div>
              <div className="muted small">
                {s.ip} · {t('sessions.lastSeen', { when: dateTime(s.lastSeenAt) })}
              </div>
            </div>
            {!s.current && (
              <button
                type="button"
                className="button button-ghost"
                disabled={revoke.busy}
                onClick={() => void revoke.run(s.sessionId)}
              >
                {t('sessions.revoke')}
              </button>
            )}
          </li>
        ))}
      </ul>
      {sessions && sessions.length <= 1 && <p className="muted">{t('sessions.none')}</p>}
      <button
        type="button"
        className="button button-danger"
        disabled={everywhere.busy}
        onClick={() => void everywhere.run()}
      >
        {t('sessions.revokeOthers')}
      </button>
    </div>
  );
}
