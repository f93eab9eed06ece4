/** Starts the gateway (see app.ts); `--help` lists its configuration. */
import { runService } from '@veche/service';
import { createGateway } from './app.ts';
import { gatewayEnvSchema, loadGatewayConfig } from './env.ts';

await runService({
  name: 'gateway',
  title:
    'Veche gateway: the public /api, accounts and sessions, and the WAMP router’s authenticator and authorizer. ' +
    'VECHE_INTERNAL_URL_<SERVICE> variables give the internal HTTP address of services with streamed routes.',
  env: gatewayEnvSchema,
  loadConfig: loadGatewayConfig,
  create: createGateway,
});
