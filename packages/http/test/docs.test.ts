// Finding 9 of issue 10: docs/options.md documented an `authorize` action the code never passed,
// and `-d` as --delimiter where the CLI makes it --db. These checks tie the page to the code.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HELP } from '../../cli/src/args.js';
import { matchRoute } from '../src/routes.js';

const options = readFileSync(new URL('../../../docs/options.md', import.meta.url), 'utf8');
const security = readFileSync(new URL('../../../docs/security.md', import.meta.url), 'utf8');

describe('docs agree with the code', () => {
  it('every short flag in docs/options.md is the one the CLI gives that option', () => {
    const pairs = [...options.matchAll(/`(--[a-z-]+)`[^|`]*\(`(-[a-z])`\)/g)].map((m) => [m[1]!, m[2]!]);
    expect(pairs.length).toBeGreaterThanOrEqual(3);
    for (const [long, short] of pairs) expect(HELP, `${short} is ${long}`).toContain(`${short}, ${long}`);
  });

  it("the authorize actions in the docs are the ones the routes pass, creation included", () => {
    const row = options.split('\n').find((l) => l.startsWith('| `authorize('))!;
    expect([...row.matchAll(/`(create|upload|watch|cancel|preview)`/g)].map((m) => m[1])).toEqual(['create', 'upload', 'watch', 'cancel', 'preview']);
    expect(matchRoute('POST', '')).toEqual({ name: 'create' });
    expect(matchRoute('POST', '/preview')).toEqual({ name: 'preview' });
    for (const action of ['create', 'upload', 'watch', 'cancel', 'preview']) expect(security).toContain(`| \`${action}\` |`);
  });
});
