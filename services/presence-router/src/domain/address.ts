/**
 * How a client names a user: by user id or by extension number, and extension patterns (`1000*`).
 * User ids are UUIDs (never all digits); an all-digit address of 2 to 8 digits is an extension; a
 * user of a linked deployment is `<userId>@<domain>` (issue 20).
 */
export type Address =
  | { kind: 'user'; userId: string }
  | { kind: 'extension'; extension: string }
  | { kind: 'remote'; userId: string; domain: string };

const userIdPattern = /^[A-Za-z0-9_-]{1,64}$/;
const extensionPattern = /^[0-9]{2,8}$/;
const patternSyntax = /^[0-9*?]{1,16}$/;
const remotePattern = /^([A-Za-z0-9_-]{1,64})@([a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?)$/;

/** The address `text` names, or undefined when it names nothing we know how to address. */
export function parseAddress(text: string): Address | undefined {
  if (extensionPattern.test(text)) return { kind: 'extension', extension: text };
  const remote = remotePattern.exec(text);
  if (remote?.[1] && remote[2]) return { kind: 'remote', userId: remote[1], domain: remote[2] };
  if (/^[0-9]+$/.test(text)) return undefined;
  if (userIdPattern.test(text)) return { kind: 'user', userId: text };
  return undefined;
}

export function isExtensionPattern(text: string): boolean {
  return patternSyntax.test(text) && /[*?]/.test(text);
}

/** `*`: any digits (possibly none), `?`: one digit, anything else: itself. */
export function extensionMatcher(pattern: string): (extension: string) => boolean {
  if (!patternSyntax.test(pattern)) throw new RangeError('not an extension pattern');
  const regex = new RegExp(`^${pattern.replaceAll('*', '[0-9]*').replaceAll('?', '[0-9]')}$`);
  return (extension) => regex.test(extension);
}

/** The same pattern as a SQL LIKE expression (digits need no escaping). */
export function extensionLike(pattern: string): string {
  if (!patternSyntax.test(pattern)) throw new RangeError('not an extension pattern');
  return pattern.replaceAll('*', '%').replaceAll('?', '_');
}
