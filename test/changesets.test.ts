// Every changeset must parse and name real workspace packages, or `changeset version` fails at
// release time, long after the change that broke it.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import parseChangeset from '@changesets/parse';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));

const workspacePackages = new Set(
  ['packages', 'examples'].flatMap((group) =>
    existsSync(join(root, group))
      ? readdirSync(join(root, group))
          .map((folder) => join(root, group, folder, 'package.json'))
          .filter((file) => existsSync(file))
          .map((file) => JSON.parse(readFileSync(file, 'utf8')).name as string)
      : [],
  ),
);

const changesets = readdirSync(join(root, '.changeset')).filter(
  (f) => f.endsWith('.md') && f !== 'README.md',
);

test('changeset config is independent versioning with public access', () => {
  const config = JSON.parse(readFileSync(join(root, '.changeset', 'config.json'), 'utf8'));
  assert.equal(config.fixed, []);
  assert.equal(config.linked, []);
  assert.is(config.access, 'public');
});

test('every changeset parses and names existing packages with a valid bump', () => {
  for (const file of changesets) {
    const parsed = parseChangeset(readFileSync(join(root, '.changeset', file), 'utf8'));
    assert.ok(parsed.releases.length > 0, `${file} names no package`);
    assert.ok(parsed.summary.trim().length > 0, `${file} has no summary`);
    for (const release of parsed.releases) {
      assert.ok(workspacePackages.has(release.name), `${file} names unknown package ${release.name}`);
      assert.ok(['patch', 'minor', 'major'].includes(release.type), `${file}: bad bump ${release.type}`);
    }
  }
});

test.run();
