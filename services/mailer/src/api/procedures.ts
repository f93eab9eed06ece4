/**
 * The mailer's WAMP procedures. Callers are services (the router lets only role `service` call
 * `veche.mailer.*`); the gateway checks that an admin procedure's caller is an administrator before it
 * calls, and passes the acting user as `userId`.
 */
import type { Executor } from '@veche/db';
import type { WampService } from '@veche/wamp';
import * as admin from './admin.ts';
import * as preferences from './preferences.ts';

export async function registerProcedures(
  wamp: WampService,
  db: Executor<unknown>,
  unsubscribeSecret: string,
): Promise<void> {
  await wamp.register(admin.procedures.listMails, admin.ListMailsRequest, (args) =>
    admin.listMails(db, args),
  );
  await wamp.register(admin.procedures.getMail, admin.GetMailRequest, (args) => admin.getMail(db, args));
  await wamp.register(admin.procedures.listSuppressions, admin.ListSuppressionsRequest, () =>
    admin.listSuppressions(db),
  );
  await wamp.register(
    admin.procedures.removeSuppression,
    admin.RemoveSuppressionRequest,
    async (args, { log }) => {
      const result = await admin.removeSuppression(db, args);
      log.info(
        { actingUser: args.userId, removed: result.removed },
        'suppression lifted by an administrator',
      );
      return result;
    },
  );
  await wamp.register(
    preferences.preferenceProcedures.setNotificationPreference,
    preferences.SetNotificationPreferenceRequest,
    (args) => preferences.setNotificationPreference(db, args),
  );
  await wamp.register(preferences.preferenceProcedures.unsubscribe, preferences.UnsubscribeRequest, (args) =>
    preferences.unsubscribe(db, unsubscribeSecret, args),
  );
}
