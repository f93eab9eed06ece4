/**
 * Readiness: each service names the dependencies it needs (PostgreSQL, RabbitMQ, the WAMP router, its
 * own start) as checks; `/ready` answers 200 only when every one passes, and lists them either way.
 */
import { sql, type Database } from '@veche/db';

/** True when the dependency is usable now. A check that throws or takes too long counts as false. */
export type ReadinessCheck = () => boolean | Promise<boolean>;
export type ReadinessChecks = Readonly<Record<string, ReadinessCheck>>;

export interface Readiness {
  ready: boolean;
  checks: Record<string, boolean>;
}

/** Runs every check at once, each limited to `timeoutMs`. */
export async function checkReadiness(checks: ReadinessChecks, timeoutMs = 2_000): Promise<Readiness> {
  const results = await Promise.all(
    Object.entries(checks).map(async ([name, check]): Promise<[string, boolean]> => {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      });
      try {
        const passed = await Promise.race([Promise.resolve().then(check), timedOut]);
        return [name, passed === true];
      } catch {
        return [name, false];
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  const checked = Object.fromEntries(results);
  return { ready: results.every(([, passed]) => passed), checks: checked };
}

/** PostgreSQL answers a query through the service's own pool. */
export const postgresCheck =
  (database: Pick<Database<unknown>, 'db'>): ReadinessCheck =>
  async () => {
    await sql`select 1`.execute(database.db);
    return true;
  };
