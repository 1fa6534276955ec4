/**
 * The dashboard page's script, served at `/app.js` (an external file, so the page's CSP needs no
 * 'unsafe-inline'). Vanilla JS, no build step. It fetches the JSON API, renders each section with
 * DOM nodes (text always goes in through text nodes or `textContent`, never `innerHTML`), listens
 * to `/api/v1/events` over SSE for the live timeline, re-fetches on events and every 5 s, and
 * sends handoffs with the bearer token the operator typed (read from the field at click time;
 * never stored anywhere else). Kept free of backticks, `${` and backslashes so the template literal
 * holding it is the file byte for byte.
 */

/** `GET /app.js`. */
export const PAGE_JS = `(function () {
  'use strict';

  var API = '/api/v1';
  var REFRESH_MS = 5000;
  var MAX_EVENTS = 200;

  function byId(id) { return document.getElementById(id); }

  /** Builds an element; children are nodes or strings (inserted as text, never parsed as HTML). */
  function h(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        var value = attrs[key];
        if (value === undefined || value === null || value === false) return;
        if (key === 'class') node.className = value;
        else node.setAttribute(key, value === true ? '' : String(value));
      });
    }
    (children || []).forEach(function (child) {
      if (child === undefined || child === null) return;
      node.append(child instanceof Node ? child : String(child));
    });
    return node;
  }

  /** Whether a section is the API's 'unavailable' or 'error' marker rather than data. */
  function isMarker(value) {
    if (!value || typeof value !== 'object' || Array.isArray(value)) return false;
    var keys = Object.keys(value);
    if (value.state === 'unavailable' && keys.length === 1) return true;
    return value.state === 'error' && keys.length === 2 && typeof value.message === 'string';
  }

  /** How a missing section reads. */
  function note(marker, tag) {
    if (marker.state === 'unavailable')
      return h(tag || 'p', { class: 'note unavailable' }, ['Unavailable: no provider for this on this node.']);
    return h(tag || 'p', { class: 'note error' }, ['Error: ' + marker.message]);
  }

  /** A section's value as a node: the render of its data, or its marker's note. */
  function part(value, render, tag) {
    return isMarker(value) ? note(value, tag) : render(value);
  }

  function bytes(n) {
    if (typeof n !== 'number' || !isFinite(n)) return '?';
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 || n >= 100 ? Math.round(n) : n.toFixed(1)) + ' ' + units[i];
  }

  function plural(n, one, many) { return n + ' ' + (n === 1 ? one : many); }

  function clock(iso) {
    var date = new Date(iso);
    return isNaN(date.getTime()) ? String(iso) : date.toLocaleTimeString();
  }

  function ago(iso) {
    var at = new Date(iso).getTime();
    if (isNaN(at)) return String(iso);
    var s = Math.round((Date.now() - at) / 1000);
    if (s < 5) return 'just now';
    if (s < 90) return s + ' s ago';
    if (s < 5400) return Math.round(s / 60) + ' min ago';
    if (s < 172800) return Math.round(s / 3600) + ' h ago';
    return Math.round(s / 86400) + ' d ago';
  }

  /** A <time> for an ISO string, or a dash. */
  function when(iso, relative) {
    if (!iso) return h('span', { class: 'muted' }, ['—']);
    return h('time', { datetime: iso, title: iso }, [relative ? ago(iso) : clock(iso)]);
  }

  function list(items) {
    if (items.length === 0) return h('span', { class: 'muted' }, ['none']);
    return h('ul', { class: 'tags' }, items.map(function (item) { return h('li', null, [item]); }));
  }

  /** A <dl> from [label, value] pairs. */
  function fields(pairs) {
    var dl = h('dl');
    pairs.forEach(function (pair) { dl.append(h('dt', null, [pair[0]]), h('dd', null, [pair[1]])); });
    return dl;
  }

  /**
   * A table with a caption, column headers and (optionally) a row header in the first column, in a
   * box that scrolls sideways; 'key' names the box so a re-render keeps its scroll and focus.
   */
  function table(key, caption, columns, rows, rowHeader) {
    var head = h('tr', null, columns.map(function (c) { return h('th', { scope: 'col' }, [c]); }));
    var body = h('tbody', null, rows.map(function (row) {
      var tr = h('tr', row.attrs || null);
      row.cells.forEach(function (cell, i) {
        tr.append(i === 0 && rowHeader ? h('th', { scope: 'row' }, [cell]) : h('td', null, [cell]));
      });
      return tr;
    }));
    var t = h('table', null, [h('caption', { class: 'visually-hidden' }, [caption]), h('thead', null, [head]), body]);
    return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption, 'data-key': key }, [t]);
  }

  /** Replaces a section's content, keeping each table box's sideways scroll and keyboard focus. */
  function setBody(id, node) {
    var body = byId(id);
    var scrolled = {};
    body.querySelectorAll('.table-wrap').forEach(function (w) { scrolled[w.getAttribute('data-key')] = w.scrollLeft; });
    var active = document.activeElement;
    var focusKey = active && body.contains(active) && active.classList.contains('table-wrap') ? active.getAttribute('data-key') : null;
    body.replaceChildren(node);
    body.querySelectorAll('.table-wrap').forEach(function (w) {
      var key = w.getAttribute('data-key');
      if (scrolled[key]) w.scrollLeft = scrolled[key];
      if (key === focusKey) w.focus({ preventScroll: true });
    });
  }

  function loaded(sectionId) { byId(sectionId).setAttribute('aria-busy', 'false'); }

  function failure(error) {
    return { state: 'error', message: 'request failed: ' + (error && error.message ? error.message : String(error)) };
  }

  /** GET an API path; resolves to the JSON body or rejects with the API's error message. */
  function getJson(path) {
    return fetch(API + path, { headers: { accept: 'application/json' }, cache: 'no-store' }).then(function (res) {
      return res.json().catch(function () { return null; }).then(function (body) {
        if (!res.ok) {
          var message = body && body.error && typeof body.error.message === 'string' ? body.error.message : 'HTTP ' + res.status;
          throw new Error(message);
        }
        if (body === null || typeof body !== 'object') throw new Error('the answer was not JSON');
        return body;
      });
    });
  }

  /** Runs an async render; calls while one runs are folded into one more run after it. */
  function coalesce(run) {
    var running = false;
    var again = false;
    return function go() {
      if (running) { again = true; return Promise.resolve(); }
      running = true;
      again = false;
      return Promise.resolve().then(run).catch(function (error) { console.warn('dashboard refresh', error); })
        .then(function () {
          running = false;
          if (again) return go();
        });
    };
  }

  function stamp() { byId('updated').textContent = '· updated ' + new Date().toLocaleTimeString(); }

  // ---- Summary (/cluster and /status) ----------------------------------------------------------

  function renderCluster(c) {
    if (isMarker(c)) return note(c);
    var noMembership = c.membership && c.membership.state !== 'ok' ? c.membership : null;
    var membership = function (render) { return noMembership ? note(noMembership, 'span') : render(); };
    var roles = Object.keys(c.role_distribution || {}).sort().map(function (role) {
      return role + ' × ' + c.role_distribution[role];
    });
    var merge = part(c.merge, function (m) {
      if (m === null) return 'none';
      return m.state + ' with ' + m.peer_cluster + (m.needs_approval ? ' (needs approval)' : '');
    }, 'span');
    var cap = c.capacity || { cpu_cores: 0, ram_bytes: 0, gpus: 0 };
    return fields([
      ['Name', c.name || '—'],
      ['Location', [c.region, c.datacenter].filter(Boolean).join(' / ') || '—'],
      ['Nodes', membership(function () {
        return h('span', { id: 'node-counts' }, [c.alive_nodes + ' of ' + c.total_nodes + ' alive']);
      })],
      ['Capacity', membership(function () {
        return plural(cap.cpu_cores, 'CPU core', 'CPU cores') + ', ' + bytes(cap.ram_bytes) + ' RAM, ' + plural(cap.gpus, 'GPU', 'GPUs');
      })],
      ['Roles', membership(function () { return list(roles); })],
      ['Merge', merge],
    ]);
  }

  function renderStatus(s) {
    if (isMarker(s)) return note(s);
    return fields([
      ['Node', part(s.node, function (n) { return n.name + ' (' + n.id + ')'; }, 'span')],
      ['Network', part(s.network, function (n) {
        return n.provider + ': ' + (n.connected ? 'connected' : 'disconnected') + (n.ip ? ', ' + n.ip : '') + ', ' + plural(n.peer_count, 'peer', 'peers');
      }, 'span')],
      ['Members', part(s.discovery, function (d) {
        return d.members + ' known, ' + d.alive + ' alive, ' + d.suspect + ' suspect';
      }, 'span')],
      ['Raft', part(s.leadership, function (l) {
        var leader = l.raft_leader === null ? 'no leader' : 'leader ' + l.raft_leader;
        return leader + (l.is_leader ? ' (this node)' : '') + ', term ' + l.term;
      }, 'span')],
      ['Roles', part(s.roles, function (roles) {
        return list(Object.keys(roles).sort().map(function (name) {
          var r = roles[name];
          var state = r.running ? (r.healthy ? 'healthy' : 'unhealthy') : 'stopped';
          return name + ': ' + state + (r.leader ? ', leader' : '');
        }));
      }, 'span')],
      ['Services', part(s.services, function (services) {
        return list(Object.keys(services).sort().map(function (name) { return name + ': ' + services[name].state; }));
      }, 'span')],
      ['Resources', part(s.resources, function (r) {
        return 'CPU ' + Math.round(r.cpu_percent) + '%, load ' + r.load.map(function (x) { return x.toFixed(2); }).join(' ') +
          ', memory ' + bytes(r.memory_used) + ' / ' + bytes(r.memory_total) + ', disk ' + bytes(r.disk_used) + ' / ' + bytes(r.disk_total);
      }, 'span')],
    ]);
  }

  // ---- Nodes -------------------------------------------------------------------------------------

  var STATUSES = ['alive', 'suspect', 'dead', 'left'];
  var aliveNodes = [];

  function capabilities(c) {
    if (!c) return h('span', { class: 'muted' }, ['unknown']);
    var parts = [plural(c.cpu_cores, 'CPU', 'CPUs'), bytes(c.ram_bytes)];
    if (c.gpus > 0) parts.push(plural(c.gpus, 'GPU', 'GPUs'));
    parts.push(c.arch);
    return parts.join(' · ');
  }

  function renderNodes(nodes) {
    if (isMarker(nodes)) return note(nodes);
    if (nodes.length === 0) return h('p', { class: 'muted' }, ['No nodes known.']);
    var sorted = nodes.slice().sort(function (a, b) { return a.name < b.name ? -1 : a.name > b.name ? 1 : 0; });
    var rows = sorted.map(function (n) {
      var status = STATUSES.indexOf(n.status) >= 0 ? n.status : 'unknown';
      var a = n.addresses || {};
      return {
        attrs: { 'data-node-id': n.id, 'data-status': status },
        cells: [
          h('span', null, [h('span', { class: 'name' }, [n.name]), h('span', { class: 'id' }, [n.id])]),
          h('span', { class: 'badge status-' + status }, [n.status]),
          list(n.roles || []),
          capabilities(n.capabilities),
          a.tailscale_ip || a.wireguard_ip || a.gossip || '—',
          when(n.last_seen, true),
        ],
      };
    });
    return table('nodes', 'Nodes: ' + plural(nodes.length, 'node', 'nodes'), ['Node', 'Status', 'Roles', 'Capabilities', 'Address', 'Last seen'], rows, true);
  }

  var refreshNodes = coalesce(function () {
    return Promise.all([
      getJson('/cluster').catch(failure),
      getJson('/status').catch(failure),
      getJson('/nodes').then(function (b) { return b.nodes; }).catch(failure),
    ]).then(function (results) {
      setBody('cluster-body', renderCluster(results[0]));
      setBody('status-body', renderStatus(results[1]));
      loaded('summary');
      var nodes = results[2];
      setBody('nodes-body', renderNodes(nodes));
      loaded('nodes');
      aliveNodes = isMarker(nodes) ? [] : nodes.filter(function (n) { return n.status === 'alive'; })
        .map(function (n) { return { id: n.id, name: n.name }; })
        .sort(function (a, b) { return a.name < b.name ? -1 : a.name > b.name ? 1 : 0; });
      updateTargets();
      stamp();
    });
  });

  // ---- Leaders and handoff -----------------------------------------------------------------------
  // Rows are kept per role and updated in place, so a refresh never steals focus or the chosen target.

  var tokenInput = byId('token');
  var result = byId('handoff-result');
  var leaderRows = new Map();
  var leadersTbody = null;
  var rowCounter = 0;

  function makeLeaderRow(role) {
    var n = ++rowCounter;
    var select = h('select', { id: 'handoff-to-' + n, 'data-role': role });
    var button = h('button', { type: 'button', id: 'handoff-go-' + n, 'data-role': role, 'aria-label': 'Hand off ' + role }, ['Hand off']);
    var row = {
      role: role, holder: null, busy: false, select: select, button: button, optionsKey: null,
      cells: { holder: h('td'), address: h('td'), token: h('td', { class: 'num' }), since: h('td') },
    };
    var label = h('label', { for: select.id, class: 'visually-hidden' }, ['Hand ' + role + ' over to']);
    row.tr = h('tr', { 'data-role': role }, [
      h('th', { scope: 'row' }, [role]),
      row.cells.holder,
      h('td', null, [h('div', { class: 'handoff' }, [label, select, button])]),
      row.cells.address, row.cells.token, row.cells.since,
    ]);
    button.addEventListener('click', function () { handoff(row); });
    return row;
  }

  function fillLeaderRow(row, l) {
    row.holder = l.node_id;
    row.cells.holder.replaceChildren(l.node_id === null
      ? h('span', { class: 'muted' }, ['none'])
      : h('span', null, [h('span', { class: 'name' }, [l.name || l.node_id]), h('span', { class: 'id' }, [l.node_id])]));
    row.cells.address.replaceChildren(l.tailscale_ip || l.address || '—');
    row.cells.token.replaceChildren(l.fencing_token === null ? '—' : String(l.fencing_token));
    row.cells.since.replaceChildren(when(l.since, true));
  }

  /** Offers every alive node except the holder; keeps the operator's choice when it is still offered. */
  function updateTargets() {
    leaderRows.forEach(function (row) {
      var targets = aliveNodes.filter(function (n) { return n.id !== row.holder; });
      var key = JSON.stringify(targets);
      if (key !== row.optionsKey) {
        var previous = row.select.value;
        row.select.replaceChildren.apply(row.select, targets.map(function (n) {
          return h('option', { value: n.id }, [n.name === n.id ? n.id : n.name + ' (' + n.id + ')']);
        }));
        if (targets.length === 0) row.select.append(h('option', { value: '' }, ['no alive node to take it']));
        if (targets.some(function (n) { return n.id === previous; })) row.select.value = previous;
        row.optionsKey = key;
      }
    });
    syncButtons();
  }

  function syncButtons() {
    var hasToken = tokenInput.value.trim() !== '';
    leaderRows.forEach(function (row) {
      row.button.disabled = !hasToken || row.busy || row.select.value === '';
    });
  }

  function renderLeaders(leaders) {
    if (isMarker(leaders) || leaders.length === 0) {
      leaderRows.clear();
      leadersTbody = null;
      setBody('leaders-body', isMarker(leaders) ? note(leaders) : h('p', { class: 'muted' }, ['No singleton roles reported.']));
      return;
    }
    if (leadersTbody === null) {
      leadersTbody = h('tbody');
      var head = h('tr', null, ['Role', 'Holder', 'Hand off to', 'Address', 'Fencing token', 'Since'].map(function (c) {
        return h('th', { scope: 'col' }, [c]);
      }));
      var t = h('table', null, [h('caption', { class: 'visually-hidden' }, ['Leaders per role']), h('thead', null, [head]), leadersTbody]);
      setBody('leaders-body', h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Leaders per role' }, [t]));
    }
    var seen = new Set();
    var previous = null;
    leaders.forEach(function (l) {
      if (seen.has(l.role)) return;
      seen.add(l.role);
      var row = leaderRows.get(l.role);
      if (!row) { row = makeLeaderRow(l.role); leaderRows.set(l.role, row); }
      fillLeaderRow(row, l);
      var expected = previous ? previous.nextSibling : leadersTbody.firstChild;
      if (expected !== row.tr) leadersTbody.insertBefore(row.tr, expected);
      previous = row.tr;
    });
    leaderRows.forEach(function (row, role) {
      if (!seen.has(role)) { row.tr.remove(); leaderRows.delete(role); }
    });
    updateTargets();
  }

  var refreshLeaders = coalesce(function () {
    return getJson('/leaders').then(function (b) { return b.leaders; }).catch(failure).then(function (leaders) {
      renderLeaders(leaders);
      loaded('leaders');
    });
  });

  function showResult(outcome, text) {
    result.className = 'outcome-' + outcome;
    result.setAttribute('data-outcome', outcome);
    result.textContent = text;
  }

  function handoff(row) {
    var token = tokenInput.value.trim();
    var to = row.select.value;
    if (token === '' || to === '' || row.busy) return;
    var option = row.select.selectedOptions[0];
    var target = option ? option.textContent : to;
    row.busy = true;
    syncButtons();
    showResult('pending', 'Handing ' + row.role + ' over to ' + target + '…');
    var request;
    try {
      request = fetch(API + '/roles/' + encodeURIComponent(row.role) + '/handoff', {
        method: 'POST',
        cache: 'no-store',
        headers: { 'content-type': 'application/json', accept: 'application/json', authorization: 'Bearer ' + token },
        body: JSON.stringify({ to: to }),
      });
    } catch (error) {
      request = Promise.reject(error);
    }
    return request.then(function (res) {
      return res.json().catch(function () { return null; }).then(function (body) {
        if (res.ok && body && body.ok === true) {
          var detail = body.detail || {};
          var extra = Object.keys(detail).filter(function (k) { return k !== 'role' && k !== 'to'; })
            .map(function (k) { return k + ': ' + detail[k]; });
          showResult('ok', 'Handoff of ' + row.role + ' to ' + target + ': ok' + (extra.length ? ' (' + extra.join(', ') + ')' : ''));
          refreshLeaders();
          refreshNodes();
        } else {
          var message = body && body.error && typeof body.error.message === 'string' ? body.error.message : res.statusText;
          showResult('error', 'Handoff of ' + row.role + ' failed (HTTP ' + res.status + '): ' + message);
        }
      });
    }).catch(function (error) {
      showResult('error', 'Handoff of ' + row.role + ' failed: ' + (error && error.message ? error.message : String(error)));
    }).then(function () {
      row.busy = false;
      syncButtons();
    });
  }

  tokenInput.addEventListener('input', syncButtons);
  byId('leaders').addEventListener('change', function (event) {
    if (event.target instanceof HTMLSelectElement) syncButtons();
  });

  // ---- Services and jobs -------------------------------------------------------------------------

  function renderServices(s) {
    if (isMarker(s)) return note(s);
    var services = h('div');
    var add = function (title, value, render) {
      services.append(h('h3', null, [title]), part(value, render));
    };
    add('Tailscale', s.tailscale, function (t) {
      return fields([['State', t.connected ? 'connected' : 'disconnected'], ['Address', t.ip || '—'], ['Peers', String(t.peer_count)]]);
    });
    add('SLURM', s.slurm, function (x) {
      return fields([
        ['Controller', x.controller || 'none'], ['This node', x.worker ? 'worker' : 'not a worker'],
        ['Partition', plural(x.nodes_in_partition, 'node', 'nodes')], ['Queued', plural(x.queued_jobs, 'job', 'jobs')],
      ]);
    });
    add('k3s', s.k3s, function (x) {
      return fields([
        ['Server', x.server || 'none'], ['This node', x.agent ? 'agent' : 'not an agent'],
        ['Nodes', x.ready_node_count === undefined ? String(x.node_count) : x.ready_node_count + ' Ready of ' + x.node_count],
        ['Pods', String(x.pod_count)],
      ].concat(x.etcd_members === undefined ? [] : [[
        'etcd', plural(x.etcd_members.filter(function (m) { return m.voter; }).length, 'voter', 'voters') +
          (x.etcd_members.some(function (m) { return !m.voter; }) ? ', ' + x.etcd_members.filter(function (m) { return !m.voter; }).length + ' learning' : ''),
      ]]));
    });
    add('Other services', s.others, function (others) {
      var names = Object.keys(others).sort();
      if (names.length === 0) return h('p', { class: 'muted' }, ['none']);
      return fields(names.map(function (name) {
        var o = others[name];
        return [name, o.state + (o.detail ? ' (' + o.detail + ')' : '')];
      }));
    });
    return services;
  }

  function pageNote(shown, total, what) {
    return h('p', { class: 'muted' }, [shown < total ? 'Showing ' + shown + ' of ' + total + ' ' + what + '.' : plural(total, what.replace(/s$/, ''), what) + '.']);
  }

  function renderJobs(j) {
    if (isMarker(j)) return note(j);
    var jobs = h('div');
    jobs.append(h('h3', null, ['SLURM jobs']), part(j.slurm, function (p) {
      if (p.jobs.length === 0) return h('p', { class: 'muted' }, ['No jobs.']);
      var rows = p.jobs.map(function (job) {
        return { cells: [job.id, job.name, job.state, job.user, Math.round(job.runtime_s) + ' s'] };
      });
      return h('div', null, [table('slurm-jobs', 'SLURM jobs', ['ID', 'Name', 'State', 'User', 'Runtime'], rows, true), pageNote(p.jobs.length, p.total, 'jobs')]);
    }));
    jobs.append(h('h3', null, ['k3s pods']), part(j.k3s, function (p) {
      if (p.pods.length === 0) return h('p', { class: 'muted' }, ['No pods.']);
      var rows = p.pods.map(function (pod) { return { cells: [pod.name, pod.namespace, pod.phase] }; });
      return h('div', null, [table('k3s-pods', 'k3s pods', ['Name', 'Namespace', 'Phase'], rows, true), pageNote(p.pods.length, p.total, 'pods')]);
    }));
    return jobs;
  }

  var refreshServices = coalesce(function () {
    return getJson('/services').catch(failure).then(function (s) {
      setBody('services-body', renderServices(s));
      loaded('services');
    });
  });

  var refreshJobs = coalesce(function () {
    return getJson('/jobs').catch(failure).then(function (j) {
      setBody('jobs-body', renderJobs(j));
      loaded('jobs');
    });
  });

  function refreshAll() {
    return Promise.all([refreshNodes(), refreshLeaders(), refreshServices(), refreshJobs()]);
  }

  // ---- Live events -------------------------------------------------------------------------------

  var timeline = byId('timeline');
  var liveStatus = byId('live-status');
  var lastEventId = 0;
  var source = null;

  function live(state, text) {
    liveStatus.setAttribute('data-state', state);
    liveStatus.textContent = text;
  }

  function addEntry(li) {
    byId('timeline-empty').hidden = true;
    timeline.prepend(li);
    while (timeline.children.length > MAX_EVENTS) timeline.lastElementChild.remove();
  }

  function onCluster(message) {
    var event;
    try { event = JSON.parse(message.data); } catch (error) { return; }
    if (!event || typeof event !== 'object') return;
    var id = Number(event.id);
    if (isFinite(id)) {
      if (id <= lastEventId) return;
      lastEventId = id;
    }
    var kind = /^[a-z-]+$/.test(String(event.kind)) ? event.kind : 'other';
    var detail = event.detail && typeof event.detail === 'object' ? event.detail : {};
    var bits = [];
    if (event.node) bits.push('node ' + event.node);
    if (event.role) bits.push('role ' + event.role);
    Object.keys(detail).forEach(function (k) { bits.push(k + '=' + detail[k]); });
    addEntry(h('li', { class: 'event kind-' + kind, 'data-event-id': isFinite(id) ? id : null, 'data-kind': kind }, [
      event.at ? h('time', { datetime: event.at }, [clock(event.at)]) : null,
      h('span', { class: 'kind' }, [String(event.kind)]),
      h('strong', null, [String(event.type)]),
      bits.length ? ' ' + bits.join(', ') : '',
    ]));
    if (kind === 'membership') refreshNodes();
    else if (kind === 'leadership' || kind === 'role' || kind === 'handoff') { refreshLeaders(); refreshNodes(); }
    else refreshNodes();
  }

  function onGap(message) {
    var gap = {};
    try { gap = JSON.parse(message.data) || {}; } catch (error) { gap = {}; }
    addEntry(h('li', { class: 'gap' }, [
      'Missed events ' + gap.missed_from + ' to ' + (Number(gap.resumed_at) - 1) + ' (no longer buffered); the page was refreshed.',
    ]));
    refreshAll();
  }

  function connect() {
    var url = API + '/events' + (lastEventId > 0 ? '?last_event_id=' + lastEventId : '');
    source = new EventSource(url);
    source.addEventListener('open', function () { live('live', 'Live'); });
    source.addEventListener('cluster', onCluster);
    source.addEventListener('gap', onGap);
    source.addEventListener('error', function () {
      if (source.readyState === EventSource.CLOSED) {
        live('offline', 'Live events stopped; retrying in 5 s…');
        source.close();
        setTimeout(connect, REFRESH_MS);
      } else {
        live('reconnecting', 'Reconnecting to live events…');
      }
    });
  }

  // ---- Start -------------------------------------------------------------------------------------

  syncButtons();
  refreshAll();
  connect();
  setInterval(function () { if (!document.hidden) refreshAll(); }, REFRESH_MS);
  document.addEventListener('visibilitychange', function () { if (!document.hidden) refreshAll(); });
})();
`;
