/**
 * Mail-link tokens used to travel in plain text in account.registered, …password_reset_requested and
 * …email_change_requested, so the event log held every live link (issue 13). The events now carry the
 * token sealed for the mailer; this seals the ones already in the log, so none is readable there and
 * an event not yet relayed still reaches the mailer in the shape it expects. The read model never
 * changes: it keeps only the hashes.
 */
import { sealMailToken, type MailTokenPurpose } from '@veche/contracts';
import { sql, type Migration } from '@veche/db';

const plainFields: Record<string, { field: string; purpose: MailTokenPurpose }> = {
  'account.registered': { field: 'verificationToken', purpose: 'verify_email' },
  'account.password_reset_requested': { field: 'resetToken', purpose: 'reset_password' },
  'account.email_change_requested': { field: 'verificationToken', purpose: 'confirm_email_change' },
};

export function sealedMailTokens(serviceSecret: string): Migration {
  return {
    async up(db) {
      for (const [type, { field, purpose }] of Object.entries(plainFields)) {
        for (;;) {
          const { rows } = await sql<{ global_position: string; user_id: string; token: string }>`
            select global_position, data->>'userId' as user_id, data->>${field} as token
            from events where type = ${type} and data ? ${field}
            order by global_position limit 500`.execute(db);
          if (rows.length === 0) break;
          for (const row of rows) {
            const sealed = sealMailToken(serviceSecret, purpose, row.user_id, row.token);
            await sql`
              update events set data = (data - ${field}) || jsonb_build_object('sealedToken', ${sealed}::text)
              where global_position = ${row.global_position}`.execute(db);
          }
        }
      }
    },
  };
}
