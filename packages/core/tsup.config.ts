import { packageConfig } from '../../tsup.base.js';

export default packageConfig({
  // The OpenTelemetry integration is its own entry (`@anti-oom/core/otel`), so the main entry
  // never loads @opentelemetry/api, an optional peer.
  entry: { index: 'src/index.ts', otel: 'src/otel.ts' },
  // p-retry is ESM-only; bundled, so the CommonJS build works wherever require(esm) does not help.
  noExternal: ['p-retry', 'is-network-error'],
});
