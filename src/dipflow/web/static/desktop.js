/* The agent desktop: live over /desktop/ws, reconnecting with backoff. The server
   resends the current state (offer, call, screen pops) on every connection. */
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const { el, clear, duration, socketUrl, isWebUrl, fillData, fillPath, callerName } = dipflow;

  let socket = null;
  let backoffMs = 500;
  let agentState = { state: "unknown", since: Date.now() };
  let wrapUpTotal = 0;
  let offer = null; // {call_id, deadline}
  let call = null; // {call_id, connectedAt, ended}
  const openedPops = new Set();

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(message));
      return true;
    }
    showError("Not connected: retrying…");
    return false;
  }

  function showError(text) {
    const box = $("desktop-error");
    box.textContent = text;
    box.hidden = !text;
  }

  function setConn(state, text) {
    $("conn").dataset.state = state;
    $("conn-text").textContent = text;
  }

  function connect() {
    setConn("connecting", "Connecting…");
    socket = new WebSocket(socketUrl("/desktop/ws"));
    socket.addEventListener("open", () => {
      backoffMs = 500;
      setConn("online", "Connected");
      showError("");
    });
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      handle(message);
    });
    socket.addEventListener("close", () => {
      socket = null;
      const wait = backoffMs;
      backoffMs = Math.min(backoffMs * 2, 10000);
      setConn("offline", `Offline, reconnecting in ${Math.ceil(wait / 1000)}s…`);
      window.setTimeout(checkSessionThenConnect, wait);
    });
  }

  async function checkSessionThenConnect() {
    try {
      const response = await fetch("/desktop/session", { credentials: "same-origin" });
      if (response.status === 401) {
        window.location.assign("/desktop");
        return;
      }
    } catch (e) {
      /* the network is still down: try the socket anyway, it will back off again */
    }
    connect();
  }

  function handle(message) {
    switch (message.type) {
      case "snapshot":
        wrapUpTotal = message.wrap_up_s || 0;
        if (message.agent) showAgentState(message.agent);
        if (message.offer) showOffer(message.offer);
        else hideOffer();
        if (message.call) showCall(message.call);
        else if (!message.offer) hideCall();
        break;
      case "agent_state":
        showAgentState(message);
        break;
      case "offer":
        showOffer(message);
        break;
      case "offer_gone":
        if (offer && offer.call_id === message.call_id) {
          hideOffer();
          showError(OFFER_GONE[message.reason] || "");
        }
        break;
      case "call":
        hideOffer();
        showCall(message);
        break;
      case "call_ended":
        if (call && call.call_id === message.call_id) endCall();
        break;
      case "screen_pop":
        showPop(message);
        break;
      case "error":
        showError(message.message);
        break;
      default:
        break;
    }
  }

  const OFFER_GONE = {
    gone: "The call is no longer available.",
    rona: "The call rang out unanswered: you are now Idle. Choose Available to take calls.",
    caller_hung_up: "The caller hung up before you answered.",
  };

  const STATE_NAMES = {
    logged_out: "Logged out",
    available: "Available",
    idle: "Idle",
    offered: "Ringing",
    connected: "On a call",
    wrap_up: "Wrap-up",
  };

  function showAgentState(message) {
    agentState = { state: message.state, since: Date.now() - (message.in_state_s || 0) * 1000 };
    if (message.wrap_up_s !== undefined) wrapUpTotal = message.wrap_up_s;
    const pill = $("agent-state");
    pill.textContent = STATE_NAMES[message.state] || message.state;
    pill.dataset.state = message.state;
    $("agent-reason").textContent = message.state === "idle" && message.reason ? `(${message.reason})` : "";
    const loggedOut = message.state === "logged_out";
    $("btn-agent-login").hidden = !loggedOut;
    $("btn-agent-logout").hidden = loggedOut;
    const busy = message.state === "offered" || message.state === "connected";
    $("btn-available").disabled = loggedOut || busy || message.state === "available";
    $("btn-idle").disabled = loggedOut || busy;
    $("wrapup").hidden = message.state !== "wrap_up";
    if (message.state !== "wrap_up" && call && call.ended) hideCall();
    tick();
  }

  function showOffer(message) {
    offer = { call_id: message.call_id, deadline: Date.now() + message.ring_left_s * 1000, total: message.ring_total_s };
    $("offer-title").textContent = callerName(message.data, message.ani || "Unknown caller");
    $("offer-ani").textContent = message.ani || "";
    $("offer-queue").textContent = message.queue || "";
    fillData($("offer-data"), message.data);
    fillPath($("offer-path"), message.path);
    $("btn-accept").disabled = false;
    $("btn-decline").disabled = false;
    $("offer").hidden = false;
    $("no-work").hidden = true;
    if (!call || call.ended) $("call").hidden = true;
    tick();
  }

  function hideOffer() {
    offer = null;
    $("offer").hidden = true;
    if (!call) $("no-work").hidden = false;
  }

  function showCall(message) {
    const sameCall = call && call.call_id === message.call_id;
    call = { call_id: message.call_id, connectedAt: Date.now() - (message.connected_s || 0) * 1000, ended: !!message.ended };
    $("call-title").textContent = callerName(message.data, message.ani || "Unknown caller");
    $("call-ani").textContent = message.ani || "";
    fillData($("call-data"), message.data);
    fillPath($("call-path"), message.path);
    if (!sameCall) {
      clear($("pop-links"));
      $("pops").hidden = true;
      $("embedded").hidden = true;
    }
    for (const pop of message.pops || []) showPop(pop);
    $("call-status").textContent = call.ended ? "Call ended" : "Connected";
    $("btn-hangup").hidden = call.ended;
    $("call").hidden = false;
    $("no-work").hidden = true;
    tick();
  }

  function endCall() {
    call.ended = true;
    $("call-status").textContent = "Call ended";
    $("btn-hangup").hidden = true;
  }

  function hideCall() {
    call = null;
    $("call").hidden = true;
    $("embedded-frame").removeAttribute("src");
    if (!offer) $("no-work").hidden = false;
  }

  function showPop(pop) {
    if (openedPops.has(pop.pop_id) && !pop.replay) return;
    const list = $("pop-links");
    const item = el("li");
    if (!pop.safe || !isWebUrl(pop.url)) {
      item.appendChild(el("span", `${pop.label} (${pop.refused || "not a web address"}, not opened)`, "muted"));
    } else {
      const link = el("a", pop.label || pop.url);
      link.href = pop.url;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      link.className = "pop-link";
      item.appendChild(link);
      if (pop.target === "embedded") {
        $("embedded-frame").src = pop.url;
        $("embedded").hidden = false;
      } else if (!pop.replay && !openedPops.has(pop.pop_id) && claimPop(pop.pop_id)) {
        window.open(pop.url, "_blank", "noopener");
      }
    }
    openedPops.add(pop.pop_id);
    if (![...list.children].some((li) => li.dataset.popId === pop.pop_id)) {
      item.dataset.popId = pop.pop_id;
      list.appendChild(item);
    }
    $("pops").hidden = false;
  }

  /* One tab per pop even when the agent has the desktop open twice: the first tab to
     claim the pop id (shared storage of this origin) opens it. */
  function claimPop(popId) {
    try {
      const key = "dipflow.openedPops";
      const opened = JSON.parse(window.localStorage.getItem(key) || "[]");
      if (opened.includes(popId)) return false;
      opened.push(popId);
      window.localStorage.setItem(key, JSON.stringify(opened.slice(-50)));
    } catch (e) {
      /* storage unavailable: open anyway */
    }
    return true;
  }

  function tick() {
    const now = Date.now();
    $("state-timer").textContent = duration((now - agentState.since) / 1000);
    if (offer) {
      const left = Math.max(0, (offer.deadline - now) / 1000);
      $("offer-countdown").textContent = String(Math.ceil(left));
      const share = offer.total > 0 ? (left / offer.total) * 100 : 0;
      $("ring-fill").style.width = `${share}%`;
    }
    if (call && !call.ended) $("call-timer").textContent = duration((now - call.connectedAt) / 1000);
    if (agentState.state === "wrap_up") {
      const left = wrapUpTotal - (now - agentState.since) / 1000;
      $("wrapup-timer").textContent = left > 0 ? duration(left) : "";
    }
  }

  $("btn-available").addEventListener("click", () => send({ action: "available" }));
  $("btn-idle").addEventListener("click", () => send({ action: "idle", reason: $("idle-reason").value }));
  $("btn-agent-logout").addEventListener("click", () => send({ action: "logout" }));
  $("btn-agent-login").addEventListener("click", () => send({ action: "login" }));
  $("btn-wrapup-done").addEventListener("click", () => send({ action: "wrap_up_done" }));
  $("btn-accept").addEventListener("click", () => {
    if (offer && send({ action: "accept", call_id: offer.call_id })) {
      $("btn-accept").disabled = true;
      $("btn-decline").disabled = true;
    }
  });
  $("btn-decline").addEventListener("click", () => {
    if (offer && send({ action: "decline", call_id: offer.call_id })) hideOffer();
  });
  $("btn-hangup").addEventListener("click", () => {
    if (call && !call.ended) send({ action: "hangup", call_id: call.call_id });
  });

  window.setInterval(tick, 250);
  connect();
})();
