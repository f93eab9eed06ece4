/** `@name` completion in the composer: the members whose name starts with what follows the `@`. */
import { useState, type KeyboardEvent } from 'react';
import type { Member } from '../../../api/types.ts';
import { mentionQuery } from '../../../chat/timeline.ts';

export interface Completion {
  start: number;
  options: Member[];
  index: number;
}

export function useMentionCompletion(members: Member[] | undefined, myId: string | undefined) {
  const [completion, setCompletion] = useState<Completion>();

  const update = (value: string, caret: number) => {
    const q = mentionQuery(value, caret);
    if (!q) return setCompletion(undefined);
    const options = (members ?? [])
      .filter((m) => m.userId !== myId && m.displayName.toLowerCase().startsWith(q.query.toLowerCase()))
      .slice(0, 6);
    setCompletion(options.length ? { start: q.start, options, index: 0 } : undefined);
  };

  /** The text with the member's name in place of the `@query`, and where the caret goes. */
  const complete = (text: string, caret: number, member: Member) => {
    const start = completion?.start ?? caret;
    setCompletion(undefined);
    return {
      text: `${text.slice(0, start)}@${member.displayName} ${text.slice(caret)}`,
      caret: start + member.displayName.length + 2,
    };
  };

  /** Arrow keys move, Enter/Tab picks (through `pick`), Escape closes; true when the key was used. */
  const onKeyDown = (e: KeyboardEvent, pick: (member: Member) => void): boolean => {
    if (!completion) return false;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      const step = e.key === 'ArrowDown' ? 1 : -1;
      const count = completion.options.length;
      setCompletion({ ...completion, index: (completion.index + step + count) % count });
      return true;
    }
    if (e.key === 'Enter' || e.key === 'Tab') {
      e.preventDefault();
      pick(completion.options[completion.index]!);
      return true;
    }
    if (e.key === 'Escape') {
      e.preventDefault();
      setCompletion(undefined);
      return true;
    }
    return false;
  };

  return { completion, update, complete, onKeyDown };
}
