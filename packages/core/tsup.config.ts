import { packageConfig } from '../../tsup.base.js';

export default packageConfig({
  // The OpenTelemetry integration is its own entry (`@anti-oom/core/otel`), so the main entry
  // never loads @opentelemetry/api, an optional peer. `worker` is the script each worker thread
  // of the `workers` option runs, found next to the entry that starts it.
  entry: { index: 'src/index.ts', otel: 'src/otel.ts', worker: 'src/workers/worker-main.ts' },
  // p-retry is ESM-only; bundled, so the CommonJS build works wherever require(esm) does not help.
  noExternal: ['p-retry', 'is-network-error'],
  // The workers option finds its worker script next to the running entry through import.meta.url,
  // which the CommonJS build gets from this shim.
  shims: true,
});
