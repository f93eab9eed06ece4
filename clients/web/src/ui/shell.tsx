/** The signed-in frame: the sidebar with rooms and direct messages, the connection banner, the main pane. */
import { createContext, useContext, useEffect, useState } from 'react';
import { NavLink, Outlet, useLocation } from 'react-router';
import type { RoomView } from '../chat/store.ts';
import { useI18n, type Translate } from '../i18n/index.tsx';
import { Avatar, Logo } from './common.tsx';
import { statusFaces } from '../presence/statuses.ts';
import { useChat, useSession, useSessionStore, useStatus } from './context.tsx';
import { CreateRoomDialog, NewDmDialog } from './dialogs.tsx';
import { StatusDot, StatusPicker } from './presence.tsx';

// The signed-in user's id, set by the shell (one user per tab), so helpers need not thread it through.
let currentUserId = '';

/** A room's name as shown: a direct message is named for the other person. */
export function roomTitle(view: RoomView, names: Record<string, string>, t: Translate): string {
  if (view.room.kind !== 'dm') return view.room.name;
  const other = view.members?.find((m) => m.userId !== currentUserId);
  return (other && (names[other.userId] ?? other.displayName)) || view.room.name || t('nav.direct');
}

const DrawerContext = createContext<{ open: boolean; setOpen: (open: boolean) => void }>({
  open: false,
  setOpen: () => {},
});

export function MenuButton() {
  const { open, setOpen } = useContext(DrawerContext);
  const { t } = useI18n();
  return (
    <button
      type="button"
      className="icon-button menu-button"
      aria-label={open ? t('nav.closeMenu') : t('nav.openMenu')}
      aria-expanded={open}
      aria-controls="sidebar"
      onClick={() => setOpen(!open)}
    >
      <svg width="22" height="22" viewBox="0 0 24 24" aria-hidden="true">
        <path fill="currentColor" d="M3 6h18v2H3zm0 5h18v2H3zm0 5h18v2H3z" />
      </svg>
    </button>
  );
}

function Banner() {
  const { t } = useI18n();
  const status = useChat((s) => s.status);
  const queued = useChat((s) => s.outbox.filter((p) => p.state !== 'failed').length);
  const [everOpen, setEverOpen] = useState(false);
  useEffect(() => {
    if (status === 'open') setEverOpen(true);
  }, [status]);
  if (status === 'open' || (status === 'connecting' && !everOpen)) return null;
  return (
    <div
      className={`banner ${status === 'offline' ? 'banner-offline' : 'banner-connecting'}`}
      role="status"
      data-testid="connection-banner"
    >
      <span className="banner-dot" aria-hidden="true" />
      {status === 'offline' ? t('banner.offline') : t('banner.connecting')}
      {queued > 0 && <span className="banner-queued">{t('banner.queued', { count: queued })}</span>}
    </div>
  );
}

function RoomLink({ view, names }: { view: RoomView; names: Record<string, string> }) {
  const { t } = useI18n();
  const unread = view.room.unread ?? 0;
  const mentions = view.room.mentions ?? 0;
  const title = roomTitle(view, names, t);
  const peerId =
    view.room.kind === 'dm' ? view.members?.find((m) => m.userId !== currentUserId)?.userId : undefined;
  const peerStatus = useStatus(peerId);
  const label = [
    title,
    peerStatus === undefined ? '' : t(statusFaces[peerStatus].label),
    unread ? t('rooms.unread', { count: unread }) : '',
    mentions ? t('rooms.mentions', { count: mentions }) : '',
  ]
    .filter(Boolean)
    .join(', ');
  return (
    <li>
      <NavLink
        to={`/rooms/${view.room.roomId}`}
        className={({ isActive }) =>
          `room-link${isActive ? ' room-link-on' : ''}${unread ? ' room-link-unread' : ''}`
        }
        aria-label={label}
      >
        {view.room.kind === 'dm' ? (
          <span className="presence-wrap">
            <Avatar name={title} id={peerId ?? view.room.roomId} size={22} />
            <StatusDot status={peerStatus} overlay labelled={false} />
          </span>
        ) : (
          <span className="room-sigil" aria-hidden="true">
            {view.room.kind === 'private' ? '🔒' : '#'}
          </span>
        )}
        <span className="room-link-name">{title}</span>
        {mentions > 0 && (
          <span className="badge badge-mention" aria-hidden="true" data-testid="mention-badge">
            @{mentions}
          </span>
        )}
        {unread > 0 && (
          <span className="badge" aria-hidden="true" data-testid="unread-badge">
            {unread > 99 ? '99+' : unread}
          </span>
        )}
      </NavLink>
    </li>
  );
}

