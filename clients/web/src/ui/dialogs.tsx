/** Creating a room, inviting someone, starting a direct message. */
import { useEffect, useState } from 'react';
import { useNavigate } from 'react-router';
import { account, chat } from '../api/endpoints.ts';
import { useI18n } from '../i18n/index.tsx';
import { Avatar, Dialog, ErrorNote, Field, useAction } from './common.tsx';
import { useChatStore } from './context.tsx';

export type UserSummary = Awaited<ReturnType<typeof account.searchUsers>>[number];

export function CreateRoomDialog({ onClose }: { onClose: () => void }) {
  const { t } = useI18n();
  const store = useChatStore();
  const navigate = useNavigate();
  const [name, setName] = useState('');
  const [visibility, setVisibility] = useState<'public' | 'private'>('public');
  const { busy, error, run } = useAction(async () => {
    const { roomId } = await chat.createRoom({ name: name.trim(), visibility });
    await store.loadRooms();
    onClose();
    await navigate(`/rooms/${roomId}`);
  });
  return (
    <Dialog title={t('room.create.title')} onClose={onClose}>
      <form
        className="stack"
        onSubmit={(e) => {
          e.preventDefault();
          void run();
        }}
      >
        <ErrorNote error={error} />
        <Field
          label={t('room.create.name')}
          required
          maxLength={100}
          autoFocus
          value={name}
          onChange={(e) => setName(e.target.value)}
        />
        <fieldset className="choice">
          <legend>{t('room.create.visibility')}</legend>
          {(['public', 'private'] as const).map((v) => (
            <label key={v} className="choice-option">
              <input
                type="radio"
                name="visibility"
                value={v}
                checked={visibility === v}
                onChange={() => setVisibility(v)}
              />
              {v === 'public' ? t('room.create.public') : t('room.create.private')}
            </label>
          ))}
        </fieldset>
        <button className="button button-primary" disabled={busy || !name.trim()}>
          {t('room.create.submit')}
        </button>
      </form>
    </Dialog>
  );
}

/** Finds people by display-name prefix (the gateway's user directory) and offers them to pick. */
export function UserPicker({
  label,
  onPick,
  busy,
  autoFocus = true,
}: {
  label: string;
  onPick: (user: UserSummary) => void;
  busy: boolean;
  autoFocus?: boolean;
}) {
  const { t } = useI18n();
  const [q, setQ] = useState('');
  const [users, setUsers] = useState<UserSummary[]>([]);
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    const query = q.trim();
    if (!query) {
      setUsers([]);
      return;
    }
    const timer = window.setTimeout(() => {
      account.searchUsers(query).then(
        (found) => {
          setUsers(found);
          setError(undefined);
        },
        (e: unknown) => setError(e),
      );
    }, 200);
    return () => window.clearTimeout(timer);
  }, [q]);
  return (
    <div className="stack">
      <Field
        label={label}
        autoFocus={autoFocus}
        value={q}
        onChange={(e) => setQ(e.target.value)}
        autoComplete="off"
      />
      <ErrorNote error={error} />
      <ul className="user-results" aria-live="polite">
        {users.map((u) => (
          <li key={u.userId}>
            <button type="button" className="user-result" disabled={busy} onClick={() => onPick(u)}>
              <Avatar name={u.displayName} id={u.userId} size={28} />
              <span>{u.displayName}</span>
              {u.extension && <span className="muted small">#{u.extension}</span>}
            </button>
          </li>
        ))}
        {q.trim() && users.length === 0 && !error && <li className="muted small">{t('search.none')}</li>}
      </ul>
    </div>
  );
}

export function InviteDialog({
  roomId,
  roomName,
  onClose,
}: {
  roomId: string;
  roomName: string;
  onClose: () => void;
}) {
  const { t } = useI18n();
  const store = useChatStore();
  const [done, setDone] = useState<string>();
  const { busy, error, run } = useAction(async (user: UserSummary) => {
    await chat.invite(roomId, user.userId);
    setDone(user.displayName);
    void store.loadMembers(roomId);
  });
  return (
    <Dialog title={t('room.invite.title', { room: roomName })} onClose={onClose}>
      <ErrorNote error={error} />
      {done && (
        <p className="alert alert-ok" role="status">
          {done}: {t('room.invite.done')}
        </p>
      )}
      <UserPicker label={t('room.invite.who')} busy={busy} onPick={(u) => void run(u)} />
    </Dialog>
  );
}

export function NewDmDialog({ onClose }: { onClose: () => void }) {
  const { t } = useI18n();
  const store = useChatStore();
  const navigate = useNavigate();
  const { busy, error, run } = useAction(async (user: UserSummary) => {
    const { roomId } = await chat.openDm(user.userId);
    await store.loadRooms();
    onClose();
    await navigate(`/rooms/${roomId}`);
  });
  return (
    <Dialog title={t('dm.create.title')} onClose={onClose}>
      <ErrorNote error={error} />
      <UserPicker label={t('dm.create.who')} busy={busy} onPick={(u) => void run(u)} />
    </Dialog>
  );
}
