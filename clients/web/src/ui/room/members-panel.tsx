/** The room's members with their presence status (reachable first, then by name) and role. */
import type { RoomView } from '../../chat/store.ts';
import { useI18n } from '../../i18n/index.tsx';
import { statusFaces, statusRank } from '../../presence/statuses.ts';
import { Avatar } from '../common.tsx';
import { useStatuses } from '../context.tsx';
import { StatusDot } from '../presence.tsx';

export function MembersPanel({ view, onClose }: { view: RoomView; onClose: () => void }) {
  const { t } = useI18n();
  const statuses = useStatuses((view.members ?? []).map((m) => m.userId));
  const members = [...(view.members ?? [])].sort(
    (a, b) =>
      statusRank(statuses[a.userId]) - statusRank(statuses[b.userId]) ||
      a.displayName.localeCompare(b.displayName),
  );
  return (
    <aside className="members-panel" aria-label={t('room.members')}>
      <header className="panel-head">
        <h2>{t('room.members')}</h2>
        <button type="button" className="icon-button" aria-label={t('common.close')} onClick={onClose}>
          ✕
        </button>
      </header>
      <ul className="member-list">
        {members.map((m) => {
          const status = statuses[m.userId];
          return (
            <li key={m.userId} className="member" data-testid="member" data-status={status}>
              <span className="presence-wrap">
                <Avatar name={m.displayName} id={m.userId} size={32} />
                <StatusDot status={status} overlay labelled={false} />
              </span>
              <span className="member-name">
                {m.displayName}
                <span className="muted small">
                  {' '}
                  <span className="member-status">
                    {status === undefined ? '…' : t(statusFaces[status].label)}
                  </span>
                  {m.role === 'owner'
                    ? ` · ${t('members.owner')}`
                    : m.role === 'moderator'
                      ? ` · ${t('members.moderator')}`
                      : ''}
                </span>
              </span>
            </li>
          );
        })}
      </ul>
    </aside>
  );
}
