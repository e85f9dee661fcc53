// prepack of every public package: refuse to pack without a build, or with a build older than the
// sources. `pnpm pack` on a fresh clone would otherwise produce a tarball with no dist/ and exit 0.
// Runs with the package's folder as the working directory (npm and pnpm run lifecycle scripts there).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.cwd();
const { name, main } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));

/** Newest modification time under `folder`, 0 when it does not exist. */
function newest(folder) {
  if (!existsSync(folder)) return 0;
  let t = 0;
  for (const entry of readdirSync(folder, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) t = Math.max(t, statSync(join(entry.parentPath ?? entry.path, entry.name)).mtimeMs);
  }
  return t;
}

const fix = 'run `corepack pnpm build` first, or `corepack pnpm pack:local` from the repository root (it builds, then packs)';
const built = newest(join(dir, 'dist'));
if (!built || (main && !existsSync(join(dir, main)))) {
  console.error(`${name}: dist/ is missing, so the tarball would hold no code; ${fix}.`);
  process.exit(1);
}
if (newest(join(dir, 'src')) > built) {
  console.error(`${name}: dist/ is older than src/, so the tarball would hold a stale build; ${fix}.`);
  process.exit(1);
}
