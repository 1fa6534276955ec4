// Installs every packed package into a scratch project, the way a user would, and loads it with
// both `import` and `require`; then runs each package README's example against the installed
// tarball. A broken export map, a missing file in `files`, or a README example that no longer
// runs fails here before it can be published. Needs `npm run build` first.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const scratch = mkdtempSync(join(tmpdir(), 'clusteros-pack-'));

interface Pkg {
  readonly name: string;
  readonly dir: string;
}

const packages: Pkg[] = readdirSync(join(root, 'packages'))
  .sort()
  .map((folder) => join(root, 'packages', folder))
  .filter((dir) => existsSync(join(dir, 'package.json')))
  .map((dir) => ({ name: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name as string, dir }));

function run(command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The first ```ts block under the README's "## Example" heading. */
export function readmeExample(readme: string): string | undefined {
  const section = readme.split(/^## /m).find((part) => part.startsWith('Example'));
  return section?.match(/```ts\n([\s\S]*?)```/)?.[1];
}

test('every package has been built', () => {
  for (const pkg of packages) {
    assert.ok(existsSync(join(pkg.dir, 'dist', 'index.js')), `${pkg.name} has no dist/: run npm run build`);
  }
});

test('packed tarballs install into a fresh project', () => {
  const tarballs = packages.map((pkg) => {
    const out = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', scratch], pkg.dir));
    return join(scratch, out[0].filename as string);
  });
  writeFileSync(join(scratch, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  run(
    'npm',
    [
      'install',
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      '--ignore-scripts',
      '--no-package-lock',
      ...tarballs,
    ],
    scratch,
  );
  for (const pkg of packages) assert.ok(existsSync(join(scratch, 'node_modules', pkg.name, 'package.json')));
});

test('each package loads with import and with require, exporting the same names', () => {
  for (const pkg of packages) {
    writeFileSync(
      join(scratch, 'esm.mjs'),
      `const m = await import(${JSON.stringify(pkg.name)}); console.log(JSON.stringify(Object.keys(m).filter((k) => k !== 'default').sort()));`,
    );
    writeFileSync(
      join(scratch, 'cjs.cjs'),
      `const m = require(${JSON.stringify(pkg.name)}); console.log(JSON.stringify(Object.keys(m).sort()));`,
    );
    const esm = JSON.parse(run(process.execPath, ['esm.mjs'], scratch)) as string[];
    const cjs = JSON.parse(run(process.execPath, ['cjs.cjs'], scratch)) as string[];
    assert.ok(esm.length > 0, `${pkg.name} exports nothing`);
    assert.equal(esm, cjs, `${pkg.name}: ESM and CJS builds export different names`);
  }
});

test('the installed package carries its type declarations for both module systems', () => {
  for (const pkg of packages) {
    const installed = join(scratch, 'node_modules', pkg.name);
    assert.ok(existsSync(join(installed, 'dist', 'index.d.ts')), `${pkg.name}: no index.d.ts`);
    assert.ok(existsSync(join(installed, 'dist', 'index.d.cts')), `${pkg.name}: no index.d.cts`);
  }
});

test("each README's example runs against the installed package", () => {
  const tsx = import.meta.resolve('tsx');
  for (const pkg of packages) {
    const example = readmeExample(readFileSync(join(pkg.dir, 'README.md'), 'utf8'));
    assert.ok(example, `${pkg.name}: README has no \`\`\`ts block under "## Example"`);
    const file = join(scratch, `example-${pkg.name.replace(/\W/g, '_')}.mts`);
    writeFileSync(file, example);
    try {
      run(process.execPath, ['--import', tsx, file], scratch);
    } catch (error) {
      const stderr = (error as { stderr?: string }).stderr ?? '';
      assert.unreachable(`${pkg.name}: README example failed:\n${stderr}`);
    }
  }
});

test.after(() => {
  rmSync(scratch, { recursive: true, force: true });
});

test.run();
