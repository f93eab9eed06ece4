/** The files staged for the next message: uploading, ready, or failed with the reason. */
import { useI18n } from '../../../i18n/index.tsx';
import { errorText } from '../../common.tsx';
import type { StagedFile } from './use-staged-files.ts';

export function StagedList({ staged, onRemove }: { staged: StagedFile[]; onRemove: (id: string) => void }) {
  const { t } = useI18n();
  if (staged.length === 0) return null;
  return (
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
            onClick={() => onRemove(s.id)}
          >
            ✕
          </button>
        </li>
      ))}
    </ul>
  );
}
