// A run's live page: one websocket, a score chart and a prosody chart per style.
// The server sends the stored (sampled) history first, then batches of new steps; a
// reconnect starts again from the history, so the chart never has gaps. Duplicates are
// filtered once, by the server (distillation/consumers.py, RunConsumer.run_steps): it knows
// what it sent each socket, so this page draws every step it is sent, as it is sent.
// What the page is told by Python (json_script "run-page"): the socket's path, the chart's
// traces, the walks' clip URLs, the finished statuses and the statuses' and stages' names;
// this file hard-codes none of them. Its own words come from Django's JavaScript catalog.
(function () {
  "use strict";

  const root = document.getElementById("run");
  if (!root || !window.Plotly) return;
  const runId = root.dataset.run;
  const PAGE = JSON.parse(document.getElementById("run-page").textContent);
  let socket = null;
  let finished = false;

  // WebGL keeps thousands of points smooth; without it (some VMs, remote desktops) SVG still works.
  const canvas = document.createElement("canvas");
  const SCATTER = canvas.getContext("webgl2") || canvas.getContext("webgl") ? "scattergl" : "scatter";
  // Traces of the score chart, in this order; the components share a 0-1 axis on the right.
  const TRACES = PAGE.traces.map((t) => {
    const look = t.mode === "markers" ? { marker: { size: t.width, color: t.color } } : { line: { color: t.color, width: t.width } };
    return Object.assign({ type: SCATTER, key: t.key, name: t.label, mode: t.mode, yaxis: t.axis }, look);
  });
  const LAYOUT = {
    separators: PAGE.separators, // "0,85" on a Spanish page
    margin: { t: 30, r: 50, b: 40, l: 50 }, height: 300, legend: { orientation: "h", y: 1.12 },
    xaxis: { title: { text: gettext("step") } }, yaxis: { title: { text: gettext("score") } },
    yaxis2: { overlaying: "y", side: "right", range: [0, 1], title: { text: gettext("similarity") } },
    uirevision: "keep", // zoom survives updates
  };
  const CONFIG = { displaylogo: false, responsive: true };

  function walk(style) { return document.getElementById("walk-" + style); }
  function field(style, name) { const w = walk(style); return w && w.querySelector(`[data-field="${name}"]`); }

  // An early-terminated candidate was only compared with the target: its other figures are
  // not measurements (the traces marked partial), so they are left out (a gap), not drawn as zeros.
  function columns(events) {
    const x = events.map((e) => e.step);
    return {
      x: TRACES.map(() => x),
      y: PAGE.traces.map((t) => events.map((e) => (e.complete || !t.partial ? e[t.key] : null))),
    };
  }

  function drawHistory(style, events) {
    const div = document.getElementById("chart-" + style);
    if (!div) return;
    const data = columns(events);
    const traces = TRACES.map((t, i) => Object.assign({}, t, { x: data.x[i], y: data.y[i] }));
    Plotly.react(div, traces, LAYOUT, CONFIG);
  }

  function addSteps(style, events) {
    const div = document.getElementById("chart-" + style);
    if (!events.length || !div || !div.data) return;
    Plotly.extendTraces(div, columns(events), TRACES.map((_, i) => i));
    div.dataset.points = String(div.data[0].x.length);
  }

  function formatEta(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    return h ? `${h} h ${String(m).padStart(2, "0")} min` : m ? `${m} min ${String(s).padStart(2, "0")} s` : `${s} s`;
  }

  // "choosing a start voice 4/12", as stored, in the reader's language.
  function phaseLabel(phase) {
    const match = /^(.*) (\d+\/\d+)$/.exec(phase || "");
    return match && PAGE.phases[match[1]] ? `${PAGE.phases[match[1]]} ${match[2]}` : phase || "";
  }

  function showProgress(state) {
    const set = (name, value) => { const el = field(state.style, name); if (el) el.textContent = value; };
    set("status", PAGE.statuses[state.status] || state.status);
    set("step", state.step);
    const decimals = { minimumFractionDigits: 2, maximumFractionDigits: 2 };
    set("best", state.best_score === null ? "—" : state.best_score.toLocaleString(document.documentElement.lang, decimals));
    set("eta", formatEta(state.eta_seconds));
    const phase = field(state.style, "phase");
    if (phase) { phase.textContent = phaseLabel(state.phase); phase.hidden = !state.phase; }
    const bar = field(state.style, "progress");
    if (bar) bar.value = state.step;
    const error = field(state.style, "error");
    if (error) { error.textContent = state.error || ""; error.hidden = !state.error; }
  }

  function showRun(run) {
    const status = document.getElementById("run-status");
    status.textContent = PAGE.statuses[run.status] || run.status;
    status.dataset.status = run.status;
    status.className = "run-status status-" + run.status;
    document.getElementById("run-stage").textContent = PAGE.stages[run.stage] || run.stage;
    const error = document.getElementById("run-error");
    error.textContent = run.error || "";
    error.hidden = !run.error;
    finished = PAGE.finished.includes(run.status);
    const toggle = (id, visible) => { const el = document.getElementById(id); if (el) el.hidden = !visible; };
    toggle("cancel-form", !finished);
    toggle("resume-form", run.status === "interrupted");
    toggle("report-link", run.has_report);
    run.styles.forEach(showProgress);
  }

  function showPreview(style, preview) {
    const div = document.getElementById("prosody-" + style);
    if (!div || !preview || !preview.target) return;
    const line = (c, key, name, color, axis) => ({
      x: c.times, y: c[key], name, type: "scatter", mode: "lines", yaxis: axis, connectgaps: false,
      line: { color, width: key === "pitch_hz" ? 2 : 1, dash: key === "pitch_hz" ? "solid" : "dot" },
      opacity: key === "pitch_hz" ? 1 : 0.45,
    });
    const traces = [
      line(preview.target, "pitch_hz", gettext("target F0"), "#1d2330", "y"),
      line(preview.best, "pitch_hz", gettext("best F0"), "#2f5bea", "y"),
      line(preview.target, "level_db", gettext("target level"), "#1d2330", "y2"),
      line(preview.best, "level_db", gettext("best level"), "#2f5bea", "y2"),
    ];
    Plotly.react(div, traces, {
      separators: PAGE.separators,
      margin: { t: 30, r: 50, b: 40, l: 50 }, height: 260, legend: { orientation: "h", y: 1.15 },
      xaxis: { title: { text: gettext("seconds") } }, yaxis: { title: { text: gettext("F0 (Hz)") } },
      yaxis2: { overlaying: "y", side: "right", title: { text: gettext("level (dBFS)") } },
    }, CONFIG);
    div.dataset.step = String(preview.step);
    const text = field(style, "preview-text");
    if (text) {
      text.textContent = interpolate(gettext("“%(text)s” — best voice at step %(step)s"), preview, true);
    }
    const target = field(style, "target-audio"), best = field(style, "best-audio");
    const clips = PAGE.previews[style];
    if (target && !target.getAttribute("src")) target.src = clips.target;
    if (best) best.src = `${clips.best}?v=${preview.version}`;
  }

  function setLive(on) {
    const badge = document.getElementById("live");
    badge.textContent = on ? gettext("● live") : gettext("○ offline");
    badge.classList.toggle("on", on);
  }

  function onMessage(message) {
    if (message.type === "history") {
      Object.entries(message.history).forEach(([style, events]) => drawHistory(style, events));
      Object.entries(message.previews || {}).forEach(([style, preview]) => showPreview(style, preview));
      showRun(message.run);
    } else if (message.type === "steps") {
      addSteps(message.style, message.events);
      showProgress(message.progress);
    } else if (message.type === "status") {
      showRun(message.run);
    } else if (message.type === "preview") {
      showPreview(message.style, message.preview);
    }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + PAGE.socket);
    socket.onopen = () => setLive(true);
    socket.onmessage = (event) => onMessage(JSON.parse(event.data));
    socket.onclose = (event) => {
      setLive(false);
      // 4401/4403/4404: refused for good; otherwise the lab restarted or the network blinked.
      if (event.code < 4400 && !finished) setTimeout(connect, 2000);
    };
  }

  connect();
  window.voicelabRun = { id: runId, reconnect: () => socket && socket.close() };
})();
