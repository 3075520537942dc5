// Polls /api/status every 2 s and renders it, and shows haven's own routing from its status feed.
// Plain browser JavaScript, no dependencies.
(() => {
  "use strict";

  const POLL_MS = 2000;
  const TIMEOUT_MS = 1500;
  const HISTORY_ROWS = 8;
  const SPARK_POINTS = 30;

  const $ = (id) => document.getElementById(id);
  const series = new Map(); // metric name -> recent values

  // Which static server delivered this page: the navigation's Server-Timing entry when the
  // browser exposes it, otherwise the X-Served-By header of a HEAD request for the same page.
  async function showStaticServer() {
    const nav = performance.getEntriesByType && performance.getEntriesByType("navigation")[0];
    const entry = nav && nav.serverTiming && nav.serverTiming.find((t) => t.name === "served-by");
    if (entry && entry.description) {
      $("static-server").textContent = entry.description;
      return;
    }
    try {
      const res = await fetch(location.pathname, { method: "HEAD", cache: "no-store" });
      $("static-server").textContent = res.headers.get("X-Served-By") || "unknown";
    } catch {
      $("static-server").textContent = "unknown";
    }
  }

  function setLive(state, text) {
    const pill = $("live");
    pill.className = "pill pill-" + state;
    $("live-text").textContent = text;
  }

  function setBanner(text) {
    const banner = $("banner");
    banner.hidden = !text;
    banner.textContent = text || "";
  }

  function renderMetric(card, value) {
    const name = card.dataset.metric;
    const max = Number(card.dataset.max);
    const unit = card.dataset.unit;
    card.querySelector(".value").textContent =
      (Number.isInteger(value) ? value.toLocaleString() : value.toFixed(1)) + unit;
    const ratio = Math.max(0, Math.min(1, value / max));
    const bar = card.querySelector(".bar span");
    bar.style.width = (ratio * 100).toFixed(1) + "%";
    card.classList.toggle("hot", ratio > 0.8);

    const values = series.get(name) || [];
    values.push(ratio);
    if (values.length > SPARK_POINTS) values.shift();
    series.set(name, values);
    const step = 120 / (SPARK_POINTS - 1);
    const offset = (SPARK_POINTS - values.length) * step;
    card.querySelector("polyline").setAttribute(
      "points",
      values.map((v, i) => `${(offset + i * step).toFixed(1)},${(30 - v * 28).toFixed(1)}`).join(" ")
    );
  }

  function addHistory(server, status, latencyMs) {
    const row = document.createElement("tr");
    const cells = [new Date().toLocaleTimeString(), server, status, latencyMs + " ms"];
    for (const text of cells) {
      const td = document.createElement("td");
      td.textContent = text;
      row.appendChild(td);
    }
    if (status !== "200") row.className = "bad";
    const body = $("history");
    body.insertBefore(row, body.firstChild);
    while (body.rows.length > HISTORY_ROWS) body.deleteRow(body.rows.length - 1);
  }

  async function poll() {
    const started = performance.now();
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
    try {
      const res = await fetch("/api/status", { cache: "no-store", signal: abort.signal });
      const latency = Math.round(performance.now() - started);
      const body = await res.json().catch(() => ({}));
      const stale = res.headers.get("X-Haven-Stale") === "1";
      if (res.ok && body.server && stale) {
        // Every API server is down: haven answered with the last good status, and says how old.
        const age = Number(res.headers.get("Age") || 0);
        setLive("wait", `saved copy, ${age} s old`);
        setBanner(`The API is down: showing its last answer, from ${age} s ago. It comes back by itself.`);
        addHistory("haven (copy)", String(res.status), latency);
      } else if (res.ok && body.server) {
        $("api-server").textContent = body.server;
        $("server-time").textContent = new Date(body.time).toLocaleTimeString();
        $("last-update").textContent = "updated " + new Date().toLocaleTimeString();
        for (const card of document.querySelectorAll(".metric")) {
          const value = body.metrics && body.metrics[card.dataset.metric];
          if (typeof value === "number") renderMetric(card, value);
        }
        setLive("ok", "live");
        setBanner("");
        addHistory(body.server, String(res.status), latency);
      } else if (res.status === 503 && body.status === "maintenance") {
        setLive("down", "maintenance");
        setBanner("The API is under maintenance. This page keeps checking and recovers by itself.");
        addHistory("haven", "503", latency);
      } else {
        setLive("down", "error " + res.status);
        setBanner("The API answered with status " + res.status + ". Retrying…");
        addHistory(body.server || "?", String(res.status), latency);
      }
    } catch {
      setLive("down", "unreachable");
      setBanner("No answer from /api/status. Retrying every " + POLL_MS / 1000 + " s…");
      addHistory("—", "no answer", Math.round(performance.now() - started));
    } finally {
      clearTimeout(timer);
    }
  }

  async function loop() {
    await poll();
    setTimeout(loop, POLL_MS);
  }

  // haven's status feed: how it routes each backend right now, pushed on every change
  // ("API on backup since 12:03"). The browser reconnects the stream by itself if it drops.
  const LABELS = { api: "API", static: "Static files" };
  const MODES = {
    primary: ["ok", "on its main servers"],
    backup: ["wait", "on backup"],
    maintenance: ["down", "in maintenance"],
    stale: ["down", "serving saved copies"],
  };

  function renderRouting(feed) {
    const list = $("routing");
    list.textContent = "";
    for (const [name, state] of Object.entries(feed.backends || {})) {
      const [tone, words] = MODES[state.mode] || ["wait", state.mode];
      const item = document.createElement("li");
      item.className = "route route-" + tone;
      item.dataset.backend = name;
      item.dataset.mode = state.mode;
      const since = new Date(state.since);
      const label = document.createElement("strong");
      label.textContent = LABELS[name] || name;
      const text = document.createElement("span");
      text.textContent = ` ${words} since ${since.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}`;
      item.append(label, text);
      if (state.reason) {
        const why = document.createElement("span");
        why.className = "hint";
        why.textContent = ` (${state.reason})`;
        item.append(why);
      }
      list.appendChild(item);
    }
  }

  function followRouting() {
    if (!window.EventSource) return;
    const stream = new EventSource("/.haven/status");
    stream.addEventListener("status", (event) => {
      try {
        renderRouting(JSON.parse(event.data));
      } catch {
        /* not a feed: leave the list as it is */
      }
    });
  }

  showStaticServer();
  followRouting();
  loop();
})();
