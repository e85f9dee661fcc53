import { defineConfig, type Options } from 'tsup';

/** The build every public package shares: ESM + CJS + .d.ts from src/index.ts. */
export function packageConfig(extra: Options = {}) {
  return defineConfig({
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    // Without the dev path aliases, so workspace packages stay external imports in the .d.ts.
    tsconfig: 'tsconfig.build.json',
    ...extra,
  });
}