export function Shell() {
  const { t } = useI18n();
  const session = useSession();
  const sessionStore = useSessionStore();
  currentUserId = session?.userId ?? '';
  const me = useChat((s) => s.me);
  const rooms = useChat((s) => s.rooms);
  const names = useChat((s) => s.names);
  const roomsLoaded = useChat((s) => s.roomsLoaded);
  const [open, setOpen] = useState(false);
  const [dialog, setDialog] = useState<'room' | 'dm'>();
  const location = useLocation();
  useEffect(() => setOpen(false), [location.pathname]);
  useEffect(() => {
    if (!open) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') setOpen(false);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [open]);

  const views = Object.values(rooms).sort(
    (a, b) => (b.room.lastSeq ? 1 : 0) - (a.room.lastSeq ? 1 : 0) || a.room.name.localeCompare(b.room.name),
  );
  const groups = views.filter((v) => v.room.kind !== 'dm');
  const dms = views.filter((v) => v.room.kind === 'dm');
  return (
    <DrawerContext value={{ open, setOpen }}>
      <div className={`app${open ? ' drawer-open' : ''}`}>
        <Banner />
        <div className="app-body">
          <nav id="sidebar" className="sidebar" aria-label={t('nav.rooms')}>
            <div className="sidebar-brand">
              <Logo size={28} />
              <span className="brand-name">{t('app.name')}</span>
            </div>
            <div className="sidebar-tools">
              <NavLink to="/search" className="tool-link">
                <span aria-hidden="true">⌕</span> {t('nav.search')}
              </NavLink>
              <NavLink to="/logs" className="tool-link">
                <span aria-hidden="true">≡</span> {t('nav.logs')}
              </NavLink>
            </div>
            <div className="sidebar-section">
              <div className="section-head">
                <h2>{t('nav.rooms')}</h2>
                <button
                  type="button"
                  className="icon-button"
                  aria-label={t('nav.newRoom')}
                  title={t('nav.newRoom')}
                  onClick={() => setDialog('room')}
                >
                  +
                </button>
              </div>
              {roomsLoaded && groups.length === 0 && <p className="sidebar-empty">{t('rooms.empty')}</p>}
              <ul className="room-list" data-testid="room-list">
                {groups.map((v) => (
                  <RoomLink key={v.room.roomId} view={v} names={names} />
                ))}
              </ul>
            </div>
            <div className="sidebar-section">
              <div className="section-head">
                <h2>{t('nav.direct')}</h2>
                <button
                  type="button"
                  className="icon-button"
                  aria-label={t('nav.newDm')}
                  title={t('nav.newDm')}
                  onClick={() => setDialog('dm')}
                >
                  +
                </button>
              </div>
              <ul className="room-list">
                {dms.map((v) => (
                  <RoomLink key={v.room.roomId} view={v} names={names} />
                ))}
              </ul>
            </div>
            <div className="sidebar-me">
              <Avatar name={me?.displayName ?? '?'} id={session?.userId ?? ''} size={32} />
              <span className="me-who">
                <span className="me-name">{me?.displayName}</span>
                <StatusPicker />
              </span>
              <NavLink
                to="/settings"
                className="icon-button"
                aria-label={t('nav.settings')}
                title={t('nav.settings')}
              >
                ⚙
              </NavLink>
              <button
                type="button"
                className="icon-button"
                aria-label={t('nav.logout')}
                title={t('nav.logout')}
                onClick={() => void sessionStore.logout()}
              >
                ⎋
              </button>
            </div>
          </nav>
          <div className="scrim" onClick={() => setOpen(false)} aria-hidden="true" />
          <main className="main">
            <Outlet />
          </main>
        </div>
        {dialog === 'room' && <CreateRoomDialog onClose={() => setDialog(undefined)} />}
        {dialog === 'dm' && <NewDmDialog onClose={() => setDialog(undefined)} />}
      </div>
    </DrawerContext>
  );
}

export function HomeScreen() {
  const { t } = useI18n();
  return (
    <section className="room room-empty">
      <header className="room-head">
        <MenuButton />
      </header>
      <div className="empty-state">
        <Logo size={56} />
        <p>{t('rooms.pick')}</p>
      </div>
    </section>
  );
}
