/* The supervisor view: polls /supervisor/state.json and redraws with textContent only.
   A call's trace is fetched when it is expanded (and refreshed while the call is live)
   and drawn by trace.js, as on the call's own trace page. */
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const { el, clear, duration } = dipflow;
  const POLL_MS = 1500;
  const rows = new Map(); // call_id -> {details, summary, body, live}

  function queueCard(queue) {
    const card = el("div", null, "queue-card");
    card.dataset.queue = queue.name;
    const head = el("div", null, "queue-card-head");
    head.appendChild(el("h3", queue.name));
    head.appendChild(el("span", `${queue.waiting.length} waiting`, "badge"));
    card.appendChild(head);
    const stats = el("dl", null, "stats");
    const add = (label, value) => {
      stats.appendChild(el("dt", label));
      stats.appendChild(el("dd", value));
    };
    add("Longest wait", duration(queue.longest_wait_s));
    add("Ringing", queue.offered);
    add("Agents available", `${queue.agents_available} / ${queue.agents_staffed}`);
    card.appendChild(stats);
    const list = el("ol", null, "waiting");
    for (const w of queue.waiting) {
      const item = el("li");
      item.appendChild(el("span", w.caller || w.ani || w.call_id, "who"));
      item.appendChild(el("span", duration(w.waited_s), "timer"));
      list.appendChild(item);
    }
    if (!queue.waiting.length) list.appendChild(el("li", "Nobody waiting", "muted"));
    card.appendChild(list);
    return card;
  }

  function agentRow(agent) {
    const row = el("tr");
    row.dataset.agentId = agent.agent_id;
    row.appendChild(el("td", `${agent.name} (${agent.agent_id})`));
    const stateCell = el("td");
    const pill = el("span", agent.state.replace("_", " "), "state-pill");
    pill.dataset.state = agent.state;
    stateCell.appendChild(pill);
    row.appendChild(stateCell);
    row.appendChild(el("td", agent.reason || ""));
    row.appendChild(el("td", agent.in_state_s === null ? "—" : duration(agent.in_state_s), "timer"));
    row.appendChild(el("td", agent.call_id ? agent.call_id.slice(0, 8) : ""));
    return row;
  }

  function trunkRow(trunk) {
    const row = el("tr");
    row.dataset.trunk = trunk.trunk;
    row.appendChild(el("td", `${trunk.trunk} (${trunk.auth})`));
    const stateCell = el("td");
    const pill = el("span", trunk.state, "state-pill");
    pill.dataset.state = trunk.state;
    stateCell.appendChild(pill);
    row.appendChild(stateCell);
    row.appendChild(el("td", trunk.server || "—"));
    row.appendChild(el("td", trunk.expires_in_s === null ? "—" : duration(trunk.expires_in_s), "timer"));
    const last = trunk.last_status === null ? "" : `${trunk.last_status}`;
    row.appendChild(el("td", trunk.last_error ? `${last} ${trunk.last_error}` : last));
    row.appendChild(el("td", `${trunk.failures} (failovers ${trunk.failovers})`));
    return row;
  }

  function fillSummary(summary, call) {
    clear(summary);
    const pill = el("span", call.state, "state-pill");
    pill.dataset.state = call.state;
    summary.appendChild(pill);
    summary.appendChild(el("span", call.caller || call.ani, "caller"));
    summary.appendChild(el("span", call.ani, "muted"));
    summary.appendChild(el("span", call.channel, "badge"));
    summary.appendChild(el("span", call.agent_id ? `agent ${call.agent_id}` : "no agent", "muted"));
    if (call.error) summary.appendChild(el("span", "error", "badge badge-error"));
    summary.appendChild(el("span", `${call.steps} steps`, "muted"));
    for (const leg of call.media || []) {
      // RTP quality of each leg (RFC 3550): our measure, and the round trip from RTCP.
      const rtt = leg.rtt_ms === null ? "" : ` · RTT ${leg.rtt_ms} ms`;
      const text = `${leg.leg}: loss ${(leg.loss_fraction * 100).toFixed(1)}% · jitter ${leg.jitter_ms} ms${rtt}`;
      summary.appendChild(el("span", text, "muted media"));
    }
    summary.appendChild(el("span", duration(call.duration_s), "timer"));
  }

  async function loadDetail(callId) {
    const row = rows.get(callId);
    if (!row) return;
    try {
      const response = await fetch(`/supervisor/calls/${encodeURIComponent(callId)}.json`, { credentials: "same-origin" });
      if (!response.ok) return;
      const call = await response.json();
      const body = row.body;
      clear(body);
      const data = el("dl", null, "data");
      for (const [label, value] of Object.entries(call.variables || {})) {
        data.appendChild(el("dt", label));
        data.appendChild(el("dd", value));
      }
      body.appendChild(data);
      const link = el("a", "Open this trace on its own page", "trace-link");
      link.href = `/supervisor/calls/${encodeURIComponent(callId)}`;
      body.appendChild(link);
      const trace = el("div");
      dipflowTrace.render(trace, call);
      body.appendChild(trace);
    } catch (e) {
      /* offline: the next poll tries again */
    }
  }

  function callRow(call) {
    let row = rows.get(call.call_id);
    if (!row) {
      const details = el("details", null, "call-row");
      details.dataset.callId = call.call_id;
      const summary = el("summary");
      const body = el("div", null, "call-body");
      body.appendChild(el("p", "Loading the trace…", "muted"));
      details.appendChild(summary);
      details.appendChild(body);
      details.addEventListener("toggle", () => {
        if (details.open) loadDetail(call.call_id);
      });
      row = { details, summary, body, live: true };
      rows.set(call.call_id, row);
    }
    fillSummary(row.summary, call);
    const wasLive = row.live;
    row.live = call.state !== "ended";
    if (row.details.open && (wasLive || row.live)) loadDetail(call.call_id);
    return row.details;
  }

  function render(state) {
    const queues = $("queues");
    clear(queues);
    for (const q of state.queues) queues.appendChild(queueCard(q));
    const agents = $("agents");
    clear(agents);
    for (const a of state.agents) agents.appendChild(agentRow(a));
    const trunks = $("trunks");
    clear(trunks);
    for (const t of state.trunks || []) trunks.appendChild(trunkRow(t));
    $("trunks-panel").hidden = !(state.trunks || []).length;
    const calls = $("calls");
    const shown = new Set();
    const ordered = state.calls.map((c) => {
      shown.add(c.call_id);
      return callRow(c);
    });
    for (const id of [...rows.keys()]) if (!shown.has(id)) rows.delete(id);
    clear(calls);
    for (const node of ordered) calls.appendChild(node);
    if (!state.calls.length) calls.appendChild(el("p", "No calls yet.", "muted"));
    $("sup-updated").textContent = `Updated ${new Date(state.taken_at * 1000).toLocaleTimeString()}`;
  }

  async function poll() {
    try {
      const response = await fetch("/supervisor/state.json", { credentials: "same-origin" });
      if (response.status === 401) {
        window.location.assign("/supervisor");
        return;
      }
      if (response.ok) render(await response.json());
      else $("sup-updated").textContent = `Update failed (${response.status})`;
    } catch (e) {
      $("sup-updated").textContent = "Offline, retrying…";
    }
    window.setTimeout(poll, POLL_MS);
  }

  poll();
})();
