// The dashboard page: one script, no build step. Views by URL hash: #/ (overview),
// #/agent/ID, #/feed/ID/FEED. State comes from the JSON API and the /api/events stream.
"use strict";

const SocsWeb = (window.SocsWeb = {
  config: null,
  login: null, // {user, role} while logged in (the server's word: /api/config, snapshot, login)
  overview: null, // last overview event: {hub, agents, registry_age, server_time}
  sessions: {}, // agent -> op -> session, as pushed
  feedEvents: {}, // "ID/FEED" -> the last events of the feeds panels asked for
  panels: [], // {agentClass, title, render(el, ctx)}
  // What the tests and bench/bench_web.py read: counts, when the first agents were shown (ms
  // since navigation) and each pushed session's delay from its newest message to its drawing.
  stats: { sessionEvents: 0, feedEvents: 0, plotPoints: 0, plotDraws: 0, interactiveAt: null, sessionLags: [] },
  registerPanel(panel) {
    this.panels.push(panel);
  },
});

let stream = null;
let streamFeeds = [];
let view = { name: "overview" };
let plot = null; // the live plot of the feed view

const $ = (sel, el = document) => el.querySelector(sel);
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c);
  return el;
}
SocsWeb.h = h;

function age(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 1) return "<1 s";
  if (seconds < 120) return `${seconds.toFixed(0)} s`;
  return `${(seconds / 60).toFixed(0)} min`;
}
function when(t) {
  return t ? new Date(t * 1000).toLocaleTimeString() : "—";
}
SocsWeb.when = when;
// with its date, for times that may be days away (schedules): 2025-01-01 01:00:00, local time
function dated(t) {
  if (!t) return "—";
  const d = new Date(t * 1000);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
SocsWeb.dated = dated;

async function api(path, options) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (err) {
    return { ok: false, status: 0, body: { error: `the dashboard server cannot be reached (${err.message})` } };
  }
  let body;
  try {
    body = await response.json();
  } catch (e) {
    body = { error: `${response.status} ${response.statusText}` };
  }
  return { ok: response.ok, status: response.status, body };
}

// --- the event stream ------------------------------------------------------------------------

function openStream(feeds) {
  if (stream && JSON.stringify(feeds) === JSON.stringify(streamFeeds)) return;
  if (stream) stream.close();
  streamFeeds = feeds;
  const query = feeds.map((f) => `feed=${encodeURIComponent(f)}`).join("&");
  stream = new EventSource(`/api/events${query ? "?" + query : ""}`);
  stream.addEventListener("open", () => banner("server-banner", null));
  stream.addEventListener("error", () =>
    banner("server-banner", "The dashboard server does not answer: what is shown may be out of date. Retrying…")
  );
  stream.addEventListener("snapshot", (e) => {
    const data = JSON.parse(e.data);
    SocsWeb.sessions = data.sessions;
    setLogin(data.login);
    for (const key of streamFeeds) {
      SocsWeb.feedEvents[key] = [];
      for (const event of (data.recent || {})[key] || []) addFeedEvent(key, event);
    }
    onOverview(data);
    if (view.name === "agent") loadAgent(view.id); // catch up on what the gap missed
  });
  stream.addEventListener("overview", (e) => onOverview(JSON.parse(e.data)));
  stream.addEventListener("hub", (e) => {
    if (SocsWeb.overview) SocsWeb.overview.hub = JSON.parse(e.data);
    showHub();
  });
  stream.addEventListener("session", (e) => onSession(JSON.parse(e.data)));
  stream.addEventListener("feed", (e) => {
    SocsWeb.stats.feedEvents += 1;
    const event = JSON.parse(e.data);
    if (plot) plot.add(event);
    const key = `${event.agent}/${event.feed}`;
    if (panelFeeds.includes(key)) {
      addFeedEvent(key, event);
      rerenderPanels();
    }
  });
}

function banner(id, text) {
  const el = document.getElementById(id);
  el.hidden = !text;
  el.textContent = text || "";
}

