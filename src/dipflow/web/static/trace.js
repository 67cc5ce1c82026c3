/* A call's trace as a table: each activity the call ran, with its inputs, its outputs,
   the output it took and its error (the records `dipflow call --json` prints).
   Every value comes from the caller or the CRM: inserted with textContent only. */
"use strict";

const dipflowTrace = (() => {
  const { el, clear } = dipflow;
  const COLUMNS = ["#", "At", "Activity", "Inputs", "Outputs", "Output taken", "Error"];

  function valueNode(value) {
    if (value !== null && typeof value === "object") return el("pre", JSON.stringify(value, null, 2));
    if (value === null || value === undefined) return el("span", "null", "muted");
    return el("span", String(value));
  }

  function pairs(map) {
    const entries = Object.entries(map || {});
    if (!entries.length) return el("span", "—", "muted");
    const list = el("dl", null, "kv");
    for (const [key, value] of entries) {
      list.appendChild(el("dt", key));
      const cell = el("dd");
      cell.appendChild(valueNode(value));
      list.appendChild(cell);
    }
    return list;
  }

  function seconds(value) {
    return typeof value === "number" ? `${value.toFixed(3)} s` : "";
  }

  function cell(row, child, className) {
    const td = el("td", null, className);
    td.appendChild(child);
    row.appendChild(td);
    return td;
  }

  function recordRow(record, index) {
    const row = el("tr");
    row.dataset.activity = record.activity || "";
    if (record.error) row.dataset.error = "true";
    row.appendChild(el("td", String(index + 1), "muted"));
    row.appendChild(el("td", seconds(record.at_s), "timer"));
    const activity = cell(row, el("span", record.activity, "act"), "activity");
    const where = record.flow && record.flow !== "main" ? `${record.kind} · ${record.flow}` : record.kind;
    activity.appendChild(el("span", where, "kind"));
    if (typeof record.took_s === "number" && record.took_s > 0) {
      activity.appendChild(el("span", `took ${seconds(record.took_s)}`, "kind"));
    }
    cell(row, pairs(record.inputs), "inputs");
    cell(row, pairs(record.outputs), "outputs");
    if (record.output_taken) cell(row, el("span", record.output_taken, "taken"), "output");
    else cell(row, el("span", record.took_s === null ? "running…" : "—", "muted"), "output");
    row.appendChild(el("td", record.error || "", "err"));
    return row;
  }

  /* Fill `container` with the trace of `call` (the JSON of /supervisor/calls/<id>.json). */
  function render(container, call) {
    clear(container);
    const view = el("div", null, "trace-view");
    const failed = call.global_error_detail;
    if (failed) {
      const where = failed.activity || "?";
      const why = failed.error || "unknown";
      view.appendChild(el("p", `The call went through the global error handler: [${where}] ${why}`, "global-error"));
    }
    view.appendChild(el("div", `Path: ${(call.path || []).join(" → ")}`, "path-line"));
    const table = el("table", null, "trace");
    const head = el("tr");
    for (const title of COLUMNS) head.appendChild(el("th", title));
    const thead = el("thead");
    thead.appendChild(head);
    table.appendChild(thead);
    const body = el("tbody");
    (call.trace || []).forEach((record, index) => body.appendChild(recordRow(record, index)));
    table.appendChild(body);
    const scroller = el("div", null, "trace-scroll");
    scroller.appendChild(table);
    view.appendChild(scroller);
    container.appendChild(view);
  }

  return { render };
})();
