import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { homedir } from 'node:os';

/** Where the project's shared tools keep a mongoimport built from mongo-tools' source (Apache-2.0). */
const SHARED = ['shared', 'tools', 'mongoimport', 'mongoimport'];
const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * mongoimport for the clients comparison: on PATH; else the one built from source next to the
 * checkout (`../shared/tools/mongoimport/mongoimport` from the repository, wherever it was cloned),
 * or at /work/shared/tools/mongoimport/mongoimport; else built with Go. mongo-tools has no tag the
 * Go module proxy serves, so the commits of tags 100.18.0 and 100.12.2 are tried in the forms the
 * proxy accepts; every refusal is kept word for word for the results.
 */
export function findMongoimport(): { path: string } | { error: string } {
  const onPath = spawnSync('sh', ['-c', 'command -v mongoimport'], { encoding: 'utf8' });
  if (onPath.status === 0) return { path: onPath.stdout.trim() };
  for (const candidate of [join(REPO, '..', ...SHARED), join('/work', ...SHARED)]) {
    if (isExecutable(candidate)) return { path: candidate };
  }
  const bin = join(homedir(), '.cache', 'anti-oom', 'mongoimport-bin');
  const built = join(bin, 'main');
  if (existsSync(built)) return { path: built };
  mkdirSync(bin, { recursive: true });
  const errors: string[] = [];
  for (const version of ['21a342dfee64', 'v0.0.0-20250101000000-21a342dfee64', 'f76a3ae40297']) {
    const r = spawnSync('go', ['install', `github.com/mongodb/mongo-tools/mongoimport/main@${version}`], {
      encoding: 'utf8',
      env: { ...process.env, CGO_ENABLED: '0', GOBIN: bin },
      timeout: 600_000,
    });
    if (r.status === 0 && existsSync(built)) return { path: built };
    const said = (r.stderr || r.error?.message || '').trim().split('\n').join(' ');
    // The proxy's address is this machine's business; the refusal itself is what matters.
    errors.push(`go install github.com/mongodb/mongo-tools/mongoimport/main@${version}: ${said.replace(/https?:\/\/[^/\s]+/g, '<module proxy>')}`);
  }
  return { error: errors.join('\n') };
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
