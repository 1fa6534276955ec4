/**
 * The dashboard page's stylesheet, served at `/app.css`. Small and framework-free: light and dark
 * colour schemes, a visible focus ring on every control, status colours that always come with the
 * status word (never colour alone), and tables that scroll sideways inside their own box on
 * narrow screens instead of widening the page.
 */

/** `GET /app.css`. */
export const PAGE_CSS = `:root {
  color-scheme: light dark;
  --bg: #f6f7f9;
  --fg: #1b1f24;
  --muted: #57606a;
  --card: #ffffff;
  --line: #d0d7de;
  --accent: #0b5cad;
  --focus: #c2410c;
  --alive-bg: #d7f5dd; --alive-fg: #0f5323;
  --suspect-bg: #fff1c2; --suspect-fg: #6b4d00;
  --dead-bg: #ffd8d6; --dead-fg: #8a1c14;
  --left-bg: #e4e7eb; --left-fg: #3d444d;
  --ok-fg: #0f5323;
  --error-fg: #a1170d;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  line-height: 1.45;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0f1419;
    --fg: #e6edf3;
    --muted: #9da7b3;
    --card: #161b22;
    --line: #30363d;
    --accent: #6cb6ff;
    --focus: #ffb86b;
    --alive-bg: #12351c; --alive-fg: #8ee6a4;
    --suspect-bg: #3d3000; --suspect-fg: #ffd866;
    --dead-bg: #4a1512; --dead-fg: #ffaba5;
    --left-bg: #2d333b; --left-fg: #c9d1d9;
    --ok-fg: #8ee6a4;
    --error-fg: #ffaba5;
  }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); font-size: 1rem; }
h1, h2, h3 { line-height: 1.2; margin: 0 0 .5rem; }
h1 { font-size: 1.4rem; }
h2 { font-size: 1.15rem; }
h3 { font-size: 1rem; color: var(--muted); }
* + h3 { margin-top: .75rem; }
p { margin: .25rem 0; }
.muted { color: var(--muted); }
.visually-hidden {
  position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0;
  overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0;
}
.skip-link { position: absolute; left: .5rem; top: -3rem; background: var(--card); color: var(--accent); padding: .5rem; }
.skip-link:focus { top: .5rem; }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.top {
  display: flex; flex-wrap: wrap; gap: 1rem; justify-content: space-between; align-items: flex-end;
  padding: 1rem clamp(.75rem, 3vw, 2rem); background: var(--card); border-bottom: 1px solid var(--line);
}
.token { display: grid; gap: .25rem; min-width: min(100%, 18rem); }
.token label { font-weight: 600; }
input, select, button { font: inherit; color: inherit; }
input, select {
  background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: .35rem .5rem; max-width: 100%;
}
button {
  background: var(--accent); color: #fff; border: 1px solid var(--accent); border-radius: 6px;
  padding: .35rem .75rem; cursor: pointer;
}
@media (prefers-color-scheme: dark) { button { color: #0f1419; } }
button:disabled { opacity: .5; cursor: not-allowed; }
main {
  display: grid; gap: 1rem; grid-template-columns: minmax(0, 1fr);
  padding: 1rem clamp(.75rem, 3vw, 2rem); max-width: 90rem; margin: 0 auto;
}
main:focus { outline: none; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 1rem; min-width: 0; }
@media (min-width: 64rem) {
  main { grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); }
  #summary, #nodes, #leaders, #events { grid-column: 1 / -1; }
}
.panels { display: grid; gap: 1rem; grid-template-columns: repeat(auto-fit, minmax(min(100%, 20rem), 1fr)); }
dl { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: .25rem 1rem; margin: 0; }
dt { font-weight: 600; }
dd { margin: 0; overflow-wrap: anywhere; }
.table-wrap { overflow-x: auto; max-width: 100%; position: relative; }
table { border-collapse: collapse; width: 100%; min-width: 36rem; }
caption { text-align: left; color: var(--muted); padding-bottom: .25rem; }
th, td { text-align: left; padding: .4rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
thead th { font-size: .85rem; color: var(--muted); white-space: nowrap; }
td.num { font-variant-numeric: tabular-nums; }
.id { display: block; font-size: .8rem; color: var(--muted); font-family: ui-monospace, monospace; }
.badge { display: inline-block; padding: .05rem .5rem; border-radius: 999px; font-size: .85rem; font-weight: 600; white-space: nowrap; }
.status-alive { background: var(--alive-bg); color: var(--alive-fg); }
.status-suspect { background: var(--suspect-bg); color: var(--suspect-fg); }
.status-dead { background: var(--dead-bg); color: var(--dead-fg); }
.status-left, .status-unknown { background: var(--left-bg); color: var(--left-fg); }
.tags { display: flex; flex-wrap: wrap; gap: .25rem; list-style: none; margin: 0; padding: 0; }
.tags li { border: 1px solid var(--line); border-radius: 4px; padding: 0 .35rem; font-size: .85rem; }
.note { margin: .25rem 0; font-style: italic; }
.note.unavailable { color: var(--muted); }
.note.error, .outcome-error { color: var(--error-fg); }
.outcome-ok { color: var(--ok-fg); }
.handoff { display: flex; flex-wrap: wrap; gap: .35rem; align-items: center; }
#handoff-result { min-height: 1.5em; font-weight: 600; }
#timeline { list-style: none; margin: 0; padding: 0; max-height: 28rem; overflow-y: auto; }
#timeline li { padding: .4rem 0; border-bottom: 1px solid var(--line); overflow-wrap: anywhere; }
#timeline time { font-family: ui-monospace, monospace; color: var(--muted); margin-right: .5rem; }
#timeline .kind { font-size: .8rem; text-transform: uppercase; letter-spacing: .03em; color: var(--accent); margin-right: .5rem; }
#timeline li.gap { font-style: italic; color: var(--muted); }
@media (max-width: 40rem) {
  .top { align-items: stretch; }
  section { padding: .75rem; }
  dl { grid-template-columns: minmax(0, 1fr); }
  dt { margin-top: .35rem; }
}
`;
