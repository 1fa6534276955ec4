// Browser tests of the dashboard's web page: a real serveDashboard on 127.0.0.1 (port 0) over a
// fake cluster the tests change, opened in Debian's Chromium through playwright-core. They check
// what an operator relies on: the page loads cleanly under its CSP, lists the nodes with their
// status, follows joins and leaves (on the event and on the periodic refresh), shows live events,
// hands a role off with the typed token (and only with one), renders missing or failing sections
// as text, escapes data, is keyboard usable and fits a phone. The page's clock is paused (the
// Playwright clock), so the 5 s refresh only runs when a test advances it: an update seen after an
// event comes from the event. Every wait has an explicit bound; there are no fixed sleeps.
import { Script } from 'node:vm';
import type { Browser, Page } from 'playwright-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { DashboardServer } from '../src/index.js';
import { PAGE_ASSETS } from '../src/page/assets.js';
import { PAGE_JS } from '../src/page/js.js';
import {
  brokenSources,
  FakeCluster,
  fakeNode,
  launchChromium,
  openPage,
  type PageProblems,
  servePage,
  type WatchedPage,
} from './support/page-harness.js';

/** Bound on any one wait in the browser (a render, a request, a navigation). */
const WAIT_MS = 5_000;
/** The operator's token on the test dashboard. */
const TOKEN = 'secret-token-of-the-test';
/** The page's periodic refresh interval (REFRESH_MS in src/page/js.ts). */
const REFRESH_MS = 5_000;

interface Harness {
  readonly browser: Browser;
  readonly cluster: FakeCluster;
  readonly server: DashboardServer;
  readonly broken: DashboardServer;
}

let starting: Promise<Harness> | undefined;
const opened: WatchedPage[] = [];

/** Starts the servers and the browser once (the first test to need them does); rethrows setup errors in each test. */
function harness(): Promise<Harness> {
  starting ??= (async () => {
    const cluster = new FakeCluster();
    const servers: DashboardServer[] = [];
    try {
      const server = await servePage(cluster.sources(), TOKEN);
      servers.push(server);
      const broken = await servePage(brokenSources(), TOKEN);
      servers.push(broken);
      const browser = await launchChromium();
      return { browser, cluster, server, broken };
    } catch (error) {
      // Close what did start, or its open sockets would keep this process alive.
      await Promise.all(servers.map((s) => s.close()));
      throw error;
    }
  })();
  return starting;
}

/**
 * Resets the fake cluster, opens the page of `server` (the test cluster's by default) in a new
 * browser context with its clock paused, and waits until every section has rendered and the live
 * stream is open.
 */
async function open(
  server?: DashboardServer,
  viewport?: { width: number; height: number },
): Promise<WatchedPage> {
  const h = await harness();
  h.cluster.reset();
  const watched = await openPage(h.browser, WAIT_MS);
  opened.push(watched);
  const { page } = watched;
  if (viewport !== undefined) await page.setViewportSize(viewport);
  const start = Date.now();
  await page.clock.install({ time: start });
  await page.clock.pauseAt(start + 1_000);
  await page.goto(`${(server ?? h.server).url}/`, { timeout: WAIT_MS });
  await page.locator('section[aria-busy="true"]').first().waitFor({ state: 'detached', timeout: WAIT_MS });
  await page.locator('#live-status[data-state="live"]').waitFor({ timeout: WAIT_MS });
  return watched;
}

/** Closes a test's browser context. */
async function done(watched: WatchedPage): Promise<void> {
  await watched.context.close();
  opened.splice(opened.indexOf(watched), 1);
}

/** Asserts nothing went wrong in the page, but for responses matching `expected` (and the console lines about them). */
function assertClean(problems: PageProblems, expected?: RegExp): void {
  const unexpected = problems
    .all()
    .filter((line) => expected === undefined || !(expected.test(line) || /status of 40[19]/.test(line)));
  assert.equal(unexpected, [], `page problems:\n${unexpected.join('\n')}`);
}

const nodeRow = (page: Page, id: string) => page.locator(`#nodes-body tbody tr[data-node-id="${id}"]`);
const leaderRow = (page: Page, role: string) => page.locator(`#leaders-body tbody tr[data-role="${role}"]`);

/** The focused element as `id|TAG|data-role`. */
async function focused(page: Page): Promise<string> {
  return String(
    await page.evaluate(
      "(function (e) { return e ? (e.id || '') + '|' + e.tagName + '|' + (e.getAttribute('data-role') || '') : ''; })(document.activeElement)",
    ),
  );
}

