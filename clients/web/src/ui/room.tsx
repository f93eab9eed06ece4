/** A room: its history (older pages on scroll), typing, receipts, the composer, members. */
import {
  useCallback,
  useEffect,
  useLayoutEffect,
  useMemo,
  useRef,
  useState,
  type KeyboardEvent,
  type ReactNode,
} from 'react';
import { useParams, useSearchParams } from 'react-router';
import { chat } from '../api/endpoints.ts';
import type { Attachment, Member, Message } from '../api/types.ts';
import { mentionQuery, tickFor } from '../chat/timeline.ts';
import type { PendingMessage } from '../chat/outbox.ts';
import type { RoomView } from '../chat/store.ts';
import { useI18n } from '../i18n/index.tsx';
import { AttachmentView } from './attachments.tsx';
import { Avatar, ErrorNote, errorText } from './common.tsx';
import { useChat, useChatStore, useSession } from './context.tsx';
import { InviteDialog } from './dialogs.tsx';
import { MenuButton, roomTitle } from './shell.tsx';

const quickReactions = ['👍', '❤️', '😂', '🎉', '👀'];

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

function useChatNames() {
  return useChat((s) => s.names);
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
  const online = view.members?.filter((m) => m.online).length ?? 0;
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
        <p className="room-topic">
          {view.room.topic ||
            `${t('room.memberCount', { count: view.room.memberCount })} · ${online} ${t('members.online')}`}
        </p>
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

function MembersPanel({ view, onClose }: { view: RoomView; onClose: () => void }) {
  const { t } = useI18n();
  const members = [...(view.members ?? [])].sort(
    (a, b) => Number(b.online) - Number(a.online) || a.displayName.localeCompare(b.displayName),
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
        {members.map((m) => (
          <li key={m.userId} className="member">
            <span className="presence-wrap">
              <Avatar name={m.displayName} id={m.userId} size={32} />
              <span className={m.online ? 'presence presence-on' : 'presence'} aria-hidden="true" />
            </span>
            <span className="member-name">
              {m.displayName}
              <span className="muted small">
                {' '}
                {m.online ? t('members.online') : t('members.offline')}
                {m.role === 'owner'
                  ? ` · ${t('members.owner')}`
                  : m.role === 'moderator'
                    ? ` · ${t('members.moderator')}`
                    : ''}
              </span>
            </span>
          </li>
        ))}
      </ul>
    </aside>
  );
}

function TypingLine({ view }: { view: RoomView }) {
  const { t } = useI18n();
  const names = useChatNames();
  const who = Object.keys(view.typing).map((id) => names[id] ?? id);
  const text =
    who.length === 0
      ? ''
      : who.length === 1
        ? t('typing.one', { a: who[0]! })
        : who.length === 2
          ? t('typing.two', { a: who[0]!, b: who[1]! })
          : t('typing.many');
  return (
    <div className="typing-line" aria-live="polite" data-testid="typing">
      {text && (
        <>
          <span className="typing-dots" aria-hidden="true">
            <i />
            <i />
            <i />
          </span>
          {text}
        </>
      )}
    </div>
  );
}

/** Message text with @mentions and links set apart. */
function RichText({ text, members }: { text: string; members: Member[] | undefined }) {
  const parts: ReactNode[] = [];
  const pattern = /(https?:\/\/[^\s<]+)|(@[\p{L}\p{N}_.-]+(?: [\p{L}\p{N}_.-]+)?)/gu;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    const index = match.index;
    if (index > last) parts.push(text.slice(last, index));
    if (match[1]) {
      parts.push(
        <a key={index} href={match[1]} target="_blank" rel="noreferrer noopener">
          {match[1]}
        </a>,
      );
      last = index + match[0].length;
    } else {
      // "@First Last": take the second word only when it completes a member's name.
      const full = match[2]!;
      const first = full.split(' ')[0]!;
      const known = members?.some((m) => `@${m.displayName}`.toLowerCase() === full.toLowerCase());
      const token = known ? full : first;
      parts.push(
        <span key={index} className="mention">
          {token}
        </span>,
      );
      last = index + token.length;
    }
  }
  if (last < text.length) parts.push(text.slice(last));
  return <>{parts}</>;
}

