// The sensors page: re-reads /api/sensors every second and redraws the table (text only, never HTML).
"use strict";

(function () {
  const rows = document.getElementById("sensor-rows");
  if (!rows) return;

  function fmt(v) { return Number(v).toPrecision(4).replace(/\.?0+$/, "").replace(/\.?0+e/, "e"); }
  // One time format on every page (common.js): a locale string here read "11:39:00 PM" beside "at 23:39".
  const clock = edge.clock;
  function cell(tr, text, cls) {
    const td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }

  function draw(data) {
    rows.replaceChildren();
    for (const s of data.series) {
      const tr = document.createElement("tr");
      tr.dataset.device = s.device;
      tr.dataset.quantity = s.quantity;
      const dev = cell(tr, s.device);
      if (s.demo) {
        const b = document.createElement("span");
        b.className = "badge";
        b.title = "simulated by the demo";
        b.textContent = "demo data";
        dev.append(" ", b);
      }
      cell(tr, s.quantity.replace(/_/g, " "));
      cell(tr, s.last ? fmt(s.last.value) + " " + s.unit : "–", "sensor-value");
      cell(tr, s.last ? clock(s.last.ts) : "–", "sensor-at");
      cell(tr, String(s.count), "sensor-count");
      rows.appendChild(tr);
    }
    const now = document.getElementById("sensor-active");
    now.replaceChildren(...data.active.map(function (a) {
      const li = document.createElement("li");
      li.className = "error";
      li.textContent = a.text;
      return li;
    }));
    document.getElementById("sensor-alerts-now").hidden = data.active.length === 0;
    const recent = document.getElementById("sensor-alerts");
    if (data.alerts.length) {
      recent.replaceChildren(...data.alerts.map(function (a) {
        const li = document.createElement("li");
        li.className = a.state === "raised" ? "error" : "muted";
        li.textContent = clock(a.ts) + " · " + a.text;
        return li;
      }));
    }
  }

  async function poll() {
    try {
      const r = await fetch("/api/sensors", { credentials: "same-origin" });
      if (r.ok) draw(await r.json());
    } catch (e) { /* the box restarting: try again next second */ }
  }
  setInterval(poll, 1000);
})();