/** Presses Tab until the focused element's description matches `want`; at most `limit` presses. */
async function tabTo(page: Page, want: RegExp, limit = 40): Promise<string> {
  const seen: string[] = [];
  for (let i = 0; i < limit; i++) {
    await page.keyboard.press('Tab');
    const now = await focused(page);
    seen.push(now);
    if (want.test(now)) return now;
  }
  throw new Error(`Tab never reached ${want} in ${limit} presses; focus went: ${seen.join(' → ')}`);
}

test('the page, script, stylesheet and icon are served with a strict CSP and no inline code', async () => {
  const h = await harness();
  for (const [path, type] of [
    ['/', 'text/html'],
    ['/app.js', 'text/javascript'],
    ['/app.css', 'text/css'],
    ['/favicon.svg', 'image/svg+xml'],
  ] as const) {
    const response = await fetch(`${h.server.url}${path}`, { signal: AbortSignal.timeout(WAIT_MS) });
    assert.is(response.status, 200, path);
    assert.ok(response.headers.get('content-type')?.startsWith(type), `${path} content-type`);
    const csp = response.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'self'/, `${path} CSP`);
    assert.match(csp, /script-src 'self'/);
    assert.not.match(csp, /unsafe-inline|unsafe-eval/);
    assert.is(response.headers.get('x-content-type-options'), 'nosniff');
    await response.arrayBuffer();
  }
  const html = PAGE_ASSETS['/']?.body ?? '';
  const scripts = [...html.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)];
  assert.ok(
    scripts.length === 1 && scripts.every((m) => /\bsrc="\/app\.js"/.test(m[0]) && m[1] === ''),
    'one external script',
  );
  assert.not.match(html, /\sstyle=|\son[a-z]+=|<style/i, 'no inline style or handlers');
  new Script(PAGE_JS, { filename: 'app.js' }); // throws on a syntax error
  assert.not.match(
    PAGE_JS,
    /innerHTML|outerHTML|insertAdjacentHTML|document\.write|localStorage|sessionStorage|eval\(/,
  );
});

test('the page loads with no console errors and no failed requests', async () => {
  const watched = await open();
  const { page, problems } = watched;
  assert.is(await page.title(), 'ClusterOS dashboard');
  await page.locator('#cluster-body', { hasText: 'test-cluster' }).waitFor({ timeout: WAIT_MS });
  await page.locator('#status-body', { hasText: 'alpha (n1)' }).waitFor({ timeout: WAIT_MS });
  await page.locator('#jobs-body', { hasText: 'train-model' }).waitFor({ timeout: WAIT_MS });
  await page.locator('#services-body', { hasText: 'disabled' }).waitFor({ timeout: WAIT_MS });
  // k3s: Ready nodes out of all, and etcd voters with the learner that is still catching up.
  await page.locator('#services-body', { hasText: '1 Ready of 2' }).waitFor({ timeout: WAIT_MS });
  await page.locator('#services-body', { hasText: '1 voter, 1 learning' }).waitFor({ timeout: WAIT_MS });
  assertClean(problems);
  await done(watched);
});

test('the node table shows the cluster nodes with their status, roles and capabilities', async () => {
  const watched = await open();
  const { page, problems } = watched;
  const names = await page.locator('#nodes-body tbody tr .name').allTextContents();
  assert.equal(names, ['<img src=x onerror=alert(1)>delta', 'alpha', 'bravo', 'charlie']);
  const statuses = await page.locator('#nodes-body tbody tr .badge').allTextContents();
  assert.equal(statuses, ['dead', 'alive', 'alive', 'suspect']);
  assert.is(await nodeRow(page, 'n3').locator('.badge.status-suspect').count(), 1, 'suspect colour');
  assert.is(await nodeRow(page, 'n4').locator('.badge.status-dead').count(), 1, 'dead colour');
  const alpha = (await nodeRow(page, 'n1').textContent()) ?? '';
  assert.match(alpha, /slurm-controller/);
  assert.match(alpha, /4 CPUs · 8\.0 GiB · x86_64/);
  assert.is(await page.locator('#nodes-body th[scope="col"]').count(), 6, 'column headers');
  assert.is(await page.locator('#node-counts').textContent(), '2 of 4 alive');
  assertClean(problems);
  await done(watched);
});

