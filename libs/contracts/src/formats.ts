/**
 * The string formats the contracts use, registered for TypeBox's `Value.Check` (services validate
 * WAMP arguments and realtime payloads with it; without a registered format every value fails).
 * The gateway's HTTP validation (ajv) knows them already.
 */
import { FormatRegistry } from '@sinclair/typebox';

/** RFC 3339 date-time, as `Date.prototype.toISOString` writes it (and with an offset). */
const dateTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

if (!FormatRegistry.Has('date-time')) {
  FormatRegistry.Set('date-time', (value) => dateTime.test(value) && !Number.isNaN(Date.parse(value)));
}
