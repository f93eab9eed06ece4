import type { ReactNode } from 'react';
import type { Member } from '../../api/types.ts';
import { useStatus } from '../context.tsx';
import { StatusDot } from '../presence.tsx';

/** A mention of a member carries their status, live. */
function Mention({ token, member }: { token: string; member: Member | undefined }) {
  const status = useStatus(member?.userId);
  return (
    <span className="mention">
      {token}
      {member && <StatusDot status={status} />}
    </span>
  );
}

/** Message text with @mentions and links set apart. */
export function RichText({ text, members }: { text: string; members: Member[] | undefined }) {
  const parts: ReactNode[] = [];
  const pattern = /(https?:\/\/[^\s<]+)|(@[\p{L}\p{N}_.-]+(?: [\p{L}\p{N}_.-]+)?)/gu;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    const index = match.index;
    if (index > last) parts.push(text.slice(last, index));
    if (match[1]) {
      parts.push(
        <a key={index} href={match[1]} target="_blank" rel="noreferrer noopener">
          {match[1]}
        </a>,
      );
      last = index + match[0].length;
    } else {
      // "@First Last": take the second word only when it completes a member's name.
      const full = match[2]!;
      const first = full.split(' ')[0]!;
      const named = (token: string) =>
        members?.find((m) => `@${m.displayName}`.toLowerCase() === token.toLowerCase());
      const known = named(full);
      const token = known ? full : first;
      parts.push(<Mention key={index} token={token} member={known ?? named(first)} />);
      last = index + token.length;
    }
  }
  if (last < text.length) parts.push(text.slice(last));
  return <>{parts}</>;
}