test('data is inserted as text: markup in a node name or an event stays text', async () => {
  const watched = await open();
  const { page, problems } = watched;
  const dialogs: string[] = [];
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  assert.is(await page.locator('main img').count(), 0, 'no <img> from a node name');
  const h = await harness();
  const event = h.server.dashboard.events.publish({
    kind: 'role',
    type: '<b>boom</b>',
    node: 'n4',
    role: null,
    detail: { reason: '<script>alert(2)</script>' },
  });
  const entry = page.locator(`#timeline li[data-event-id="${event.id}"]`);
  await entry.waitFor({ timeout: WAIT_MS });
  assert.match((await entry.textContent()) ?? '', /<b>boom<\/b>.*reason=<script>alert\(2\)<\/script>/);
  assert.is(await page.locator('#timeline b, #timeline script, main img').count(), 0);
  assert.equal(dialogs, []);
  assertClean(problems);
  await done(watched);
});

test('a node that joins appears after its membership event', async () => {
  const watched = await open();
  const { page, problems } = watched;
  const h = await harness();
  assert.is(await nodeRow(page, 'n5').count(), 0);
  h.cluster.nodes.push(fakeNode('n5', 'echo', 'alive', ['worker'], 8));
  h.server.dashboard.events.publish({ kind: 'membership', type: 'join', node: 'n5', role: null, detail: {} });
  await nodeRow(page, 'n5').waitFor({ timeout: WAIT_MS });
  assert.is(await nodeRow(page, 'n5').locator('.name').textContent(), 'echo');
  assert.is(await nodeRow(page, 'n5').locator('.badge').textContent(), 'alive');
  await page.locator('#node-counts', { hasText: '3 of 5 alive' }).waitFor({ timeout: WAIT_MS });
  // The new node is offered as a handoff target.
  assert.is(await leaderRow(page, 'slurm-controller').locator('option[value="n5"]').count(), 1);
  assertClean(problems);
  await done(watched);
});

test('a node that leaves is shown as left, and one dropped from the list disappears', async () => {
  const watched = await open();
  const { page, problems } = watched;
  const h = await harness();
  h.cluster.node('n2').status = 'left';
  h.server.dashboard.events.publish({
    kind: 'membership',
    type: 'leave',
    node: 'n2',
    role: null,
    detail: {},
  });
  await page.locator('#nodes-body tr[data-node-id="n2"][data-status="left"]').waitFor({ timeout: WAIT_MS });
  assert.is(await nodeRow(page, 'n2').locator('.badge.status-left').textContent(), 'left');
  await page.locator('#node-counts', { hasText: '1 of 4 alive' }).waitFor({ timeout: WAIT_MS });
  assert.is(
    await leaderRow(page, 'slurm-controller').locator('option[value="n2"]').count(),
    0,
    'no longer a target',
  );

  h.cluster.nodes = h.cluster.nodes.filter((n) => n.id !== 'n4');
  h.server.dashboard.events.publish({ kind: 'membership', type: 'reap', node: 'n4', role: null, detail: {} });
  await nodeRow(page, 'n4').waitFor({ state: 'detached', timeout: WAIT_MS });
  assert.equal(await page.locator('#nodes-body tbody tr .name').allTextContents(), [
    'alpha',
    'bravo',
    'charlie',
  ]);
  assertClean(problems);
  await done(watched);
});

test('the periodic refresh picks up a change that came with no event', async () => {
  const watched = await open();
  const { page, problems } = watched;
  const h = await harness();
  h.cluster.node('n3').status = 'dead';
  h.cluster.nodes.push(fakeNode('n6', 'foxtrot', 'alive', []));
  await page.clock.runFor(REFRESH_MS / 2);
  assert.is(await nodeRow(page, 'n6').count(), 0, 'not before the interval');
  await page.clock.runFor(REFRESH_MS / 2);
  await nodeRow(page, 'n6').waitFor({ timeout: WAIT_MS });
  await page.locator('#nodes-body tr[data-node-id="n3"][data-status="dead"]').waitFor({ timeout: WAIT_MS });
  assertClean(problems);
  await done(watched);
});

