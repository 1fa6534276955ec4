/**
 * The dashboard page's HTML shell, served at `/`. Static landmarks only (header, main, one
 * section per API resource, the event timeline as an `aria-live` list); `/app.js` fills the
 * sections with DOM nodes built from the API's JSON. No inline script or style, so the page runs
 * under the strict Content-Security-Policy set in `assets.ts`.
 */

/** `GET /`. */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>ClusterOS dashboard</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body>
<a class="skip-link" href="#main">Skip to content</a>
<header class="top">
  <div class="brand">
    <h1>ClusterOS</h1>
    <p class="muted"><span id="live-status" role="status" data-state="connecting">Connecting to live events…</span>
      <span id="updated" class="muted"></span></p>
  </div>
  <div class="token">
    <label for="token">Action token</label>
    <input id="token" type="password" autocomplete="off" spellcheck="false" aria-describedby="token-help">
    <p id="token-help" class="muted">Needed for handoffs. Kept in this tab's memory only.</p>
  </div>
</header>
<main id="main" tabindex="-1">
  <section id="summary" aria-labelledby="summary-title" aria-busy="true">
    <h2 id="summary-title">Cluster</h2>
    <div class="panels">
      <div class="panel">
        <h3>Overview</h3>
        <div id="cluster-body"><p class="muted">Loading…</p></div>
      </div>
      <div class="panel">
        <h3>This node</h3>
        <div id="status-body"><p class="muted">Loading…</p></div>
      </div>
    </div>
  </section>
  <section id="nodes" aria-labelledby="nodes-title" aria-busy="true">
    <h2 id="nodes-title">Nodes</h2>
    <div id="nodes-body"><p class="muted">Loading…</p></div>
  </section>
  <section id="leaders" aria-labelledby="leaders-title" aria-busy="true">
    <h2 id="leaders-title">Leaders</h2>
    <div id="leaders-body"><p class="muted">Loading…</p></div>
    <p id="handoff-result" role="status" aria-live="polite"></p>
  </section>
  <section id="services" aria-labelledby="services-title" aria-busy="true">
    <h2 id="services-title">Services</h2>
    <div id="services-body"><p class="muted">Loading…</p></div>
  </section>
  <section id="jobs" aria-labelledby="jobs-title" aria-busy="true">
    <h2 id="jobs-title">Jobs</h2>
    <div id="jobs-body"><p class="muted">Loading…</p></div>
  </section>
  <section id="events" aria-labelledby="events-title">
    <h2 id="events-title">Live events</h2>
    <p id="timeline-empty" class="muted">No events since this page opened.</p>
    <ol id="timeline" aria-live="polite" aria-relevant="additions" aria-label="Cluster events, newest first"></ol>
  </section>
</main>
</body>
</html>
`;