function Timeline({ view }: { view: RoomView }) {
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

function PendingItem({ pending, name, time }: { pending: PendingMessage; name: string; time: string }) {
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

function MessageItem({
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
          {quickReactions.slice(0, 3).map((emoji) => (
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

/** Lets a message's Reply/Edit buttons reach the composer of the same room. */
const composerBus = {
  reply: (_message: Message) => {},
  edit: (_message: Message) => {},
};

interface Staged {
  id: string;
  file: File;
  attachment?: Attachment;
  error?: unknown;
}

function Composer({ view }: { view: RoomView }) {
  const { t } = useI18n();
  const store = useChatStore();
  const names = useChatNames();
  const session = useSession();
  const roomId = view.room.roomId;
  const [text, setText] = useState('');
  const [replyTo, setReplyTo] = useState<Message>();
  const [editing, setEditing] = useState<Message>();
  const [staged, setStaged] = useState<Staged[]>([]);
  const [dragging, setDragging] = useState(false);
  const [completion, setCompletion] = useState<{ start: number; options: Member[]; index: number }>();
  const [error, setError] = useState<unknown>();
  const input = useRef<HTMLTextAreaElement>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const typingSent = useRef(0);

  useEffect(() => {
    composerBus.reply = (message) => {
      setEditing(undefined);
      setReplyTo(message);
      input.current?.focus();
    };
    composerBus.edit = (message) => {
      setReplyTo(undefined);
      setEditing(message);
      setText(message.text);
      input.current?.focus();
    };
  }, []);

  useEffect(() => {
    setText('');
    setReplyTo(undefined);
    setEditing(undefined);
    setStaged([]);
  }, [roomId]);

  // Grow with the text, up to a limit.
  useLayoutEffect(() => {
    const el = input.current;
    if (!el) return;
    el.style.height = 'auto';
    el.style.height = `${Math.min(el.scrollHeight, 200)}px`;
  }, [text]);

  const addFiles = useCallback(
    (files: Iterable<File>) => {
      for (const file of files) {
        const id = crypto.randomUUID();
        setStaged((s) => [...s, { id, file }]);
        chat.upload(roomId, file).then(
          (attachment) => setStaged((s) => s.map((x) => (x.id === id ? { ...x, attachment } : x))),
          (error: unknown) => setStaged((s) => s.map((x) => (x.id === id ? { ...x, error } : x))),
        );
      }
    },
    [roomId],
  );

  // Drag and drop anywhere on the room.
  useEffect(() => {
    const room = input.current?.closest('.room');
    if (!room) return;
    let depth = 0;
    const hasFiles = (e: DragEvent) => Array.from(e.dataTransfer?.types ?? []).includes('Files');
    const enter = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth += 1;
      setDragging(true);
    };
    const over = (e: DragEvent) => {
      if (hasFiles(e)) e.preventDefault();
    };
    const leave = () => {
      depth = Math.max(0, depth - 1);
      if (depth === 0) setDragging(false);
    };
    const drop = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth = 0;
      setDragging(false);
      addFiles(Array.from(e.dataTransfer?.files ?? []));
    };
    room.addEventListener('dragenter', enter as EventListener);
    room.addEventListener('dragover', over as EventListener);
    room.addEventListener('dragleave', leave);
    room.addEventListener('drop', drop as EventListener);
    return () => {
      room.removeEventListener('dragenter', enter as EventListener);
      room.removeEventListener('dragover', over as EventListener);
      room.removeEventListener('dragleave', leave);
      room.removeEventListener('drop', drop as EventListener);
    };
  }, [addFiles]);

  const updateCompletion = (value: string, caret: number) => {
    const q = mentionQuery(value, caret);
    if (!q) return setCompletion(undefined);
    const options = (view.members ?? [])
      .filter(
        (m) => m.userId !== session?.userId && m.displayName.toLowerCase().startsWith(q.query.toLowerCase()),
      )
      .slice(0, 6);
    setCompletion(options.length ? { start: q.start, options, index: 0 } : undefined);
  };

  const complete = (member: Member) => {
    const el = input.current;
    if (!el || !completion) return;
    const caret = el.selectionStart;
    const next = `${text.slice(0, completion.start)}@${member.displayName} ${text.slice(caret)}`;
    setText(next);
    setCompletion(undefined);
    const position = completion.start + member.displayName.length + 2;
    requestAnimationFrame(() => el.setSelectionRange(position, position));
  };

  const signalTyping = (value: string) => {
    const now = Date.now();
    if (value && now - typingSent.current > 3_000) {
      typingSent.current = now;
      store.typing(roomId, true);
    } else if (!value && typingSent.current) {
      typingSent.current = 0;
      store.typing(roomId, false);
    }
  };

  const submit = async () => {
    const body = text.trim();
    const ready = staged.filter((s) => s.attachment).map((s) => s.attachment!);
    if (staged.some((s) => !s.attachment && !s.error)) return; // still uploading
    if (!body && ready.length === 0) return;
    setError(undefined);
    if (editing) {
      try {
        await store.edit(roomId, editing.messageId, body);
        setEditing(undefined);
        setText('');
      } catch (e) {
        setError(e);
      }
      return;
    }
    store.send(roomId, body || ready.map((a) => a.filename).join(', '), {
      ...(replyTo ? { replyTo: replyTo.messageId } : {}),
      ...(ready.length ? { attachments: ready } : {}),
    });
    setText('');
    setReplyTo(undefined);
    setStaged([]);
    typingSent.current = 0;
    store.typing(roomId, false);
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (completion) {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        const step = e.key === 'ArrowDown' ? 1 : -1;
        setCompletion({
          ...completion,
          index: (completion.index + step + completion.options.length) % completion.options.length,
        });
        return;
      }
      if (e.key === 'Enter' || e.key === 'Tab') {
        e.preventDefault();
        complete(completion.options[completion.index]!);
        return;
      }
      if (e.key === 'Escape') {
        e.preventDefault();
        setCompletion(undefined);
        return;
      }
    }
    if (e.key === 'Escape' && (replyTo || editing)) {
      setReplyTo(undefined);
      if (editing) setText('');
      setEditing(undefined);
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      void submit();
    }
  };

  const title = roomTitle(view, names, t);
  return (
    <div className={`composer${dragging ? ' composer-dragging' : ''}`}>
      {dragging && <div className="drop-overlay">{t('composer.dropHere')}</div>}
      {(replyTo ?? editing) && (
        <div className="composer-context">
          <span>
            {editing
              ? t('composer.editing')
              : t('composer.replyingTo', { name: names[replyTo!.senderId] ?? replyTo!.senderId })}
            {replyTo && <span className="muted"> — {replyTo.text.slice(0, 80)}</span>}
          </span>
          <button
            type="button"
            className="link-button"
            onClick={() => {
              if (editing) setText('');
              setReplyTo(undefined);
              setEditing(undefined);
            }}
          >
            {t('composer.cancel')}
          </button>
        </div>
      )}
      {staged.length > 0 && (
        <ul className="staged">
          {staged.map((s) => (
            <li key={s.id} className={s.error ? 'staged-item staged-error' : 'staged-item'}>
              <span>
                {s.attachment
                  ? s.file.name
                  : s.error
                    ? `${s.file.name}: ${errorText(t, s.error)}`
                    : t('composer.uploading', { name: s.file.name })}
              </span>
              <button
                type="button"
                className="icon-button"
                aria-label={t('composer.removeAttachment', { name: s.file.name })}
                onClick={() => setStaged((x) => x.filter((y) => y.id !== s.id))}
              >
                ✕
              </button>
            </li>
          ))}
        </ul>
      )}
      {completion && (
        <ul className="completion" role="listbox" id="mention-options" aria-label="@">
          {completion.options.map((m, i) => (
            <li
              key={m.userId}
              role="option"
              id={`mention-${m.userId}`}
              aria-selected={i === completion.index}
              className={i === completion.index ? 'completion-on' : ''}
              onMouseDown={(e) => {
                e.preventDefault();
                complete(m);
              }}
            >
              <Avatar name={m.displayName} id={m.userId} size={22} /> {m.displayName}
            </li>
          ))}
        </ul>
      )}
      <ErrorNote error={error} />
      <div className="composer-row">
        <button
          type="button"
          className="icon-button composer-attach"
          aria-label={t('composer.attach')}
          title={t('composer.attach')}
          onClick={() => fileInput.current?.click()}
        >
          <svg width="20" height="20" viewBox="0 0 24 24" aria-hidden="true">
            <path
              fill="currentColor"
              d="M16.5 6v11.5a4 4 0 0 1-8 0V5a2.5 2.5 0 0 1 5 0v10.5a1 1 0 0 1-2 0V6H10v9.5a2.5 2.5 0 0 0 5 0V5a4 4 0 0 0-8 0v12.5a5.5 5.5 0 0 0 11 0V6h-1.5z"
            />
          </svg>
        </button>
        <input
          ref={fileInput}
          type="file"
          multiple
          hidden
          data-testid="file-input"
          onChange={(e) => {
            addFiles(Array.from(e.target.files ?? []));
            e.target.value = '';
          }}
        />
        <textarea
          ref={input}
          rows={1}
          value={text}
          aria-label={t('composer.label')}
          aria-describedby="composer-hint"
          aria-autocomplete="list"
          aria-controls={completion ? 'mention-options' : undefined}
          aria-activedescendant={
            completion ? `mention-${completion.options[completion.index]?.userId}` : undefined
          }
          placeholder={t('composer.placeholder', { room: title })}
          maxLength={10_000}
          onChange={(e) => {
            setText(e.target.value);
            signalTyping(e.target.value);
            updateCompletion(e.target.value, e.target.selectionStart);
          }}
          onKeyDown={onKeyDown}
          onPaste={(e) => {
            const files = Array.from(e.clipboardData.files);
            if (files.length) {
              e.preventDefault();
              addFiles(files);
            }
          }}
          onBlur={() => {
            if (typingSent.current) {
              typingSent.current = 0;
              store.typing(roomId, false);
            }
          }}
        />
        <button
          type="button"
          className="button button-primary composer-send"
          onClick={() => void submit()}
          disabled={!text.trim() && !staged.some((s) => s.attachment)}
        >
          {t('composer.send')}
        </button>
      </div>
      <p id="composer-hint" className="composer-hint">
        {t('composer.hint')}
      </p>
    </div>
  );
}
