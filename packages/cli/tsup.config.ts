import { readFileSync } from 'node:fs';
import { defineConfig } from 'tsup';
import { packageConfig } from '../../tsup.base.js';

const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as { version: string };
const define = { __ANTI_OOM_CLI_VERSION__: JSON.stringify(version) };

// Two builds into one dist/, so neither cleans it (the build script empties it first).
export default [
  packageConfig({ clean: false, define }),
  // The executable: ESM only, no types; tsup keeps the shebang and marks the file executable.
  defineConfig({ entry: ['src/bin.ts'], format: ['esm'], sourcemap: true, clean: false, target: 'node20', tsconfig: 'tsconfig.build.json', define }),
];
