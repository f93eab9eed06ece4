/** Profile, language, notification e-mail, and the sessions list (log out elsewhere). */
import { useEffect, useState } from 'react';
import { NavLink, useParams } from 'react-router';
import { account, auth, presence } from '../api/endpoints.ts';
import type { NotifyPreference, PrivacyRules, Session } from '../api/types.ts';
import { useI18n } from '../i18n/index.tsx';
import { describeDevice } from '../session/device.ts';
import { ErrorNote, Field, LanguageSwitch, useAction } from './common.tsx';
import { useChat, useChatStore, useSessionStore } from './context.tsx';
import { UserPicker } from './dialogs.tsx';
import { PresenceGroups } from './presence-groups.tsx';
import { PersonList, RadioChoice, SettingsForm } from './forms.tsx';
import { MenuButton } from './shell.tsx';

export function SettingsScreen() {
  const { t } = useI18n();
  const { section = 'profile' } = useParams();
  const admin = useChat((s) => s.me?.role === 'admin');
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
          <NavLink to="/settings/privacy" className={() => (section === 'privacy' ? 'tab tab-on' : 'tab')}>
            {t('settings.privacy')}
          </NavLink>
          <NavLink to="/settings/sessions" className={() => (section === 'sessions' ? 'tab tab-on' : 'tab')}>
            {t('settings.sessions')}
          </NavLink>
          {admin && (
            <NavLink to="/settings/groups" className={() => (section === 'groups' ? 'tab tab-on' : 'tab')}>
              {t('settings.groups')}
            </NavLink>
          )}
        </nav>
        <div className="settings-panel">
          {section === 'notifications' ? (
            <Notifications />
          ) : section === 'sessions' ? (
            <Sessions />
          ) : section === 'privacy' ? (
            <Privacy />
          ) : section === 'groups' && admin ? (
            <PresenceGroups />
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
    <SettingsForm error={error} saved={saved} busy={busy} onSubmit={() => void run()}>
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
    </SettingsForm>
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
    <SettingsForm error={error} saved={saved} busy={busy} onSubmit={() => void run()}>
      <RadioChoice
        legend={t('settings.notifications')}
        name="notify"
        options={options}
        value={choice}
        onChange={setChoice}
      />
    </SettingsForm>
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

/** Who may see my status (the presence-router's black and white lists): a mode and its list. */
function Privacy() {
  const { t } = useI18n();
  const known = useChat((s) => s.names);
  const [rules, setRules] = useState<PrivacyRules>();
  const [names, setNames] = useState<Record<string, string>>({});
  const [loadError, setLoadError] = useState<unknown>();
  const [saved, setSaved] = useState(false);
  useEffect(() => {
    presence.privacy().then(setRules, (e: unknown) => setLoadError(e));
  }, []);
  const { busy, error, run } = useAction(async () => {
    if (!rules) return;
    setSaved(false);
    setRules(await presence.setPrivacy(rules));
    setSaved(true);
  });
  const change = (next: Partial<PrivacyRules>) => {
    setSaved(false);
    setRules((r) => (r ? { ...r, ...next } : r));
  };
  const nameOf = (userId: string) => names[userId] ?? known[userId] ?? userId;
  const modes: { value: PrivacyRules['mode']; label: string }[] = [
    { value: 'everyone', label: t('privacy.mode.everyone') },
    { value: 'blacklist', label: t('privacy.mode.blacklist') },
    { value: 'whitelist', label: t('privacy.mode.whitelist') },
  ];
  if (!rules) {
    return loadError ? <ErrorNote error={loadError} /> : <p className="muted">{t('common.loading')}</p>;
  }
  return (
    <SettingsForm error={error} saved={saved} busy={busy} onSubmit={() => void run()}>
      <RadioChoice
        legend={t('privacy.legend')}
        name="privacy-mode"
        options={modes}
        value={rules.mode}
        onChange={(mode) => change({ mode })}
      />
      <p className="muted small">{t('privacy.hint')}</p>
      {rules.mode !== 'everyone' && (
        <section className="stack" aria-label={t('privacy.people')}>
          <h2 className="privacy-heading">{t('privacy.people')}</h2>
          {rules.users.length === 0 && <p className="muted small">{t('privacy.empty')}</p>}
          <PersonList
            testId="privacy-list"
            userIds={rules.users}
            nameOf={nameOf}
            removeLabel={(name) => t('privacy.remove', { name })}
            onRemove={(userId) => change({ users: rules.users.filter((u) => u !== userId) })}
          />
          <UserPicker
            label={t('privacy.find')}
            busy={busy}
            autoFocus={false}
            onPick={(u) => {
              setNames((n) => ({ ...n, [u.userId]: u.displayName }));
              if (!rules.users.includes(u.userId)) change({ users: [...rules.users, u.userId] });
            }}
          />
        </section>
      )}
    </SettingsForm>
  );
}
