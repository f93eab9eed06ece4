/**
 * Writing to the account and session streams: decide → append at the version the state was read at
 * (a concurrent change fails with `conflict`), a taken e-mail address or extension told apart from
 * other conflicts. The outbox relay tells the rest of the fleet.
 */
import { pgErrorCode, pgErrorCodes } from '@veche/db';
import { conflict, notFound } from '@veche/errors';
import type { AppendContext } from '@veche/event-store';
import { accountStream, decide, type AccountCommand, type AccountState } from '../domain/account.ts';
import type { AccountEvent, SessionEvent } from '../domain/events.ts';
import { appendContext, type AccountsContext, type RequestContext } from './context.ts';

export type ExpectedVersion = number | 'no_stream' | 'any';

export async function append(
  c: AccountsContext,
  streamId: string,
  events: readonly (AccountEvent | SessionEvent)[],
  expectedVersion: ExpectedVersion,
  context: AppendContext,
) {
  try {
    return await c.store.append(streamId, [...events], { expectedVersion, ...context });
  } catch (error) {
    if (pgErrorCode(error) === pgErrorCodes.uniqueViolation) {
      const constraint = (error as { constraint?: string }).constraint ?? '';
      if (constraint.includes('email'))
        throw conflict('This e-mail address is already in use', { details: { field: 'email' } });
      if (constraint.includes('extension'))
        throw conflict('This extension number is taken', { details: { field: 'extension' } });
      throw conflict('Already exists');
    }
    throw error;
  }
}

/**
 * decide → append: the events `command` yields on `account` (or a new account), appended at the
 * version they were decided on unless `expectedVersion` says otherwise. Returns the events appended.
 */
export async function execute(
  c: AccountsContext,
  account: AccountState | undefined,
  command: AccountCommand,
  ctx: RequestContext,
  actor: string,
  expectedVersion: ExpectedVersion = account?.version ?? 'no_stream',
): Promise<AccountEvent[]> {
  const events = decide(account, command);
  if (events.length === 0) return events;
  const userId = account?.userId ?? (command.type === 'register' ? command.facts.userId : undefined);
  if (userId === undefined) throw notFound('No such user');
  await append(c, accountStream(userId), events, expectedVersion, appendContext(ctx, actor));
  return events;
}
