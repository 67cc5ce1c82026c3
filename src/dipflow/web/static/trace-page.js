/* /supervisor/calls/<id>: one call's trace on a page of its own, refreshed while the
   call is live. The call id comes from the page's data-call-id attribute. */
"use strict";

(() => {
  const root = document.getElementById("trace-page");
  if (!root) return;
  const { el, clear, duration, callerName } = dipflow;
  const callId = root.dataset.callId;
  const POLL_MS = 1500;

  function meta(call) {
    const list = document.getElementById("call-meta");
    clear(list);
    const add = (label, value) => {
      list.appendChild(el("dt", label));
      list.appendChild(el("dd", value === null || value === undefined || value === "" ? "—" : value));
    };
    add("Caller", callerName(call.variables, call.ani));
    add("Number", call.ani);
    add("Dialled", call.dnis);
    add("Channel", call.channel);
    add("State", call.state);
    add("Agent", call.agent_id);
    add("Queue", call.queue);
    const end = call.ended_at === null ? Date.now() / 1000 : call.ended_at;
    add("Duration", duration(end - call.started_at));
    for (const [label, value] of Object.entries(call.variables || {})) add(label, value);
  }

  async function load() {
    let live = true;
    try {
      const response = await fetch(`/supervisor/calls/${encodeURIComponent(callId)}.json`, { credentials: "same-origin" });
      if (response.status === 401) {
        window.location.assign("/supervisor");
        return;
      }
      if (response.ok) {
        const call = await response.json();
        meta(call);
        dipflowTrace.render(document.getElementById("trace"), call);
        live = call.state !== "ended";
        document.getElementById("trace-updated").textContent = live
          ? `Live, updated ${new Date().toLocaleTimeString()}`
          : "The call has ended.";
      } else {
        document.getElementById("trace-updated").textContent = `Update failed (${response.status})`;
      }
    } catch (e) {
      document.getElementById("trace-updated").textContent = "Offline, retrying…";
    }
    if (live) window.setTimeout(load, POLL_MS);
  }

  load();
})();