function showHub() {
  const hub = SocsWeb.overview && SocsWeb.overview.hub;
  if (!hub || hub.connected) banner("hub-banner", null);
  else banner("hub-banner", `Hub lost since ${when(hub.since)}: ${hub.error}. Agents' states below are as last seen.`);
  document.body.classList.toggle("hub-lost", !!hub && !hub.connected);
}

function onOverview(data) {
  SocsWeb.overview = data;
  $("#clock").textContent = `server time ${when(data.server_time)}`;
  showHub();
  if (view.name === "overview") renderOverview();
  if (view.name === "agent") { renderAgentRow(); refreshFeedTable(); }
  if (view.name === "feed") refreshFeedStats();
}

async function refreshFeedStats() {
  const shown = view;
  if (shown.gone) return;
  const { ok, body } = await api(`/api/agents/${encodeURIComponent(shown.id)}/feeds/${encodeURIComponent(shown.feed)}`);
  if (view === shown) showFeedStats(ok ? body : null, ok ? null : body);
}

function onSession(event) {
  SocsWeb.stats.sessionEvents += 1;
  (SocsWeb.sessions[event.agent] ||= {})[event.op] = event.session;
  if (view.name === "agent" && view.id === event.agent) {
    const card = opCardNamed(event.op);
    if (card) renderSession(card, event.session);
    renderPanels($("#agent-panels"), [agentRow(event.agent)]);
    const times = (event.session.messages || []).map((m) => m[0]);
    if (card && times.length) {
      const lags = SocsWeb.stats.sessionLags;
      lags.push(Date.now() / 1000 - Math.max(...times));
      if (lags.length > 1000) lags.shift();
    }
  }
  if (view.name === "overview") renderPanels($("#panels"), SocsWeb.overview ? SocsWeb.overview.agents : []);
}

// --- overview --------------------------------------------------------------------------------

function agentRow(id) {
  return ((SocsWeb.overview && SocsWeb.overview.agents) || []).find((a) => a.instance_id === id);
}

function renderOverview() {
  const root = $("#view");
  if (!$("#agents", root)) {
    root.replaceChildren(
      h("div", {},
        h("input", { id: "filter", placeholder: "filter: name, class or state", oninput: renderOverview,
                     value: sessionStorage.getItem("filter") || "" }),
        h("span", { id: "registry-note", class: "note" })),
      h("table", { id: "agents" },
        h("thead", {}, h("tr", {}, ["agent", "class", "host", "heartbeat", "state", "running", "last failure"].map((t) => h("th", { text: t })))),
        h("tbody")),
      h("div", { id: "panels", class: "panels" })
    );
  }
  const data = SocsWeb.overview;
  if (!data) return;
  const needle = $("#filter").value.trim().toLowerCase();
  sessionStorage.setItem("filter", needle);
  const rows = data.agents.filter((a) =>
    !needle || [a.instance_id, a.agent_class, a.state].some((t) => (t || "").toLowerCase().includes(needle)));
  $("#agents tbody").replaceChildren(...rows.map((a) =>
    h("tr", { "data-agent": a.instance_id, class: data.hub.connected ? null : "stale" },
      h("td", {}, h("a", { href: `#/agent/${encodeURIComponent(a.instance_id)}`, text: a.instance_id })),
      h("td", { text: a.agent_class }),
      h("td", { class: "host", text: a.host }),
      h("td", { class: "num beat", text: age(a.heartbeat_age) }),
      stateCell(a),
      h("td", { text: a.running.join(", ") || "idle" }),
      h("td", { class: "failed", text: a.last_failure }))));
  if (!data.agents.length) {
    $("#agents tbody").replaceChildren(h("tr", {}, h("td", { colspan: 7, class: "note",
      text: data.hub.connected ? "No agent has sent a heartbeat or been listed by a registry yet." : "Not connected to the hub." })));
  }
  $("#registry-note").textContent = data.registry_age === null
    ? " No registry session seen: expiry judged by this dashboard."
    : ` Registry verdicts ${age(data.registry_age)} old.`;
  renderPanels($("#panels"), data.agents);
  if (SocsWeb.stats.interactiveAt === null && data.agents.length) SocsWeb.stats.interactiveAt = performance.now();
}

