/** The gateway's migrations, after the event store's (its names sort first). */
import type { Migrations } from '@veche/db';
import { eventStoreMigrations } from '@veche/event-store';
import { accounts } from './0001-accounts.ts';
import { loginThrottle } from './0002-login-throttle.ts';
import { sealedMailTokens } from './0003-sealed-mail-tokens.ts';
import { kerberos } from './0004-kerberos.ts';
import { wampSessions } from './0005-wamp-sessions.ts';
import { wampSessionKills } from './0006-wamp-session-kills.ts';

/** `mailTokenSecret` seals the mail tokens of events written before they were sealed (0003). */
export function gatewayMigrations(mailTokenSecret: string): Migrations {
  return {
    ...eventStoreMigrations,
    '0001-accounts': accounts,
    '0002-login-throttle': loginThrottle,
    '0003-sealed-mail-tokens': sealedMailTokens(mailTokenSecret),
    '0004-kerberos': kerberos,
    '0005-wamp-sessions': wampSessions,
    '0006-wamp-session-kills': wampSessionKills,
  };
}
