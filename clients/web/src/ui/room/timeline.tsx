/**
 * The room's history: older pages load as the reader scrolls up, the view stays pinned to the newest
 * message (or keeps the reader's place), a linked message (`?seq=`) is paged in and brought into view,
 * and the caller's messages still being sent are shown after the history.
 */
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { useSearchParams } from 'react-router';
import { tickFor } from '../../chat/timeline.ts';
import type { RoomView } from '../../chat/store.ts';
import { useI18n } from '../../i18n/index.tsx';
import { useChat, useChatStore, useSession } from '../context.tsx';
import { roomTitle } from '../shell.tsx';
import { MessageItem } from './message-item.tsx';
import { useChatNames } from './names.ts';
import { PendingItem } from './pending-item.tsx';

export function Timeline({ view }: { view: RoomView }) {
  const store = useChatStore();
  const { t, time } = useI18n();
  const session = useSession();
  const names = useChatNames();
  const pending = useChat((s) => s.outbox);
  const myId = session?.userId ?? '';
  const scroller = useRef<HTMLDivElement>(null);
  const stickToBottom = useRef(true);
  const previousHeight = useRef(0);
  const roomId = view.room.roomId;
  // A message being sent can arrive over realtime before its POST answers: show it once.
  const mine = useMemo(() => {
    const recent = view.messages.slice(-20).filter((m) => m.senderId === myId);
    return pending.filter(
      (p) => p.roomId === roomId && !(p.state === 'sending' && recent.some((m) => m.text === p.text)),
    );
  }, [pending, roomId, view.messages, myId]);
  const [params] = useSearchParams();
  const focusSeq = Number(params.get('seq')) || undefined;
  const [focused, setFocused] = useState<number>();
  const olderAttempts = useRef(0);

  // A link to one message (search, a mail): page back until it is loaded, then bring it into view.
  useEffect(() => {
    if (!focusSeq || !view.loaded || focused === focusSeq) return;
    const target = scroller.current?.querySelector<HTMLElement>(`[data-seq="${focusSeq}"]`);
    if (target) {
      stickToBottom.current = false;
      target.scrollIntoView({ block: 'center' });
      setFocused(focusSeq);
      return;
    }
    const oldest = view.messages[0]?.seq ?? 0;
    if (view.hasOlder && !view.loadingOlder && oldest > focusSeq && olderAttempts.current < 40) {
      olderAttempts.current += 1;
      void store.loadOlder(roomId);
    }
  }, [focusSeq, focused, view.loaded, view.messages, view.hasOlder, view.loadingOlder, store, roomId]);
  const byId = useMemo(() => new Map(view.messages.map((m) => [m.messageId, m])), [view.messages]);

  // Keep the view pinned to the newest message, or keep the reader's place when older pages arrive.
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    if (stickToBottom.current) el.scrollTop = el.scrollHeight;
    else if (previousHeight.current && el.scrollTop < 50)
      el.scrollTop += el.scrollHeight - previousHeight.current;
    previousHeight.current = el.scrollHeight;
  }, [view.messages, mine.length, view.loaded]);

  const onScroll = useCallback(() => {
    const el = scroller.current;
    if (!el) return;
    stickToBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
    previousHeight.current = el.scrollHeight;
    if (el.scrollTop < 200 && view.hasOlder && !view.loadingOlder && view.loaded)
      void store.loadOlder(roomId);
  }, [store, roomId, view.hasOlder, view.loadingOlder, view.loaded]);

  const others = view.receipts.filter((r) => r.userId !== myId);
  return (
    <div
      className="timeline-scroll"
      ref={scroller}
      onScroll={onScroll}
      role="log"
      aria-live="polite"
      aria-relevant="additions"
      aria-label={t('room.history')}
      tabIndex={0}
    >
      {view.loadingOlder && <p className="muted center small">{t('room.loadingOlder')}</p>}
      {view.loaded && !view.hasOlder && (
        <div className="room-start">
          <h2>{roomTitle(view, names, t)}</h2>
          <p className="muted">{t('room.beginning', { room: roomTitle(view, names, t) })}</p>
        </div>
      )}
      {!view.loaded && <p className="muted center">{t('common.loading')}</p>}
      <ol className="timeline">
        {view.messages.map((m, i) => {
          const prev = view.messages[i - 1];
          const grouped =
            prev !== undefined &&
            prev.senderId === m.senderId &&
            !prev.deleted &&
            Date.parse(m.sentAt) - Date.parse(prev.sentAt) < 5 * 60_000;
          return (
            <MessageItem
              key={m.messageId}
              message={m}
              grouped={grouped}
              view={view}
              replied={m.replyTo ? byId.get(m.replyTo) : undefined}
              senderName={names[m.senderId] ?? m.senderName ?? m.senderId}
              tick={m.senderId === myId ? tickFor(m.seq, myId, view.receipts) : undefined}
              readers={others}
              highlighted={m.seq === focused}
            />
          );
        })}
        {mine.map((p) => (
          <PendingItem
            key={p.idempotencyKey}
            pending={p}
            name={names[myId] ?? t('common.you')}
            time={time(p.createdAt)}
          />
        ))}
      </ol>
    </div>
  );
}
