/** The banner above the composer while it answers a message or edits one of the caller's. */
import type { Message } from '../../../api/types.ts';
import { useI18n } from '../../../i18n/index.tsx';
import { useChatNames } from '../names.ts';

export function ReplyOrEdit({
  replyTo,
  editing,
  onCancel,
}: {
  replyTo: Message | undefined;
  editing: Message | undefined;
  onCancel: () => void;
}) {
  const { t } = useI18n();
  const names = useChatNames();
  if (!replyTo && !editing) return null;
  return (
    <div className="composer-context">
      <span>
        {editing
          ? t('composer.editing')
          : t('composer.replyingTo', { name: names[replyTo!.senderId] ?? replyTo!.senderId })}
        {replyTo && <span className="muted"> — {replyTo.text.slice(0, 80)}</span>}
      </span>
      <button type="button" className="link-button" onClick={onCancel}>
        {t('composer.cancel')}
      </button>
    </div>
  );
}