// The state, and under it what the host's supervisor says (restarts, the last line the agent
// wrote before it exited) when its HostManager reported the agent; the title says whose verdict.
function stateCell(a) {
  const cell = h("td", { class: "state", title: a.state_why }, h("span", { class: `state-${a.state}`, text: a.state }));
  if (a.host_manager && (a.restarts || a.last_line)) {
    const said = a.host_trusted ? "" : ` (${a.host_manager} expired: last said ${a.host_state})`;
    const retry = a.host_trusted && a.retry_in !== null ? `, next try in ${age(a.retry_in)}` : "";
    cell.append(h("div", { class: "host-said note", text: `${a.restarts} restart${a.restarts === 1 ? "" : "s"}${retry}${said}` }));
    if (a.last_line) cell.append(h("div", { class: "last-line", text: a.last_line }));
    cell.title = [a.state_why, a.last_line].filter(Boolean).join("\n");
  }
  return cell;
}

// --- panels ----------------------------------------------------------------------------------

// A panel may name feeds of its agent (`feeds: ["transitions"]`): the stream then carries
// them (its snapshot starts with their recent events), and `ctx.feeds[name]` is the last
// FEED_KEEP events, oldest first.
const FEED_KEEP = 50;
let panelFeeds = []; // "ID/FEED" wanted by the panels shown, sorted

function addFeedEvent(key, event) {
  const list = (SocsWeb.feedEvents[key] ||= []);
  const last = list.length ? list[list.length - 1].seq_no : null;
  // a repeat of what the recent events already held; 0 is an agent that restarted
  if (typeof event.seq_no === "number" && typeof last === "number" && event.seq_no <= last && event.seq_no !== 0) return;
  list.push(event);
  if (list.length > FEED_KEEP) list.splice(0, list.length - FEED_KEEP);
}

function rerenderPanels() {
  if (view.name === "overview") renderPanels($("#panels"), SocsWeb.overview ? SocsWeb.overview.agents : []);
  if (view.name === "agent") renderPanels($("#agent-panels"), [agentRow(view.id)]);
}

function renderPanels(root, agents) {
  if (!root) return;
  const shown = [];
  const wanted = [];
  for (const agent of (agents || []).filter(Boolean)) {
    for (const panel of SocsWeb.panels) {
      if (panel.agentClass !== agent.agent_class) continue;
      const key = `${panel.title}:${agent.instance_id}`;
      const feedKeys = (panel.feeds || []).map((f) => `${agent.instance_id}/${f}`);
      wanted.push(...feedKeys);
      let el = root.querySelector(`.panel[data-key="${CSS.escape(key)}"]`);
      if (!el) {
        el = h("section", { class: "panel", "data-key": key, "data-panel": panel.agentClass },
          h("h3", { text: `${panel.title} — ${agent.instance_id}` }),
          h("p", { class: "panel-state failed", hidden: true }), h("div", { class: "body" }));
        root.append(el);
      }
      shown.push(el);
      // An agent that is not alive keeps its last numbers on screen, greyed and said so.
      const live = agent.state === "alive";
      el.classList.toggle("stale", !live);
      const note = $(".panel-state", el);
      note.hidden = live;
      note.textContent = live ? "" : `${agent.instance_id} is ${agent.state} (${agent.state_why}): what follows is as last seen, not live.`;
      const sessions = SocsWeb.sessions[agent.instance_id] || {};
      const feeds = Object.fromEntries((panel.feeds || []).map((f) => [f, SocsWeb.feedEvents[`${agent.instance_id}/${f}`] || []]));
      try {
        panel.render($(".body", el), { agent, sessions, feeds, h, when, dated });
      } catch (err) {
        $(".body", el).replaceChildren(h("p", { class: "failed", text: `panel failed: ${err}` }));
      }
    }
  }
  for (const el of root.querySelectorAll(".panel")) if (!shown.includes(el)) el.remove();
  const sorted = [...new Set(wanted)].sort();
  if (view.name !== "feed" && JSON.stringify(sorted) !== JSON.stringify(panelFeeds)) {
    panelFeeds = sorted;
    openStream(panelFeeds);
  }
}

// --- agent page ------------------------------------------------------------------------------

