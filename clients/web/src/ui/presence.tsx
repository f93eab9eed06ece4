/** Status dots (colour and glyph, with the status named for screen readers) and the status picker. */
import { useEffect, useRef, useState } from 'react';
import type { PresenceStatusCode } from '../api/types.ts';
import { useI18n } from '../i18n/index.tsx';
import { pickerOrder, statusFaces } from '../presence/statuses.ts';
import { ErrorNote, useAction } from './common.tsx';
import { usePresence, usePresenceStore } from './context.tsx';

/**
 * A person's status as a dot: `overlay` sits on an avatar's corner; otherwise inline, before a name.
 * Nothing while the status is not known yet.
 */
export function StatusDot({
  status,
  overlay = false,
  labelled = true,
}: {
  status: PresenceStatusCode | undefined;
  overlay?: boolean;
  /** False where the status is named in text next to it (no second announcement). */
  labelled?: boolean;
}) {
  const { t } = useI18n();
  if (status === undefined) return null;
  const face = statusFaces[status];
  const label = t(face.label);
  return (
    <span
      className={`status-dot status-${face.tone}${overlay ? ' status-overlay' : ''}`}
      data-status={status}
      title={label}
      {...(labelled ? { role: 'img', 'aria-label': label } : { 'aria-hidden': true })}
    >
      {face.glyph}
    </span>
  );
}

/** The signed-in person's status: a button naming it, opening the eight statuses and "automatic". */
export function StatusPicker() {
  const { t } = useI18n();
  const store = usePresenceStore();
  const mine = usePresence((s) => s.mine);
  const [open, setOpen] = useState(false);
  const box = useRef<HTMLDivElement>(null);
  const { busy, error, run } = useAction(async (status: PresenceStatusCode | null) => {
    await store.choose(status);
    setOpen(false);
  });
  useEffect(() => {
    if (!open) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') setOpen(false);
    };
    const onDown = (e: PointerEvent) => {
      if (box.current && !box.current.contains(e.target as Node)) setOpen(false);
    };
    window.addEventListener('keydown', onKey);
    window.addEventListener('pointerdown', onDown);
    box.current?.querySelector<HTMLButtonElement>('[aria-checked="true"]')?.focus();
    return () => {
      window.removeEventListener('keydown', onKey);
      window.removeEventListener('pointerdown', onDown);
    };
  }, [open]);
  const current = mine?.status;
  const chosen = mine?.chosen ?? null;
  return (
    <div className="status-picker" ref={box}>
      <button
        type="button"
        className="status-button"
        aria-haspopup="menu"
        aria-expanded={open}
        aria-label={t('presence.myStatus', {
          status: current === undefined ? t('common.loading') : t(statusFaces[current].label),
        })}
        data-testid="my-status"
        onClick={() => setOpen(!open)}
      >
        <StatusDot status={current} labelled={false} />
        <span className="status-button-label">
          {current === undefined ? '…' : t(statusFaces[current].label)}
        </span>
      </button>
      {open && (
        <div className="status-menu" role="menu" aria-label={t('presence.choose')}>
          <button
            type="button"
            role="menuitemradio"
            aria-checked={chosen === null}
            className="status-option"
            disabled={busy}
            onClick={() => void run(null)}
          >
            <span className="status-dot status-auto" aria-hidden="true">
              A
            </span>
            <span>
              {t('presence.automatic')}
              <span className="muted small status-hint">{t('presence.automaticHint')}</span>
            </span>
          </button>
          {pickerOrder.map((code) => (
            <button
              key={code}
              type="button"
              role="menuitemradio"
              aria-checked={chosen === code}
              className="status-option"
              disabled={busy}
              onClick={() => void run(code)}
            >
              <StatusDot status={code} labelled={false} />
              <span>{t(statusFaces[code].label)}</span>
            </button>
          ))}
        </div>
      )}
      {open && <ErrorNote error={error} />}
    </div>
  );
}
