/** The `@name` completion list under the composer (a listbox the text area points at). */
import type { Member } from '../../../api/types.ts';
import { Avatar } from '../../common.tsx';
import type { Completion } from './use-mention-completion.ts';

export const mentionOptionsId = 'mention-options';
export const mentionOptionId = (member: Member | undefined) => `mention-${member?.userId}`;

export function MentionOptions({
  completion,
  onPick,
}: {
  completion: Completion | undefined;
  onPick: (member: Member) => void;
}) {
  if (!completion) return null;
  return (
    <ul className="completion" role="listbox" id={mentionOptionsId} aria-label="@">
      {completion.options.map((m, i) => (
        <li
          key={m.userId}
          role="option"
          id={mentionOptionId(m)}
          aria-selected={i === completion.index}
          className={i === completion.index ? 'completion-on' : ''}
          onMouseDown={(e) => {
            e.preventDefault();
            onPick(m);
          }}
        >
          <Avatar name={m.displayName} id={m.userId} size={22} /> {m.displayName}
        </li>
      ))}
    </ul>
  );
}