// The agent's row: the overview's (fresher) or the one its page was loaded with.
function shownRow() {
  return agentRow(view.id) || view.row;
}
function agentLive() {
  const row = shownRow();
  return !!row && row.state === "alive";
}

// An agent that is not alive runs nothing we know of: its cards lose their buttons and what
// was running shows as unknown; when it is back, the page is loaded again (its ops may differ).
function followLiveness() {
  const live = agentLive();
  if (view.live === undefined || live === view.live) return;
  view.live = live;
  if (live) { loadAgent(view.id); return; }
  for (const card of document.querySelectorAll(".op")) {
    for (const el of card.querySelectorAll(".controls")) el.remove();
    renderSession(card, (SocsWeb.sessions[view.id] || {})[card.dataset.op]);
  }
}

function renderAgentRow() {
  const row = agentRow(view.id);
  const el = $("#agent-state");
  if (!el) return;
  followLiveness();
  if (!row) { el.textContent = "not known to the dashboard"; return; }
  el.className = `state-${row.state}`;
  const beat = row.heartbeat_age == null ? "" : `; last heartbeat ${age(row.heartbeat_age)} ago`;
  el.textContent = `${row.state} — ${row.state_why}${beat}`;
}

async function loadAgent(id) {
  const { ok, body } = await api(`/api/agents/${encodeURIComponent(id)}`);
  if (view.name !== "agent" || view.id !== id) return;
  view.row = body.row;
  view.live = agentLive();
  const sessions = (SocsWeb.sessions[id] ||= {});
  for (const op of body.ops || []) if (op.session && op.session.op_name) sessions[op.name] = op.session;
  const root = $("#view");
  root.replaceChildren(
    h("h2", {}, `${id} `, h("small", { text: body.row ? body.row.agent_class : "" })),
    h("p", {}, "State: ", h("span", { id: "agent-state" })),
    h("p", { class: "failed", id: "agent-error", hidden: ok && !body.error, text: `The agent did not answer: ${body.error}` }),
    h("div", { id: "agent-panels", class: "panels" }),
    h("h3", { text: "Operations" }),
    h("div", { class: "ops" }, (body.ops || []).map(opCard)),
    h("h3", { text: "Feeds" }),
    feedTable(id, body.feeds || [], body.feeds_declared || []));
  view.declared = body.feeds_declared || [];
  renderAgentRow();
  renderPanels($("#agent-panels"), body.row ? [body.row] : []);
}

// Buttons only for a login whose role may use them (the agent has the last word): controller
// and admin, and admin alone for an op whose get_api info says it needs admin.
function mayOperate(op) {
  const role = SocsWeb.login && SocsWeb.login.role;
  if (SocsWeb.config.read_only || (role !== "controller" && role !== "admin")) return false;
  return op.info.role !== "admin" || role === "admin";
}

function opCard(op) {
  const card = h("div", { class: "op", "data-op": op.name },
    h("h3", {}, `${op.name} `, h("small", { text: op.kind })),
    h("div", { class: "doc", text: op.info.docstring || "" }));
  if (mayOperate(op) && agentLive()) {
    const form = h("form", { class: "start", onsubmit: (e) => { e.preventDefault(); act(op, "start", form); },
      oninput: (e) => { (view.typed[op.name] ||= {})[e.target.name] = inputValue(e.target); } },
      op.fields.map(fieldInput), h("button", { class: "start", type: "submit", text: "start" }));
    for (const [name, value] of Object.entries(view.typed[op.name] || {})) {
      const input = form.querySelector(`[name="${CSS.escape(name)}"]`);
      if (input) setInputValue(input, value);
    }
    const stopper = op.kind === "process" ? "stop" : op.info.abortable ? "abort" : null;
    card.append(h("div", { class: "controls" }, form,
      stopper ? h("button", { class: stopper, onclick: () => act(op, stopper, null), text: stopper }) : null));
  }
  card.append(h("div", { class: "reply" }), h("div", { class: "session" }));
  showReply(card, view.replies[op.name]);
  renderSession(card, op.session);
  return card;
}

