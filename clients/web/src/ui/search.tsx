/** Full-text search across the user's rooms. */
import { useState } from 'react';
import { Link } from 'react-router';
import { chat } from '../api/endpoints.ts';
import { useI18n } from '../i18n/index.tsx';
import { Avatar, ErrorNote, useAction } from './common.tsx';
import { useChat } from './context.tsx';
import { MenuButton } from './shell.tsx';

type Hit = Awaited<ReturnType<typeof chat.search>>[number];

export function SearchScreen() {
  const { t, dateTime } = useI18n();
  const rooms = useChat((s) => s.rooms);
  const names = useChat((s) => s.names);
  const [q, setQ] = useState('');
  const [hits, setHits] = useState<Hit[]>();
  const { busy, error, run } = useAction(async () => {
    setHits(await chat.search(q.trim()));
  });
  return (
    <section className="room">
      <header className="room-head">
        <MenuButton />
        <div className="room-title">
          <h1>{t('search.title')}</h1>
        </div>
      </header>
      <div className="search-body">
        <form
          className="search-form"
          role="search"
          onSubmit={(e) => {
            e.preventDefault();
            if (q.trim()) void run();
          }}
        >
          <input
            type="search"
            aria-label={t('search.title')}
            placeholder={t('search.placeholder')}
            value={q}
            onChange={(e) => setQ(e.target.value)}
            autoFocus
          />
          <button className="button button-primary" disabled={busy || !q.trim()}>
            {t('search.submit')}
          </button>
        </form>
        <ErrorNote error={error} />
        {hits && hits.length === 0 && <p className="muted">{t('search.none')}</p>}
        <ul className="search-results">
          {hits?.map(({ message }) => (
            <li key={message.messageId}>
              <Link to={`/rooms/${message.roomId}?seq=${message.seq}`} className="search-hit">
                <Avatar name={names[message.senderId] ?? message.senderId} id={message.senderId} size={32} />
                <div>
                  <div className="message-meta">
                    <span className="sender">{names[message.senderId] ?? message.senderId}</span>
                    <span className="muted small">
                      {t('search.in', { room: rooms[message.roomId]?.room.name ?? '' })}
                    </span>
                    <time className="muted small">{dateTime(message.sentAt)}</time>
                  </div>
                  <div className="message-text">{message.text}</div>
                </div>
              </Link>
            </li>
          ))}
        </ul>
      </div>
    </section>
  );
}
