import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { homedir } from 'node:os';

/**
 * mongoimport for the database comparison: on PATH, or built with Go. mongo-tools has no tag the
 * Go module proxy serves, so the commits of tags 100.18.0 and 100.12.2 are tried in the forms the
 * proxy accepts; every refusal is kept word for word for the results.
 */
export function findMongoimport(): { path: string } | { error: string } {
  const onPath = spawnSync('sh', ['-c', 'command -v mongoimport'], { encoding: 'utf8' });
  if (onPath.status === 0) return { path: onPath.stdout.trim() };
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
