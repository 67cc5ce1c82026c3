/* The supervisor view: polls /supervisor/state.json and redraws with textContent only. */
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const { el, clear, duration } = dipflow;
  const openTraces = new Set();
  const POLL_MS = 1500;

  function queueCard(queue) {
    const card = el("div", null, "queue-card");
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
    row.appendChild(el("td", `${agent.name} (${agent.agent_id})`));
    const stateCell = el("td");
    const pill = el("span", agent.state.replace("_", " "), "state-pill");
    pill.dataset.state = agent.state;
    stateCell.appendChild(pill);
    row.appendChild(stateCell);
    row.appendChild(el("td", agent.reason || ""));
    row.appendChild(el("td", duration(agent.in_state_s), "timer"));
    row.appendChild(el("td", agent.call_id ? agent.call_id.slice(0, 8) : ""));
    return row;
  }

  function callItem(call) {
    const details = el("details", null, "call-row");
    details.dataset.callId = call.call_id;
    if (openTraces.has(call.call_id)) details.open = true;
    details.addEventListener("toggle", () => {
      if (details.open) openTraces.add(call.call_id);
      else openTraces.delete(call.call_id);
    });
    const summary = el("summary");
    const pill = el("span", call.state, "state-pill");
    pill.dataset.state = call.state;
    summary.appendChild(pill);
    summary.appendChild(el("span", call.caller || call.ani, "caller"));
    summary.appendChild(el("span", call.ani, "muted"));
    summary.appendChild(el("span", call.channel, "badge"));
    summary.appendChild(el("span", call.agent_id ? `agent ${call.agent_id}` : "no agent", "muted"));
    if (call.error) summary.appendChild(el("span", "error", "badge badge-error"));
    summary.appendChild(el("span", duration(call.duration_s), "timer"));
    details.appendChild(summary);
    const body = el("div", null, "call-body");
    const data = el("dl", null, "data");
    for (const [label, value] of Object.entries(call.variables || {})) {
      data.appendChild(el("dt", label));
      data.appendChild(el("dd", value));
    }
    body.appendChild(data);
    body.appendChild(el("div", `Path: ${(call.path || []).join(" → ")}`, "path-line"));
    const trace = el("ol", null, "trace");
    for (const entry of call.trace || []) trace.appendChild(el("li", JSON.stringify(entry)));
    body.appendChild(trace);
    details.appendChild(body);
    return details;
  }

  function render(state) {
    const queues = $("queues");
    clear(queues);
    for (const q of state.queues) queues.appendChild(queueCard(q));
    const agents = $("agents");
    clear(agents);
    for (const a of state.agents) agents.appendChild(agentRow(a));
    const calls = $("calls");
    clear(calls);
    for (const c of state.calls) calls.appendChild(callItem(c));
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
