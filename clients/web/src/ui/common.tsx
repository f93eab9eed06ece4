/** Small shared pieces: form fields, buttons, error text, the language switcher, the brand mark. */
import { useId, useState, type InputHTMLAttributes, type ReactNode } from 'react';
import { ApiError } from '../api/http.ts';
import type { MessageKey } from '../i18n/en.ts';
import { locales, useI18n, type Translate } from '../i18n/index.tsx';

export function Field({
  label,
  hint,
  error,
  ...input
}: {
  label: string;
  hint?: string | undefined;
  error?: string | undefined;
} & InputHTMLAttributes<HTMLInputElement>) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        aria-invalid={error ? true : undefined}
        aria-describedby={hint || error ? `${id}-note` : undefined}
        {...input}
      />
      {(error ?? hint) && (
        <p id={`${id}-note`} className={error ? 'field-error' : 'field-hint'}>
          {error ?? hint}
        </p>
      )}
    </div>
  );
}

/** The user-facing text for a failed call: by stable error code, the server's words as a fallback. */
export function errorText(t: Translate, error: unknown): string {
  if (!(error instanceof ApiError)) return t('error.generic');
  // The gateway's codes are few and stable (libs/errors); validation messages name the field.
  const byCode: Record<string, MessageKey> = {
    network: 'error.network',
    unauthorized: 'error.unauthenticated',
    forbidden: 'error.forbidden',
    not_found: 'error.not_found',
    conflict: 'error.conflict',
    rate_limited: 'error.rate_limited',
    unavailable: 'error.network',
  };
  if (error.code === 'validation') return error.message || t('error.validation');
  const key = byCode[error.code];
  if (key) return t(key);
  return error.message || t('error.generic');
}

export function ErrorNote({ error }: { error: unknown }) {
  const { t } = useI18n();
  if (!error) return null;
  return (
    <p className="alert alert-error" role="alert">
      {errorText(t, error)}
    </p>
  );
}

export function LanguageSwitch() {
  const { locale, setLocale, t } = useI18n();
  return (
    <div className="lang-switch" role="group" aria-label={t('lang.label')}>
      {locales.map((l) => (
        <button
          key={l}
          type="button"
          className={l === locale ? 'chip chip-on' : 'chip'}
          aria-pressed={l === locale}
          onClick={() => setLocale(l)}
        >
          {l === 'en' ? 'English' : 'Русский'}
        </button>
      ))}
    </div>
  );
}

export function Logo({ size = 32 }: { size?: number }) {
  return (
    <svg width={size} height={size} viewBox="0 0 32 32" aria-hidden="true" className="logo">
      <rect width="32" height="32" rx="9" fill="var(--accent)" />
      <path
        d="M8 10h16a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2h-9l-5 4v-4H8a2 2 0 0 1-2-2v-8a2 2 0 0 1 2-2z"
        fill="#fff"
      />
      <circle cx="12" cy="16" r="1.6" fill="var(--accent)" />
      <circle cx="16" cy="16" r="1.6" fill="var(--accent)" />
      <circle cx="20" cy="16" r="1.6" fill="var(--accent)" />
    </svg>
  );
}

export function Avatar({ name, id, size = 36 }: { name: string; id: string; size?: number }) {
  let hash = 0;
  for (const ch of id) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  const hue = hash % 360;
  const initials = name
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((w) => w[0]!.toUpperCase())
    .join('');
  return (
    <span
      className="avatar"
      aria-hidden="true"
      style={{ width: size, height: size, fontSize: size * 0.4, background: `hsl(${hue} 55% 30%)` }}
    >
      {initials || '?'}
    </span>
  );
}

/** Runs an async action with a busy flag and a caught error, for forms. */
export function useAction<A extends unknown[]>(action: (...args: A) => Promise<void>) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const run = async (...args: A) => {
    setBusy(true);
    setError(undefined);
    try {
      await action(...args);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, run, setError };
}

export function Dialog({
  title,
  onClose,
  children,
}: {
  title: string;
  onClose: () => void;
  children: ReactNode;
}) {
  const { t } = useI18n();
  const id = useId();
  return (
    <dialog
      className="dialog"
      aria-labelledby={id}
      ref={(node) => {
        if (node && !node.open) node.showModal();
      }}
      onClose={onClose}
      onClick={(event) => {
        if (event.target === event.currentTarget) onClose();
      }}
    >
      <div className="dialog-body">
        <header className="dialog-head">
          <h2 id={id}>{title}</h2>
          <button type="button" className="icon-button" aria-label={t('common.close')} onClick={onClose}>
            ✕
          </button>
        </header>
        {children}
      </div>
    </dialog>
  );
}
