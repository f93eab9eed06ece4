/** One message: sender, reply quote, text, attachments, reactions, delivery tick and its actions. */
import { useState } from 'react';
import type { Attachment, Message } from '../../api/types.ts';
import type { tickFor } from '../../chat/timeline.ts';
import type { RoomView } from '../../chat/store.ts';
import { useI18n } from '../../i18n/index.tsx';
import { AttachmentView } from '../attachments.tsx';
import { Avatar, ErrorNote } from '../common.tsx';
import { useChatStore, useSession } from '../context.tsx';
import { composerBus } from './composer-bus.ts';
import { useChatNames } from './names.ts';
import { RichText } from './rich-text.tsx';

const quickReactions = ['👍', '❤️', '😂'];

export function MessageItem({
  message,
  grouped,
  view,
  replied,
  senderName,
  tick,
  readers,
  highlighted,
}: {
  highlighted: boolean;
  message: Message;
  grouped: boolean;
  view: RoomView;
  replied: Message | undefined;
  senderName: string;
  tick: ReturnType<typeof tickFor> | undefined;
  readers: { userId: string }[];
}) {
  const { t, time, dateTime } = useI18n();
  const store = useChatStore();
  const names = useChatNames();
  const session = useSession();
  const myId = session?.userId ?? '';
  const [error, setError] = useState<unknown>();
  const roomId = view.room.roomId;
  const act = (action: () => Promise<void>) => () => {
    setError(undefined);
    action().catch(setError);
  };
  const readBy = tick ? tick.readBy.map((id) => names[id] ?? id) : [];
  const tickLabel = tick
    ? tick.tick === 'read'
      ? t('message.read')
      : tick.tick === 'delivered'
        ? t('message.delivered')
        : t('message.sent')
    : '';
  const tickTitle = readBy.length
    ? `${tickLabel} · ${t('message.readBy', { names: readBy.join(', ') })}`
    : tickLabel;
  return (
    <li
      className={`message${grouped ? ' message-grouped' : ''}${message.senderId === myId ? ' message-mine' : ''}${highlighted ? ' message-highlight' : ''}`}
      data-seq={message.seq}
      data-message-id={message.messageId}
    >
      <div className="message-gutter">{!grouped && <Avatar name={senderName} id={message.senderId} />}</div>
      <div className="message-main">
        {!grouped && (
          <div className="message-meta">
            <span className="sender">{senderName}</span>
            <time dateTime={message.sentAt} title={dateTime(message.sentAt)}>
              {time(message.sentAt)}
            </time>
          </div>
        )}
        {replied && (
          <blockquote className="reply-quote">
            <span className="sender">{names[replied.senderId] ?? replied.senderId}</span>{' '}
            {replied.deleted ? t('message.deleted') : replied.text.slice(0, 140)}
          </blockquote>
        )}
        {message.deleted ? (
          <div className="message-text message-deleted">{t('message.deleted')}</div>
        ) : (
          <div className="message-text">
            <RichText text={message.text} members={view.members} />
            {message.editedAt && <span className="edited"> ({t('message.edited')})</span>}
          </div>
        )}
        {!message.deleted && message.attachments.length > 0 && (
          <div className="attachments">
            {message.attachments.map((a: Attachment) => (
              <AttachmentView key={a.attachmentId} roomId={roomId} attachment={a} />
            ))}
          </div>
        )}
        {message.reactions.length > 0 && (
          <div className="reactions">
            {message.reactions.map((r) => (
              <button
                key={r.emoji}
                type="button"
                className={r.userIds.includes(myId) ? 'reaction reaction-mine' : 'reaction'}
                aria-pressed={r.userIds.includes(myId)}
                title={r.userIds.map((id) => names[id] ?? id).join(', ')}
                onClick={act(() => store.react(roomId, message.messageId, r.emoji))}
              >
                {r.emoji} <span className="count">{r.userIds.length}</span>
              </button>
            ))}
          </div>
        )}
        {tick && !message.deleted && readers.length > 0 && (
          <div className="message-status">
            <span
              className={`tick tick-${tick.tick}`}
              title={tickTitle}
              aria-label={tickTitle}
              data-testid="tick"
              data-tick={tick.tick}
              tabIndex={0}
            >
              <span className="tick-glyph" aria-hidden="true">
                {tick.tick === 'sent' ? '✓' : '✓✓'}
              </span>
              <span className="tick-label">{tickLabel}</span>
            </span>
          </div>
        )}
        <ErrorNote error={error} />
      </div>
      {!message.deleted && (
        <div className="message-actions" role="toolbar" aria-label={t('message.actions')}>
          {quickReactions.map((emoji) => (
            <button
              key={emoji}
              type="button"
              className="icon-button"
              aria-label={`${t('message.react')} ${emoji}`}
              onClick={act(() => store.react(roomId, message.messageId, emoji))}
            >
              {emoji}
            </button>
          ))}
          <button
            type="button"
            className="icon-button"
            aria-label={t('message.reply')}
            title={t('message.reply')}
            onClick={() => composerBus.reply(message)}
          >
            ↩
          </button>
          {message.senderId === myId && (
            <>
              <button
                type="button"
                className="icon-button"
                aria-label={t('message.edit')}
                title={t('message.edit')}
                onClick={() => composerBus.edit(message)}
              >
                ✎
              </button>
              <button
                type="button"
                className="icon-button"
                aria-label={t('message.delete')}
                title={t('message.delete')}
                onClick={act(async () => {
                  if (window.confirm(t('message.confirmDelete')))
                    await store.remove(roomId, message.messageId);
                })}
              >
                🗑
              </button>
            </>
          )}
        </div>
      )}
    </li>
  );
}
