/**
 * Mails no longer store the token of their link (issue 13): the bodies hold a placeholder and
 * `link_token` the token as the gateway sealed it, opened only when the mail goes to SMTP. Finished
 * mails stored before keep their content, their tokens blanked out; mails still to send keep theirs
 * (they are sent as stored) and the admin views hide them.
 */
import { sql, type Migration } from '@veche/db';

export const linkTokens: Migration = {
  async up(db) {
    await sql`alter table mails add column link_token jsonb`.execute(db);
    await sql`
      update mails set
        text_body = regexp_replace(text_body, '([?&]token=)[A-Za-z0-9._~%-]+', '\\1REDACTED', 'g'),
        html_body = regexp_replace(html_body, '([?&]token=)[A-Za-z0-9._~%-]+', '\\1REDACTED', 'g')
      where category = 'security' and state in ('sent', 'failed', 'suppressed')`.execute(db);
  },
};
