/** The cool-down state of each log alert (see domain/alert-cool-down.ts), read and moved under a row lock. */
import { sql, type Executor } from '@veche/db';
import { decideAlertMail, type CoolDownDecision } from '../domain/alert-cool-down.ts';

export async function recordAlertFiring(
  db: Executor<unknown>,
  alertId: string,
  firedAt: Date,
  coolDownSeconds: number,
): Promise<CoolDownDecision> {
  await sql`insert into log_alert_mails (alert_id) values (${alertId}) on conflict do nothing`.execute(db);
  const { rows } = await sql<{ last_mailed_at: Date | null; suppressed: number }>`
    select last_mailed_at, suppressed from log_alert_mails where alert_id = ${alertId} for update`.execute(
    db,
  );
  const row = rows[0] ?? { last_mailed_at: null, suppressed: 0 };
  const decision = decideAlertMail(
    { lastMailedAt: row.last_mailed_at, suppressed: row.suppressed },
    firedAt,
    coolDownSeconds,
  );
  if (decision.send) {
    await sql`
      update log_alert_mails set last_mailed_at = ${firedAt}, suppressed = 0, last_fired_at = ${firedAt}
      where alert_id = ${alertId}`.execute(db);
  } else {
    await sql`
      update log_alert_mails set suppressed = suppressed + 1, last_fired_at = ${firedAt}
      where alert_id = ${alertId}`.execute(db);
  }
  return decision;
}
