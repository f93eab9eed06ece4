/** A message of the caller's outbox: being sent, or failed with retry and discard. */
import type { PendingMessage } from '../../chat/outbox.ts';
import { useI18n } from '../../i18n/index.tsx';
import { useChatStore } from '../context.tsx';

export function PendingItem({
  pending,
  name,
  time,
}: {
  pending: PendingMessage;
  name: string;
  time: string;
}) {
  const { t } = useI18n();
  const store = useChatStore();
  return (
    <li
      className={`message message-pending${pending.state === 'failed' ? ' message-failed' : ''}`}
      data-testid="pending-message"
    >
      <div className="message-gutter">
        <span className="avatar avatar-ghost" aria-hidden="true" />
      </div>
      <div className="message-main">
        <div className="message-meta">
          <span className="sender">{name}</span>
          <time>{time}</time>
        </div>
        <div className="message-text">{pending.text}</div>
        <div className="message-status">
          {pending.state === 'failed' ? (
            <>
              <span className="status-failed">{t('message.failed')}</span>
              <button
                type="button"
                className="link-button"
                onClick={() => store.retry(pending.idempotencyKey)}
              >
                {t('message.retry')}
              </button>
              <button
                type="button"
                className="link-button"
                onClick={() => store.discard(pending.idempotencyKey)}
              >
                {t('message.delete')}
              </button>
            </>
          ) : (
            <span className="tick tick-pending" title={t('message.pending')}>
              <span aria-hidden="true">🕓</span> {t('message.pending')}
            </span>
          )}
        </div>
      </div>
    </li>
  );
}
