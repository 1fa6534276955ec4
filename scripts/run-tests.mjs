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
import { readdirSync, readFileSync, statSync } from 'node:fs';
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

// Each file runs in a process group of its own, so that a file that hangs is stopped together
// with the servers it started, and nothing a file started outlives it.
const groups = new Set();
const killGroup = (pid) => {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // The group is empty: every process in it has exited.
  }
};
/** The command lines of the processes in group `pgid` (from /proc; empty where there is none). */
function groupMembers(pgid) {
  const found = [];
  for (const entry of safeList('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command (which may hold spaces) start after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // A zombie has exited already (an orphan whose reaper, PID 1 in a container, may never reap it).
      if (Number(fields[2]) !== pgid || fields[0] === 'Z') continue;
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim();
      found.push(`${entry} ${fields[0]} ${cmd.slice(0, 200)}`);
    } catch {
      // The process exited while we looked.
    }
  }
  return found;
}

/** The processes of the group still there a second after the file ended, which are then killed. */
async function sweepGroup(pid) {
  // Helpers such as tsx's esbuild service exit on their own a moment after the file does.
  let left = groupMembers(pid);
  for (let waited = 0; waited < 1_000 && left.length > 0; waited += 50) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    left = groupMembers(pid);
  }
  if (left.length > 0) killGroup(pid);
  return left;
}
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    for (const pid of groups) killGroup(pid);
    process.exit(130);
  });
}

function runFile(file) {
  return new Promise((done) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--conditions=@clusteros/source', '--import', 'tsx', file], {
      cwd: root,
      env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    groups.add(child.pid);
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    const timer = setTimeout(() => {
      output += `\n[run-tests] ${file} exceeded ${fileTimeoutMs} ms; killing its process group ${child.pid}\n`;
      killGroup(child.pid);
    }, fileTimeoutMs);
    child.on('close', async (code, signal) => {
      clearTimeout(timer);
      const ms = Date.now() - started;
      const left = await sweepGroup(child.pid);
      groups.delete(child.pid);
      const leftovers = left.length > 0;
      if (leftovers) {
        output += `\n[run-tests] processes started by ${file} outlived it (pid state command); killed:\n${left.join('\n')}\n`;
      }
      done({ file, code, signal, leftovers, output: stripAnsi(output), ms });
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
    else if (result.leftovers)
      console.log(
        result.output.slice(result.output.lastIndexOf('[run-tests]')).trimEnd().replace(/^/gm, '     | '),
      );
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
