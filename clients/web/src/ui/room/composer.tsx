/**
 * The composer: text with `@name` completion, files (picker, paste, drop), a reply or an edit in
 * progress, the typing signal; Enter sends through the store's outbox, Shift+Enter starts a line.
 */
import { useEffect, useLayoutEffect, useRef, useState, type KeyboardEvent } from 'react';
import type { Member, Message } from '../../api/types.ts';
import type { RoomView } from '../../chat/store.ts';
import { useI18n } from '../../i18n/index.tsx';
import { ErrorNote } from '../common.tsx';
import { useChatStore, useSession } from '../context.tsx';
import { roomTitle } from '../shell.tsx';
import { composerBus } from './composer-bus.ts';
import { MentionOptions, mentionOptionId, mentionOptionsId } from './composer/mention-options.tsx';
import { ReplyOrEdit } from './composer/reply-or-edit.tsx';
import { StagedList } from './composer/staged-list.tsx';
import { useMentionCompletion } from './composer/use-mention-completion.ts';
import { useStagedFiles } from './composer/use-staged-files.ts';
import { useTypingSignal } from './composer/use-typing-signal.ts';
import { useChatNames } from './names.ts';

export function Composer({ view }: { view: RoomView }) {
  const { t } = useI18n();
  const store = useChatStore();
  const names = useChatNames();
  const session = useSession();
  const roomId = view.room.roomId;
  const [text, setText] = useState('');
  const [replyTo, setReplyTo] = useState<Message>();
  const [editing, setEditing] = useState<Message>();
  const [error, setError] = useState<unknown>();
  const input = useRef<HTMLTextAreaElement>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const files = useStagedFiles(roomId, input);
  const mentions = useMentionCompletion(view.members, session?.userId);
  const typing = useTypingSignal(roomId);

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

  const { clear: clearFiles } = files;
  useEffect(() => {
    setText('');
    setReplyTo(undefined);
    setEditing(undefined);
    clearFiles();
  }, [roomId, clearFiles]);

  // Grow with the text, up to a limit.
  useLayoutEffect(() => {
    const el = input.current;
    if (!el) return;
    el.style.height = 'auto';
    el.style.height = `${Math.min(el.scrollHeight, 200)}px`;
  }, [text]);

  const pick = (member: Member) => {
    const el = input.current;
    if (!el) return;
    const next = mentions.complete(text, el.selectionStart, member);
    setText(next.text);
    requestAnimationFrame(() => el.setSelectionRange(next.caret, next.caret));
  };

  const cancelReplyOrEdit = () => {
    if (editing) setText('');
    setReplyTo(undefined);
    setEditing(undefined);
  };

  const submit = async () => {
    const body = text.trim();
    if (files.uploading) return;
    if (!body && files.ready.length === 0) return;
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
    store.send(roomId, body || files.ready.map((a) => a.filename).join(', '), {
      ...(replyTo ? { replyTo: replyTo.messageId } : {}),
      ...(files.ready.length ? { attachments: files.ready } : {}),
    });
    setText('');
    setReplyTo(undefined);
    files.clear();
    typing.sent();
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (mentions.onKeyDown(e, pick)) return;
    if (e.key === 'Escape' && (replyTo || editing)) cancelReplyOrEdit();
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      void submit();
    }
  };

  const { completion } = mentions;
  return (
    <div className={`composer${files.dragging ? ' composer-dragging' : ''}`}>
      {files.dragging && <div className="drop-overlay">{t('composer.dropHere')}</div>}
      <ReplyOrEdit replyTo={replyTo} editing={editing} onCancel={cancelReplyOrEdit} />
      <StagedList staged={files.staged} onRemove={files.remove} />
      <MentionOptions completion={completion} onPick={pick} />
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
            files.add(Array.from(e.target.files ?? []));
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
          aria-controls={completion ? mentionOptionsId : undefined}
          aria-activedescendant={
            completion ? mentionOptionId(completion.options[completion.index]) : undefined
          }
          placeholder={t('composer.placeholder', { room: roomTitle(view, names, t) })}
          maxLength={10_000}
          onChange={(e) => {
            setText(e.target.value);
            typing.changed(e.target.value);
            mentions.update(e.target.value, e.target.selectionStart);
          }}
          onKeyDown={onKeyDown}
          onPaste={(e) => {
            const pasted = Array.from(e.clipboardData.files);
            if (pasted.length) {
              e.preventDefault();
              files.add(pasted);
            }
          }}
          onBlur={typing.stop}
        />
        <button
          type="button"
          className="button button-primary composer-send"
          onClick={() => void submit()}
          disabled={!text.trim() && files.ready.length === 0}
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
