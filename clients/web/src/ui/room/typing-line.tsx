/** Who is typing in the room, in one polite live line. */
import type { RoomView } from '../../chat/store.ts';
import { useI18n } from '../../i18n/index.tsx';
import { useChatNames } from './names.ts';

export function TypingLine({ view }: { view: RoomView }) {
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
