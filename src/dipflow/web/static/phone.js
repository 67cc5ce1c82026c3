/* The browser phone: plays the caller. Prompts arrive as WAV URLs and are played
   for real; the page reports when each ended, sends key presses, loops hold music. */
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const { el } = dipflow;
  const promptAudio = $("prompt-audio");
  const musicAudio = $("music-audio");
  const transcript = $("transcript");

  let socket = null;
  let current = null; // {prompt_id, interruptible, line, fallback}
  let inCall = false;

  function line(speaker, text, kind) {
    const item = el("li", null, `line line-${speaker}`);
    item.dataset.kind = kind || speaker;
    item.appendChild(el("span", new Date().toLocaleTimeString(), "at"));
    item.appendChild(el("span", speaker, "speaker"));
    item.appendChild(el("span", text, "text"));
    transcript.appendChild(item);
    item.scrollIntoView({ block: "nearest" });
    return item;
  }

  function status(state, text) {
    const box = $("phone-status");
    box.dataset.state = state;
    box.textContent = text;
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  function stopPrompt() {
    if (current && current.fallback) window.clearTimeout(current.fallback);
    current = null;
    promptAudio.pause();
  }

  function stopAll() {
    stopPrompt();
    musicAudio.pause();
  }

  function promptFinished(prompt, interrupted) {
    if (current !== prompt) return;
    current = null;
    if (prompt.fallback) window.clearTimeout(prompt.fallback);
    send({ type: "prompt_done", prompt_id: prompt.prompt_id, interrupted });
  }

  function play(message) {
    stopAll();
    const item = line("ivr", message.text, "prompt");
    const prompt = { prompt_id: message.prompt_id, interruptible: message.interruptible, line: item };
    current = prompt;
    item.dataset.promptId = message.prompt_id;
    item.dataset.played = "loading";
    promptAudio.src = message.url;
    promptAudio.onloadedmetadata = () => {
      item.dataset.duration = String(promptAudio.duration);
    };
    promptAudio.onended = () => {
      item.dataset.played = "ended";
      promptFinished(prompt, false);
    };
    promptAudio.onerror = () => {
      item.dataset.played = "error";
      // The audio could not play: give the caller the time it takes to read it.
      prompt.fallback = window.setTimeout(() => promptFinished(prompt, false), (message.duration_s || 1) * 1000);
    };
    const started = promptAudio.play();
    if (started && started.catch) {
      started.then(() => {
        item.dataset.played = "playing";
      }).catch(() => {
        if (current === prompt && !prompt.fallback) {
          item.dataset.played = "blocked";
          prompt.fallback = window.setTimeout(() => promptFinished(prompt, false), (message.duration_s || 1) * 1000);
        }
      });
    }
  }

  function handle(message) {
    switch (message.type) {
      case "call_started":
        status("ringing", "Connected to the IVR");
        line("system", `Calling from ${message.ani}`, "start");
        break;
      case "play":
        status("ivr", "Listening to the IVR");
        play(message);
        break;
      case "music":
        stopPrompt();
        musicAudio.src = message.url;
        musicAudio.loop = true;
        musicAudio.play().catch(() => {});
        status("queued", "On hold");
        line("ivr", "♪ Hold music", "music");
        break;
      case "stop":
        stopAll();
        break;
      case "queue":
        line("system", queueText(message), "queue");
        status("queued", `On hold · position ${message.position}`);
        break;
      case "agent":
        stopAll();
        status("agent", `Talking to ${message.name}`);
        line("agent", `Connected to agent ${message.name}`, "agent");
        break;
      case "ended":
        line("system", `The call ended (${message.reason})`, "ended");
        finish("Call ended");
        break;
      case "error":
        line("system", `Error: ${message.message}`, "error");
        if (!inCall) finish("Not connected");
        break;
      default:
        break;
    }
  }

  function queueText(message) {
    const wait = message.estimated_wait_s;
    const estimate = wait !== null && wait !== undefined && wait >= 0 ? `, about ${Math.round(wait)}s to wait` : "";
    return `Queue ${message.queue}: position ${message.position}${estimate}`;
  }

  function finish(text) {
    stopAll();
    inCall = false;
    status("ended", text);
    $("btn-call").disabled = false;
    $("btn-hang-up").disabled = true;
    if (socket) {
      const closing = socket;
      socket = null;
      window.setTimeout(() => closing.close(), 100);
    }
  }

  function call(event) {
    event.preventDefault();
    if (socket) return;
    const ani = $("ani").value.trim();
    const dnis = $("dnis").value;
    $("btn-call").disabled = true;
    $("btn-hang-up").disabled = false;
    status("ringing", "Calling…");
    // Unlock audio output inside the click (browsers allow playback after a gesture).
    promptAudio.muted = false;
    const ws = new WebSocket(dipflow.socketUrl("/phone/ws"));
    socket = ws;
    inCall = false;
    ws.addEventListener("open", () => {
      inCall = true;
      ws.send(JSON.stringify({ type: "call", ani, dnis }));
    });
    ws.addEventListener("message", (e) => {
      try {
        handle(JSON.parse(e.data));
      } catch (err) {
        /* ignore malformed messages */
      }
    });
    ws.addEventListener("close", () => {
      if (socket === ws) {
        line("system", "The line dropped", "dropped");
        finish("Disconnected");
      }
    });
  }

  function press(key) {
    if (!inCall || !socket) return;
    line("caller", `You pressed ${key}`, "digits");
    if (current && current.interruptible) {
      const prompt = current;
      stopPrompt();
      prompt.line.dataset.played = "interrupted";
    }
    send({ type: "digits", digits: key });
  }

  function hangUp() {
    if (!socket) return;
    send({ type: "hangup" });
    line("caller", "You hung up", "hangup");
    finish("You hung up");
  }

  $("dial-form").addEventListener("submit", call);
  $("btn-hang-up").addEventListener("click", hangUp);
  for (const chip of document.querySelectorAll(".chip")) {
    chip.addEventListener("click", () => {
      $("ani").value = chip.dataset.ani;
    });
  }
  for (const key of document.querySelectorAll(".key")) {
    key.addEventListener("click", () => press(key.dataset.key));
  }
  document.addEventListener("keydown", (event) => {
    if (event.target && event.target.tagName === "INPUT") return;
    if (/^[0-9*#]$/.test(event.key)) press(event.key);
  });
})();
