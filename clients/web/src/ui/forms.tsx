/**
 * Pieces the settings and administration forms share: the settings form with its notes and save
 * button, the "saved" note, a set of radio choices, a list of people each with a remove button, and a
 * labelled select.
 */
import type { ReactNode } from 'react';
import { useI18n } from '../i18n/index.tsx';
import { Avatar, ErrorNote } from './common.tsx';

/** The note a form shows once the server has accepted what it sent. */
export function SavedNote({ saved }: { saved: boolean }) {
  const { t } = useI18n();
  if (!saved) return null;
  return (
    <p className="alert alert-ok" role="status">
      {t('settings.saved')}
    </p>
  );
}

/** A settings form: the error or "saved" note above its fields, the save button below. */
export function SettingsForm({
  error,
  saved,
  busy,
  onSubmit,
  children,
}: {
  error: unknown;
  saved: boolean;
  busy: boolean;
  onSubmit: () => void;
  children: ReactNode;
}) {
  const { t } = useI18n();
  return (
    <form
      className="stack narrow"
      onSubmit={(e) => {
        e.preventDefault();
        onSubmit();
      }}
    >
      <ErrorNote error={error} />
      <SavedNote saved={saved} />
      {children}
      <button className="button button-primary" disabled={busy}>
        {t('settings.save')}
      </button>
    </form>
  );
}

export interface Choice<V extends string> {
  value: V;
  label: string;
}

/** One choice out of a few, as radio buttons in a fieldset. */
export function RadioChoice<V extends string>({
  legend,
  name,
  options,
  value,
  onChange,
}: {
  legend: string;
  name: string;
  options: readonly Choice<V>[];
  value: V;
  onChange: (value: V) => void;
}) {
  return (
    <fieldset className="choice">
      <legend>{legend}</legend>
      {options.map((o) => (
        <label key={o.value} className="choice-option">
          <input
            type="radio"
            name={name}
            value={o.value}
            checked={value === o.value}
            onChange={() => onChange(o.value)}
          />
          {o.label}
        </label>
      ))}
    </fieldset>
  );
}

/** People (by user id) with their avatar and name, each with a button that removes them. */
export function PersonList({
  userIds,
  nameOf,
  removeLabel,
  onRemove,
  busy = false,
  testId,
}: {
  userIds: readonly string[];
  nameOf: (userId: string) => string;
  removeLabel: (name: string) => string;
  onRemove: (userId: string) => void;
  busy?: boolean;
  testId: string;
}) {
  return (
    <ul className="privacy-list" data-testid={testId}>
      {userIds.map((userId) => (
        <li key={userId} className="privacy-person">
          <Avatar name={nameOf(userId)} id={userId} size={28} />
          <span className="privacy-name">{nameOf(userId)}</span>
          <button
            type="button"
            className="button button-ghost"
            disabled={busy}
            aria-label={removeLabel(nameOf(userId))}
            onClick={() => onRemove(userId)}
          >
            ✕
          </button>
        </li>
      ))}
    </ul>
  );
}

/** A labelled select over names, with an empty first option ("—", nothing chosen yet). */
export function NameSelect({
  label,
  value,
  names,
  onChange,
}: {
  label: string;
  value: string;
  names: readonly string[];
  onChange: (value: string) => void;
}) {
  return (
    <label className="field">
      <span className="label">{label}</span>
      <select value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">—</option>
        {names.map((name) => (
          <option key={name} value={name}>
            {name}
          </option>
        ))}
      </select>
    </label>
  );
}
