import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  // Without the dev path aliases, so workspace packages stay external imports in the .d.ts.
  tsconfig: 'tsconfig.build.json',
  // p-retry is ESM-only; bundled, so the CommonJS build works wherever require(esm) does not help.
  noExternal: ['p-retry', 'is-network-error'],
});
