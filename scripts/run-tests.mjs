#!/usr/bin/env node
// Runs every uvu test file of the workspace, each in its own Node process (a crash or a leaked
// handle in one file cannot hide the others), two at a time, and ends with the one line CI reads:
// `N passed, N failed` (`, N skipped` only when something was skipped).
//
// Usage: npm test [-- <path or substring> ...]
//   npm test                                   every test file
//   npm test -- packages/sim/test/random.test.ts   one file (what a failing seed's replay command uses)
//   npm test -- sim                            files whose path contains "sim"
// Env: TEST_CONCURRENCY (default 2), TEST_FILE_TIMEOUT_MS (default 600000).
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const filters = process.argv.slice(2).map((f) => f.replace(/^\.\//, ''));
const concurrency = Math.max(1, Number(process.env.TEST_CONCURRENCY ?? 2) || 2);
const fileTimeoutMs = Math.max(1000, Number(process.env.TEST_FILE_TIMEOUT_MS ?? 600_000) || 600_000);

function findTests(dir, out) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries.sort()) {
    if (name === 'node_modules' || name === 'dist' || name === 'fixtures') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) findTests(path, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, path));
  }
  return out;
}

const roots = [];
for (const group of ['packages', 'examples']) {
  for (const name of safeList(join(root, group))) roots.push(join(root, group, name, 'test'));
}
roots.push(join(root, 'test'));
function safeList(dir) {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

let files = roots.flatMap((dir) => findTests(dir, []));
if (filters.length > 0) files = files.filter((file) => filters.some((f) => file === f || file.includes(f)));
if (files.length === 0) {
  console.log(`no test files match ${filters.join(' ') || '(all)'}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

const ESC = String.fromCharCode(27);
const stripAnsi = (text) =>
  text
    .split(ESC)
    .map((part, i) => (i === 0 ? part : part.replace(/^\[[0-9;]*m/, '')))
    .join('');

function runFile(file) {
  return new Promise((done) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--conditions=@clusteros/source', '--import', 'tsx', file], {
      cwd: root,
      env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    const timer = setTimeout(() => {
      output += `\n[run-tests] ${file} exceeded ${fileTimeoutMs} ms; killing pid ${child.pid}\n`;
      child.kill('SIGKILL');
    }, fileTimeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      done({ file, code, signal, output: stripAnsi(output), ms: Date.now() - started });
    });
  });
}

function count(output, label) {
  const matches = [...output.matchAll(new RegExp(`^\\s*${label}:\\s+(\\d+)`, 'gm'))];
  return matches.reduce((sum, m) => sum + Number(m[1]), 0);
}

const totals = { passed: 0, failed: 0, skipped: 0 };
const failedFiles = [];
let next = 0;
async function worker() {
  while (next < files.length) {
    const file = files[next++];
    const result = await runFile(file);
    const total = count(result.output, 'Total');
    const passed = count(result.output, 'Passed');
    const skipped = count(result.output, 'Skipped');
    let failed = Math.max(0, total - passed - skipped);
    // A file that exits non-zero without reporting a failure crashed (or ran no test): count it.
    if ((result.code !== 0 || total === 0) && failed === 0) failed = 1;
    totals.passed += passed;
    totals.failed += failed;
    totals.skipped += skipped;
    if (failed > 0) failedFiles.push(file);
    const status = failed > 0 ? 'FAIL' : 'ok  ';
    const body = failed > 0 || process.env.TEST_VERBOSE ? result.output.trimEnd() : '';
    console.log(`${status} ${file} (${passed} passed, ${failed} failed, ${(result.ms / 1000).toFixed(1)}s)`);
    if (body) console.log(body.replace(/^/gm, '     | '));
  }
}
await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker));

if (failedFiles.length > 0) console.log(`\nfailing files:\n${failedFiles.map((f) => `  ${f}`).join('\n')}`);
if (process.env.CI && totals.skipped > 0) {
  console.log(`\n${totals.skipped} tests were skipped; nothing may be skipped in CI`);
  totals.failed += totals.skipped;
}
const skippedPart = totals.skipped > 0 ? `, ${totals.skipped} skipped` : '';
console.log(`\n${totals.passed} passed, ${totals.failed} failed${skippedPart}`);
process.exit(totals.failed > 0 ? 1 : 0);