// What was typed into a card and the last reply it showed belong to the page, not to the card:
// the cards are drawn again on a login, on an agent coming back, on a late answer, and nothing
// typed or shown is lost with them.
function inputValue(input) {
  return input.dataset.type === "bool" ? input.checked : input.value;
}

function setInputValue(input, value) {
  if (input.dataset.type === "bool") input.checked = value;
  else input.value = value;
}

function showReply(card, reply) {
  const el = $(".reply", card);
  el.className = reply && reply.error ? "reply error" : "reply";
  el.textContent = reply ? reply.text : "";
}

function opCardNamed(name) {
  return document.querySelector(`.op[data-op="${CSS.escape(name)}"]`);
}

function fieldInput(field) {
  const label = (input) => h("label", { title: field.type }, `${field.key}${field.required ? "*" : ""} `, input);
  if (field.choices) {
    return label(h("select", { name: field.key, "data-type": "json" },
      field.choices.map((c) => h("option", { value: JSON.stringify(c), text: String(c), selected: c === field.default }))));
  }
  if (field.type === "bool") {
    return label(h("input", { type: "checkbox", name: field.key, "data-type": "bool", checked: field.default === true }));
  }
  const number = field.type === "int" || field.type === "float";
  return label(h("input", {
    name: field.key, "data-type": field.type, type: number ? "number" : "text", step: number ? "any" : null,
    size: 10, placeholder: field.required ? "required" : field.default === null ? "default" : JSON.stringify(field.default),
    value: field.default === null || field.default === undefined || field.type === "json" ? null : String(field.default),
  }));
}

function formParams(form) {
  const params = {};
  for (const input of form.querySelectorAll("[name]")) {
    const type = input.dataset.type;
    if (type === "bool") { params[input.name] = input.checked; continue; }
    const text = input.value.trim();
    if (text === "") continue; // the agent's default applies
    if (type === "int" || type === "float") params[input.name] = Number(text);
    else if (type === "str") params[input.name] = input.value;
    else { try { params[input.name] = JSON.parse(text); } catch (e) { params[input.name] = text; } }
  }
  return params;
}

