/* Shared helpers of the dipflow pages. Everything from the CRM or the caller is
   inserted with textContent, never as HTML. */
"use strict";

const dipflow = (() => {
  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function duration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const r = String(s % 60).padStart(2, "0");
    return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${r}` : `${m}:${r}`;
  }

  function socketUrl(path) {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    return `${scheme}://${window.location.host}${path}`;
  }

  function isWebUrl(url) {
    try {
      const parsed = new URL(url);
      return parsed.protocol === "http:" || parsed.protocol === "https:";
    } catch (e) {
      return false;
    }
  }

  /* A label -> value list as <dt>/<dd> pairs. */
  function fillData(dl, data) {
    clear(dl);
    for (const [label, value] of Object.entries(data || {})) {
      dl.appendChild(el("dt", label));
      dl.appendChild(el("dd", value));
    }
  }

  function fillPath(ol, path) {
    clear(ol);
    for (const step of path || []) ol.appendChild(el("li", step));
  }

  /* The caller's name from call data: a label that says name, customer or caller. */
  function callerName(data, fallback) {
    for (const [label, value] of Object.entries(data || {})) {
      if (value && (/name/i.test(label) || /^(customer|caller|contact)$/i.test(label.trim()))) {
        return value;
      }
    }
    return fallback;
  }

  return { el, clear, duration, socketUrl, isWebUrl, fillData, fillPath, callerName };
})();