test('the live timeline shows a published event', async () => {
  const watched = await open();
  const { page, problems } = watched;
  const h = await harness();
  assert.ok(await page.locator('#timeline-empty').isVisible(), 'empty note first');
  assert.is(await page.locator('#timeline').getAttribute('aria-live'), 'polite');
  const event = h.server.dashboard.events.publish({
    kind: 'leadership',
    type: 'leader-acquired',
    node: 'n2',
    role: 'k3s-server',
    detail: { fencing_token: 4 },
  });
  const entry = page.locator(`#timeline li[data-event-id="${event.id}"]`);
  await entry.waitFor({ timeout: WAIT_MS });
  const text = (await entry.textContent()) ?? '';
  for (const part of ['leadership', 'leader-acquired', 'node n2', 'role k3s-server', 'fencing_token=4'])
    assert.ok(text.includes(part), `timeline entry "${text}" has "${part}"`);
  assert.is(await entry.locator('time').getAttribute('datetime'), event.at);
  assert.not.ok(await page.locator('#timeline-empty').isVisible(), 'empty note hidden');
  const second = h.server.dashboard.events.publish({
    kind: 'handoff',
    type: 'handoff-completed',
    node: 'n1',
    role: 'raft',
    detail: {},
  });
  await page.locator(`#timeline li[data-event-id="${second.id}"]`).waitFor({ timeout: WAIT_MS });
  assert.equal(
    await page
      .locator('#timeline li')
      .evaluateAll((items) => items.map((li) => li.getAttribute('data-event-id'))),
    [String(second.id), String(event.id)],
    'newest first',
  );
  assertClean(problems);
  await done(watched);
});

test('without a token every handoff button is disabled; typing one enables them', async () => {
  const watched = await open();
  const { page, problems } = watched;
  const roles = await page.locator('#leaders-body tbody th[scope="row"]').allTextContents();
  assert.equal(roles, ['raft', 'slurm-controller', 'k3s-server', 'ttyd-gateway'], 'raft is offered too');
  const buttons = page.locator('#leaders-body button');
  assert.is(await buttons.count(), 4);
  for (let i = 0; i < 4; i++)
    assert.ok(await buttons.nth(i).isDisabled(), `button ${i} disabled without a token`);
  await page.locator('#token').fill(TOKEN);
  for (let i = 0; i < 4; i++) assert.ok(await buttons.nth(i).isEnabled(), `button ${i} enabled with a token`);
  await page.locator('#token').fill('');
  for (let i = 0; i < 4; i++) assert.ok(await buttons.nth(i).isDisabled(), `button ${i} disabled again`);
  assert.is(await page.locator('#token').getAttribute('type'), 'password');
  assert.is(await page.locator('label[for="token"]').textContent(), 'Action token');
  assertClean(problems);
  await done(watched);
});

test('a handoff POSTs the role, the chosen target and the bearer token, and shows the answer', async () => {
  const watched = await open();
  const { page, problems } = watched;
  const h = await harness();
  await page.locator('#token').fill(TOKEN);
  const row = leaderRow(page, 'slurm-controller');
  assert.equal(
    await row.locator('option').evaluateAll((options) => options.map((o) => o.getAttribute('value'))),
    ['n2'],
    'alive non-holders',
  );
  await row.locator('select').selectOption('n2');
  const posted = page.waitForRequest(
    (r) => r.method() === 'POST' && r.url().endsWith('/roles/slurm-controller/handoff'),
    {
      timeout: WAIT_MS,
    },
  );
  await row.locator('button').click({ timeout: WAIT_MS });
  const request = await posted;
  assert.is(request.headers().authorization, `Bearer ${TOKEN}`);
  assert.equal(request.postDataJSON(), { to: 'n2' });
  const result = page.locator('#handoff-result[data-outcome="ok"]');
  await result.waitFor({ timeout: WAIT_MS });
  assert.match(
    (await result.textContent()) ?? '',
    /slurm-controller to bravo \(n2\): ok \(fencing_token: 13\)/,
  );
  assert.equal(h.cluster.handoffs, [{ role: 'slurm-controller', to: 'n2' }]);
  const stored = String(
    await page.evaluate('JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + location.href'),
  );
  assert.not.ok(stored.includes(TOKEN), 'the token is not stored or put in the URL');
  assertClean(problems);
  await done(watched);
});