async function act(op, action, form) {
  const shown = view;
  const reply = (r) => {
    shown.replies[op.name] = r;
    const card = view === shown && opCardNamed(op.name); // the one on the page now
    if (card) showReply(card, r);
  };
  reply({ text: `${action}…` });
  const body = form ? { params: formParams(form) } : {};
  const answer = await api(`/api/agents/${encodeURIComponent(shown.id)}/ops/${encodeURIComponent(op.name)}/${action}`,
    { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  if (answer.status === 401) setLogin(null); // expired or ended: the buttons go
  reply({
    error: !(answer.ok && answer.body.status === 0),
    text: answer.ok
      ? `${action}: ${["OK", "TIMEOUT"][answer.body.status] || "ERROR"} — ${answer.body.msg}`
      : `${action} refused: ${answer.body.error}`,
  });
  const card = view === shown && opCardNamed(op.name);
  if (card && answer.ok && answer.body.session && answer.body.session.op_name) {
    const held = (SocsWeb.sessions[shown.id] || {})[op.name];
    // The pushed changes of this session may have arrived before the reply: they are newer.
    if (!held || (held.session_id || 0) < answer.body.session.session_id) renderSession(card, answer.body.session);
  }
}

function renderSession(card, s) {
  const el = $(".session", card);
  if (!s || !s.op_name || s.status === "no_history") { el.replaceChildren(h("p", { class: "note", text: "Never run since the agent started." })); return; }
  // an ended session is history; one that was going on when its agent stopped answering is not known
  const row = shownRow();
  const lost = s.status !== "done" && !agentLive();
  const outcome = lost ? "unknown" : s.status === "done" ? (s.success ? "succeeded" : "failed") : s.status;
  const took = s.start_time && !lost ? ((s.end_time || Date.now() / 1000) - s.start_time).toFixed(1) + " s" : "";
  card.classList.toggle("stale", lost);
  el.replaceChildren(
    h("div", {}, h("b", { class: `status ${outcome}`, text: outcome }),
      ` session ${s.session_id}, started ${when(s.start_time)}${s.end_time ? ", ended " + when(s.end_time) : ""}${took ? ` (${took})` : ""}`),
    lost ? h("div", { class: "failed lost", text: `${view.id} is ${row ? row.state : "not known"}${row ? ` (${row.state_why})` : ""}: last seen ${s.status}, what it does now is not known.` }) : null,
    h("div", { class: "messages" }, (s.messages || []).slice(-8).map(([t, m]) => h("div", { text: `${when(t)} ${m}` }))),
    s.data === undefined ? h("div", { class: "note", text: s.data_too_large ? `data too large to push (${s.data_too_large} bytes)` : s.data_not_json ? `data not pushed: ${s.data_not_json}` : "" })
      : tree("data", s.data, true));
}

function tree(name, value, open) {
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    return h("details", { class: "tree", open: open || null },
      h("summary", { text: `${name} ${Array.isArray(value) ? `[${keys.length}]` : `{${keys.length}}`}` }),
      keys.slice(0, 200).map((k) => tree(k, value[k], false)));
  }
  return h("div", { class: "leaf", text: `${name}: ${JSON.stringify(value)}` });
}

// The counters move (last seq, rate, the last event's age): redrawn on every overview event,
// one request at a time.
let feedTableLoading = false;
async function refreshFeedTable() {
  const { id, declared } = view;
  if (feedTableLoading || !declared || !$("#feeds")) return;
  feedTableLoading = true;
  const { ok, body } = await api(`/api/agents/${encodeURIComponent(id)}/feeds`);
  feedTableLoading = false;
  const table = $("#feeds");
  if (ok && table && view.name === "agent" && view.id === id) table.replaceWith(feedTable(id, body.feeds, declared));
}

function feedTable(id, feeds, declared) {
  const known = new Set(feeds.map((f) => f.feed));
  const silent = declared.filter((f) => !known.has(f) && f !== "heartbeat" && f !== "sessions");
  return h("table", { id: "feeds" },
    h("thead", {}, h("tr", {}, ["feed", "recorded", "last seq", "rate /s", "lost", "dup", "last event"].map((t) => h("th", { text: t })))),
    h("tbody", {},
      feeds.filter((f) => f.feed !== "heartbeat" && f.feed !== "sessions").map((f) =>
        h("tr", { "data-feed": f.feed },
          h("td", {}, h("a", { href: `#/feed/${encodeURIComponent(id)}/${encodeURIComponent(f.feed)}`, text: f.feed })),
          h("td", { text: f.record ? "yes" : "no" }),
          h("td", { class: "num", text: f.last_seq ?? "—" }),
          h("td", { class: "num", text: f.rate.toFixed(1) }),
          h("td", { class: `num ${f.lost ? "failed" : ""}`, text: f.lost }),
          h("td", { class: "num", text: f.duplicates }),
          h("td", { class: "num", text: `${age(f.age)} ago` }))),
      silent.map((f) => h("tr", { "data-feed": f }, h("td", {}, h("a", { href: `#/feed/${encodeURIComponent(id)}/${encodeURIComponent(f)}`, text: f })),
        h("td", { colspan: 6, class: "note", text: "no event received since the dashboard started" })))));
}

// --- feed page: counters and a live plot ------------------------------------------------------

class LivePlot {
  // Points arrive as feed events; they are drawn at most every `every` ms (extendTraces), so a
  // feed of thousands of samples a second costs a few redraws a second. While paused, points
  // are kept (bounded) and drawn on resume; zooming is plotly's own and survives updates.
  constructor(el, maxPoints = 20000, every = 250) {
    this.el = el; this.maxPoints = maxPoints; this.every = every;
    this.traces = {}; this.pending = {}; this.paused = false; this.count = 0;
    this.lastSeq = -1; this.early = []; this.ready = false; // events before the recent ones loaded
    Plotly.newPlot(el, [], { uirevision: "keep", margin: { t: 20 }, xaxis: { type: "date" }, legend: { orientation: "h" } },
      { responsive: true, displaylogo: false });
    this.timer = setInterval(() => this.draw(), every);
  }
  start(recent) {
    // The stream opens before the recent events are fetched: take both, in order, once.
    this.ready = true;
    for (const event of [...recent, ...this.early]) this.add(event);
    this.early = [];
  }
  add(event) {
    if (!this.ready) { this.early.push(event); return; }
    if (typeof event.seq_no === "number") {
      if (event.seq_no <= this.lastSeq && event.seq_no !== 0) return; // 0: the agent restarted
      this.lastSeq = event.seq_no;
    }
    // A recorded feed's event is {block_name: {timestamps, data: {field: [values]}}}; other
    // feeds publish what they like, plotted when it is {timestamp(s), data}.
    const p = event.payload;
    if (!p || typeof p !== "object") return;
    const blocks = p.data ? [p] : Object.values(p).filter((b) => b && typeof b === "object" && b.data);
    for (const block of blocks) this.addBlock(block);
  }
  addBlock(b) {
    const times = Array.isArray(b.timestamps) ? b.timestamps : [b.timestamp];
    for (const [field, values] of Object.entries(b.data)) {
      const ys = Array.isArray(values) ? values : [values];
      if (typeof ys[0] !== "number") continue;
      const pending = (this.pending[field] ||= { x: [], y: [] });
      for (let i = 0; i < ys.length && i < times.length; i++) { pending.x.push(times[i] * 1000); pending.y.push(ys[i]); }
      if (pending.x.length > this.maxPoints) { pending.x.splice(0, pending.x.length - this.maxPoints); pending.y.splice(0, pending.y.length - this.maxPoints); }
    }
  }
  draw() {
    if (this.paused) return;
    const names = Object.keys(this.pending).filter((n) => this.pending[n].x.length);
    if (!names.length) return;
    const fresh = names.filter((n) => !(n in this.traces));
    for (const n of fresh) {
      this.traces[n] = Object.keys(this.traces).length;
      Plotly.addTraces(this.el, { name: n, x: [], y: [], mode: "lines", type: "scatter" });
    }
    const xs = [], ys = [], idx = [];
    for (const n of names) {
      const p = this.pending[n]; xs.push(p.x); ys.push(p.y); idx.push(this.traces[n]); this.count += p.x.length;
    }
    this.pending = {};
    Plotly.extendTraces(this.el, { x: xs, y: ys }, idx, this.maxPoints);
    SocsWeb.stats.plotPoints = this.count;
    SocsWeb.stats.plotDraws += 1;
    $("#points").textContent = `${this.count} points drawn`;
  }
  stop() { clearInterval(this.timer); Plotly.purge(this.el); }
}

// plotly.js is large (megabytes): it is fetched when a plot is first shown, so the overview
// and agent pages never wait for it.
let plotlyLoading = null;
function loadPlotly() {
  plotlyLoading ||= new Promise((resolve, reject) => {
    const s = h("script", { src: "/static/plotly.min.js" });
    s.onload = resolve;
    s.onerror = () => reject(new Error("plotly.min.js did not load"));
    document.head.append(s);
  });
  return plotlyLoading;
}

async function loadFeed(id, feed) {
  const root = $("#view");
  root.replaceChildren(
    h("h2", {}, h("a", { href: `#/agent/${encodeURIComponent(id)}`, text: id }), ` / ${feed}`),
    h("p", { id: "feed-stats", class: "note" }),
    h("div", {},
      h("button", { id: "pause", onclick: (e) => { plot.paused = !plot.paused; e.target.textContent = plot.paused ? "resume" : "pause"; }, text: "pause" }),
      " ", h("span", { id: "points", class: "note", text: "no point drawn yet" })),
    h("div", { id: "plot" }));
  try {
    await loadPlotly();
  } catch (err) {
    $("#plot").replaceChildren(h("p", { class: "failed", text: `No plot: ${err.message}` }));
    return;
  }
  const shown = view;
  if (shown.name !== "feed" || shown.id !== id || shown.feed !== feed || shown.gone) return;
  // the plot first: it keeps the stream's events that come before the recent ones
  const mine = (plot = new LivePlot($("#plot")));
  const { ok, body } = await api(`/api/agents/${encodeURIComponent(id)}/feeds/${encodeURIComponent(feed)}`);
  if (view !== shown) return;
  mine.start(ok ? body.recent : []);
  showFeedStats(ok ? body : null, ok ? null : body);
}

// `failed`: the API's error answer; one whose feed does not exist ends the page's polling
// and its plot (nothing will come).
function showFeedStats(s, failed) {
  const el = $("#feed-stats");
  if (!el) return;
  if (failed && failed.exists === false) {
    view.gone = true;
    if (plot) { plot.stop(); plot = null; }
    $("#plot").replaceChildren();
    $("#pause").hidden = true;
    $("#points").hidden = true;
    el.className = "failed";
    el.textContent = failed.error;
    return;
  }
  el.textContent = failed ? failed.error + "; waiting for the next event."
    : `last seq ${s.last_seq}, ${s.rate.toFixed(1)} records/s, ${s.lost} lost, ${s.duplicates} duplicated, ${s.events} events since the dashboard started`;
}

// --- login (header) ---------------------------------------------------------------------------

function setLogin(login) {
  login = login || null;
  const changed = JSON.stringify(login) !== JSON.stringify(SocsWeb.login);
  SocsWeb.login = login;
  renderLogin();
  if (changed && view.name === "agent") loadAgent(view.id); // the cards, with or without buttons
}

function renderLogin() {
  const root = $("#login");
  if (!SocsWeb.config || SocsWeb.config.read_only) { root.replaceChildren(); return; }
  if (SocsWeb.login) {
    const { user, role } = SocsWeb.login;
    if ($("#whoami", root) && $("#whoami", root).textContent === `${user} (${role})`) return;
    root.replaceChildren(h("span", { id: "whoami", text: `${user} (${role})` }), " · ",
      h("button", { id: "logout", type: "button", onclick: logout, text: "log out" }));
    return;
  }
  if ($("form", root)) return; // keep what is being typed
  const error = h("span", { id: "login-error", class: "login-error", hidden: true });
  const form = h("form", { id: "login-form", onsubmit: (e) => { e.preventDefault(); login(form, error); } },
    h("input", { id: "login-user", name: "user", placeholder: "user", autocomplete: "username", size: 10 }),
    h("input", { id: "login-secret", name: "secret", type: "password", placeholder: "secret", autocomplete: "current-password", size: 14 }),
    h("button", { id: "login-button", type: "submit", text: "log in" }), error);
  root.replaceChildren(form);
}

async function login(form, error) {
  const button = $("#login-button", form);
  button.disabled = true;
  button.textContent = "logging in…";
  const answer = await api("/api/login", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user: form.user.value.trim(), secret: form.secret.value }) });
  button.disabled = false;
  button.textContent = "log in";
  form.secret.value = "";
  if (answer.ok) { setLogin(answer.body.login); return; }
  error.hidden = false;
  error.textContent = answer.body.error;
}

