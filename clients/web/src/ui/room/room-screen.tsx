/** A room: header, history, typing line and composer, with the members panel and the invite dialog. */
import { useEffect, useState } from 'react';
import { useParams } from 'react-router';
import type { RoomView } from '../../chat/store.ts';
import { useI18n } from '../../i18n/index.tsx';
import { statusFaces } from '../../presence/statuses.ts';
import { useChat, useChatStore, useStatuses } from '../context.tsx';
import { StatusDot } from '../presence.tsx';
import { InviteDialog } from '../dialogs.tsx';
import { MenuButton, roomTitle } from '../shell.tsx';
import { Composer } from './composer.tsx';
import { MembersPanel } from './members-panel.tsx';
import { Timeline } from './timeline.tsx';
import { TypingLine } from './typing-line.tsx';
import { useChatNames } from './names.ts';

export function RoomScreen() {
  const { roomId = '' } = useParams();
  const store = useChatStore();
  const view = useChat((s) => s.rooms[roomId]);
  const roomsLoaded = useChat((s) => s.roomsLoaded);
  const names = useChatNames();
  const { t } = useI18n();
  const [showMembers, setShowMembers] = useState(false);
  const [inviting, setInviting] = useState(false);

  useEffect(() => {
    void store.openRoom(roomId);
    return () => void store.openRoom(undefined);
  }, [store, roomId]);

  if (!view) {
    return (
      <section className="room room-empty">
        <header className="room-head">
          <MenuButton />
        </header>
        <p className="muted center">{roomsLoaded ? t('error.not_found') : t('common.loading')}</p>
      </section>
    );
  }
  return (
    <section className="room" aria-label={roomTitle(view, names, t)}>
      <RoomHeader
        view={view}
        onMembers={() => setShowMembers((v) => !v)}
        onInvite={() => setInviting(true)}
        membersOpen={showMembers}
      />
      <div className="room-body">
        <div className="room-main">
          <Timeline view={view} />
          <TypingLine view={view} />
          <Composer view={view} />
        </div>
        {showMembers && <MembersPanel view={view} onClose={() => setShowMembers(false)} />}
      </div>
      {inviting && (
        <InviteDialog roomId={roomId} roomName={view.room.name} onClose={() => setInviting(false)} />
      )}
    </section>
  );
}

function RoomHeader({
  view,
  onMembers,
  onInvite,
  membersOpen,
}: {
  view: RoomView;
  onMembers: () => void;
  onInvite: () => void;
  membersOpen: boolean;
}) {
  const { t } = useI18n();
  const names = useChatNames();
  const myId = useChat((s) => s.me?.userId);
  const statuses = useStatuses((view.members ?? []).map((m) => m.userId));
  const online = view.members?.filter((m) => statuses[m.userId] === 1).length ?? 0;
  const peer = view.room.kind === 'dm' ? view.members?.find((m) => m.userId !== myId) : undefined;
  const peerStatus = peer ? statuses[peer.userId] : undefined;
  return (
    <header className="room-head">
      <MenuButton />
      <div className="room-title">
        <h1>
          <span className="room-sigil" aria-hidden="true">
            {view.room.kind === 'dm' ? '@' : '#'}
          </span>
          {roomTitle(view, names, t)}
        </h1>
        {view.room.kind === 'dm' ? (
          <p className="room-topic" data-testid="peer-status">
            <StatusDot status={peerStatus} labelled={false} />{' '}
            {peerStatus === undefined ? '' : t(statusFaces[peerStatus].label)}
          </p>
        ) : (
          <p className="room-topic">
            {view.room.topic ||
              `${t('room.memberCount', { count: view.room.memberCount })} · ${online} ${t('members.online')}`}
          </p>
        )}
      </div>
      <div className="room-actions">
        {view.room.kind !== 'dm' && (
          <button type="button" className="button button-ghost" onClick={onInvite}>
            {t('room.invite')}
          </button>
        )}
        <button type="button" className="button button-ghost" aria-pressed={membersOpen} onClick={onMembers}>
          {t('room.members')} <span className="count">{view.room.memberCount}</span>
        </button>
      </div>
    </header>
  );
}