test("a refused handoff shows the API's error message", async () => {
  const watched = await open();
  const { page, problems } = watched;
  const h = await harness();
  await page.locator('#token').fill('wrong-token');
  await leaderRow(page, 'k3s-server').locator('button').click({ timeout: WAIT_MS });
  const result = page.locator('#handoff-result[data-outcome="error"]');
  await result.waitFor({ timeout: WAIT_MS });
  assert.match(
    (await result.textContent()) ?? '',
    /k3s-server failed \(HTTP 401\): this action needs Authorization: Bearer <token>/,
  );
  assert.equal(h.cluster.handoffs, [], 'the action never ran');

  h.cluster.node('n2').status = 'suspect'; // the API now refuses the target: the provider says why
  await page.locator('#token').fill(TOKEN);
  await leaderRow(page, 'k3s-server').locator('select').selectOption('n2');
  await leaderRow(page, 'k3s-server').locator('button').click({ timeout: WAIT_MS });
  await page.locator('#handoff-result', { hasText: 'HTTP 409' }).waitFor({ timeout: WAIT_MS });
  assert.match(
    (await page.locator('#handoff-result').textContent()) ?? '',
    /k3s-server failed \(HTTP 409\): node n2 is not alive/,
  );
  assert.equal(h.cluster.handoffs, [{ role: 'k3s-server', to: 'n2' }]);
  assertClean(problems, /\/roles\/k3s-server\/handoff/);
  await done(watched);
});

test('keyboard: Tab reaches the token field and the handoff controls, Enter hands off', async () => {
  const watched = await open();
  const { page, problems } = watched;
  const h = await harness();
  await tabTo(page, /^token\|INPUT/);
  await page.keyboard.type(TOKEN);
  await tabTo(page, /\|SELECT\|raft$/);
  const button = await tabTo(page, /\|BUTTON\|raft$/, 1);
  assert.ok(button.startsWith('handoff-go-'));
  const outline = await page.evaluate('getComputedStyle(document.activeElement).outlineStyle');
  assert.is(outline, 'solid', 'visible focus ring');
  const posted = page.waitForRequest(
    (r) => r.method() === 'POST' && r.url().endsWith('/roles/raft/handoff'),
    {
      timeout: WAIT_MS,
    },
  );
  await page.keyboard.press('Enter');
  await posted;
  await page.locator('#handoff-result[data-outcome="ok"]').waitFor({ timeout: WAIT_MS });
  assert.equal(h.cluster.handoffs, [{ role: 'raft', to: 'n2' }]);
  assertClean(problems);
  await done(watched);
});

test('unavailable and failing sections render as text, not as a crash', async () => {
  const h = await harness();
  const watched = await open(h.broken);
  const { page, problems } = watched;
  const text = async (selector: string) => (await page.locator(selector).textContent()) ?? '';
  assert.match(await text('#nodes-body'), /Unavailable/);
  assert.match(await text('#leaders-body'), /Error: raft store offline/);
  assert.match(await text('#services-body'), /Unavailable/);
  assert.match(await text('#jobs-body'), /Error: squeue: command not found/);
  assert.match(await text('#jobs-body'), /k3s pods\s*Unavailable/);
  assert.match(await text('#cluster-body'), /broken-cluster/);
  assert.match(await text('#cluster-body'), /Nodes\s*Unavailable/);
  assert.match(await text('#status-body'), /lonely \(x1\)/);
  assert.match(await text('#status-body'), /Raft\s*Error: raft store offline/);
  assert.is(await page.locator('#leaders-body button').count(), 0);
  assertClean(problems);
  await done(watched);
});

test('on a phone-sized screen the page does not scroll sideways; tables scroll in their own box', async () => {
  const watched = await open(undefined, { width: 375, height: 740 });
  const { page, problems } = watched;
  const pageWidth = Number(await page.evaluate('document.documentElement.scrollWidth'));
  assert.ok(pageWidth <= 375, `page is ${pageWidth}px wide`);
  const wrap = page.locator('#nodes-body .table-wrap');
  const widths = await wrap.evaluate((w) => [w.scrollWidth, w.clientWidth]);
  assert.ok(widths[0] > widths[1], `the node table scrolls inside its box (${widths.join(' > ')})`);
  assert.ok(await page.locator('#token').isVisible());
  // A refresh keeps the box where the operator scrolled it.
  await wrap.evaluate((w) => {
    w.scrollLeft = 120;
  });
  const h = await harness();
  h.cluster.nodes.push(fakeNode('n7', 'golf', 'alive', []));
  await page.clock.runFor(REFRESH_MS);
  await nodeRow(page, 'n7').waitFor({ timeout: WAIT_MS });
  assert.is(await wrap.evaluate((w) => w.scrollLeft), 120, 'sideways scroll kept across a refresh');
  assertClean(problems);
  await done(watched);
});

test.after(async () => {
  if (starting === undefined) return;
  const h = await starting.catch(() => undefined);
  if (h === undefined) return;
  for (const watched of [...opened]) await watched.context.close().catch(() => undefined);
  await h.browser.close();
  await Promise.all([h.server.close(), h.broken.close()]);
});

test.run();
