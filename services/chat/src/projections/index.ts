/**
 * The chat's read models, as the event store's rebuild command reads them:
 * `node libs/event-store/bin/rebuild-read-models.ts --read-models services/chat/src/projections/index.ts --schema chat`.
 */
import type { ReadModels } from '@veche/event-store';
import { readModelProjection } from './read-model.ts';

export const readModels: ReadModels = [readModelProjection];
