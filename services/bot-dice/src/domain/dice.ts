/** Dice notation, pure: `2d6+1`, `d20`, `3d8-2`; at most 20 dice of at most 1000 sides. */
export interface Roll {
  count: number;
  sides: number;
  modifier: number;
  rolls: number[];
  total: number;
}

export type Parsed =
  { ok: true; count: number; sides: number; modifier: number } | { ok: false; reason: string };

export function parseDice(args: string): Parsed {
  const text = args.trim().toLowerCase() || '1d6';
  const match = /^(\d{0,2})d(\d{1,4})(?:\s*([+-])\s*(\d{1,4}))?$/.exec(text);
  if (!match) return { ok: false, reason: 'Usage: /roll [N]dS[+M], for example /roll 2d6+1' };
  const count = match[1] ? Number(match[1]) : 1;
  const sides = Number(match[2]);
  const modifier = match[4] ? Number(match[4]) * (match[3] === '-' ? -1 : 1) : 0;
  if (count < 1 || count > 20) return { ok: false, reason: 'Roll between 1 and 20 dice' };
  if (sides < 2 || sides > 1000) return { ok: false, reason: 'Dice have between 2 and 1000 sides' };
  return { ok: true, count, sides, modifier };
}

export function roll(args: string, random: () => number = Math.random): Roll | { error: string } {
  const parsed = parseDice(args);
  if (!parsed.ok) return { error: parsed.reason };
  const rolls = Array.from({ length: parsed.count }, () => 1 + Math.floor(random() * parsed.sides));
  const total = rolls.reduce((sum, value) => sum + value, 0) + parsed.modifier;
  return { ...parsed, rolls, total };
}

export function describe(result: Roll | { error: string }, who: string): string {
  if ('error' in result) return result.error;
  const modifier =
    result.modifier === 0 ? '' : result.modifier > 0 ? ` + ${result.modifier}` : ` − ${-result.modifier}`;
  return `🎲 ${who} rolled ${result.count}d${result.sides}${modifier}: [${result.rolls.join(', ')}]${modifier} = ${result.total}`;
}
