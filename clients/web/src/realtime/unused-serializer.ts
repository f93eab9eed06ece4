// Stands in for autobahn's binary serializers (see vite.config.ts): calling it throws, which autobahn
// catches and reports as "serializer not available".
export default function unavailable(): never {
  throw new Error('binary WAMP serializers are not bundled; the client uses JSON');
}