async function logout() {
  await api("/api/logout", { method: "POST" });
  setLogin(null);
}

// --- routing ---------------------------------------------------------------------------------

function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  if (plot) { plot.stop(); plot = null; }
  if (parts[0] === "agent" && parts[1]) {
    view = { name: "agent", id: parts[1], typed: {}, replies: {} };
    openStream(panelFeeds);
    loadAgent(parts[1]);
  } else if (parts[0] === "feed" && parts[1] && parts[2]) {
    view = { name: "feed", id: parts[1], feed: parts[2] };
    openStream([`${parts[1]}/${parts[2]}`]);
    loadFeed(parts[1], parts[2]);
  } else {
    view = { name: "overview" };
    $("#view").replaceChildren();
    openStream(panelFeeds);
    renderOverview();
  }
}

async function start() {
  const { ok, body } = await api("/api/config");
  if (!ok) {
    $("#view").textContent = `No dashboard: ${body.error}. Reload the page to try again.`;
    return;
  }
  SocsWeb.config = body;
  SocsWeb.login = body.login;
  renderLogin();
  $("#mode").textContent = body.read_only ? "read-only" : "";
  for (const name of body.panels) {
    await new Promise((resolve) => {
      const s = h("script", { src: `/static/panels/${name}` });
      s.onload = resolve; s.onerror = resolve;
      document.head.append(s);
    });
  }
  window.addEventListener("hashchange", route);
  route();
}

start();
