/**
 * Builds the client into dist/ (served at / by the local fleet and by nginx). `vite` (the dev server)
 * proxies /api, /ws and /pubsub to a running fleet, VECHE_ORIGIN (default http://127.0.0.1:3000).
 */
import path from 'node:path';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const origin = process.env['VECHE_ORIGIN'] ?? 'http://127.0.0.1:3000';
// autobahn requires its binary serializers (Node-only cbor and msgpack5) at load time; the client
// speaks JSON only, so they resolve to an empty module instead of dragging Node polyfills in.
const unused = path.resolve(import.meta.dirname, 'src/realtime/unused-serializer.ts');

export default defineConfig({
  root: import.meta.dirname,
  plugins: [react()],
  resolve: { alias: { cbor: unused, msgpack5: unused } },
  define: { global: 'globalThis' },
  build: {
    rolldownOptions: {
      // autobahn's JSON polyfill (for browsers without JSON, never used) holds a direct eval.
      onLog(level, log, handler) {
        if (log.code === 'EVAL' && log.id?.includes('autobahn')) return;
        handler(level, log);
      },
    },
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    target: 'es2022',
    chunkSizeWarningLimit: 400,
  },
  server: {
    proxy: {
      '/api': { target: origin, changeOrigin: false },
      '/ws': { target: origin, ws: true },
      '/pubsub': { target: origin, ws: true },
    },
  },
});
