// Voice Lab workspace: toasts, keyboard navigation and the recording studio (timer, level
// meter, auto-stop, skip, auto-advance, upload progress).
// htmx does the requests; this file only adds what htmx has no attribute for.
(function () {
  "use strict";

  // The styles keys 1-4 label with, in order: the page says which (json_script "voicelab-styles").
  const stylesData = document.getElementById("voicelab-styles");
  const STYLES = stylesData ? JSON.parse(stylesData.textContent) : [];
  let currentRow = null;
  let recording = null; // {recorder, stream, monitor, row}
  const awaiting = new Set(); // sentences whose new take this page waits to see validated

  // A toast may belong to a sentence: a newer result for that sentence takes it away.
  function toast(message, kind, sentenceId) {
    const box = document.getElementById("toast");
    if (!box) return;
    box.textContent = message;
    box.className = "toast " + (kind || "error");
    box.dataset.sentence = sentenceId || "";
    box.hidden = false;
    clearTimeout(box._timer);
    box._timer = setTimeout(() => { box.hidden = true; }, 8000);
  }

  function supersedeToast(sentenceId) {
    const box = document.getElementById("toast");
    if (box && !box.hidden && box.dataset.sentence === sentenceId) box.hidden = true;
  }

  function sentenceOf(element) {
    const holder = element && element.closest ? element.closest("[data-sentence-id]") : null;
    return holder ? holder.dataset.sentenceId : "";
  }

  function csrfToken() {
    return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
  }

  // A refused request (4xx/5xx) or a lost connection: say why, the page stays as it was.
  document.addEventListener("htmx:responseError", (event) => {
    const xhr = event.detail.xhr;
    const plain = (xhr.getResponseHeader("Content-Type") || "").startsWith("text/plain");
    toast(plain && xhr.responseText ? xhr.responseText
      : interpolate(gettext("The server refused the request (HTTP %s)."), [xhr.status]), "error", sentenceOf(event.detail.elt));
  });
  document.addEventListener("htmx:sendError", () => toast(gettext("The lab could not be reached: check the connection and try again.")));
  // A request that worked but has something to say (HX-Trigger: {"voicelab:notice": "..."}).
  const NOTICE = "voicelab:notice";
  document.addEventListener(NOTICE, (event) => toast(event.detail.value, "info", sentenceOf(event.target)));

  // ---- keyboard navigation --------------------------------------------------------------
  function rows() { return Array.from(document.querySelectorAll(".sentence-row")); }

  function select(row) {
    if (!row) return;
    if (currentRow) currentRow.classList.remove("current");
    currentRow = row;
    row.classList.add("current");
    row.scrollIntoView({ block: "nearest" });
    if (studio.prompt) studio.prompt.textContent = row.dataset.text || studio.prompt.dataset.empty;
  }

  function move(step) {
    const all = rows();
    if (!all.length) return;
    const index = all.indexOf(currentRow);
    const next = index < 0 ? 0 : Math.min(Math.max(index + step, 0), all.length - 1);
    select(all[next]);
  }

  function labelCurrent(style) {
    if (!currentRow) select(rows()[0]);
    const dropdown = currentRow && currentRow.querySelector(".style-select");
    if (!dropdown) return;
    htmx.ajax("POST", dropdown.getAttribute("hx-post"), {
      target: "#" + dropdown.closest(".label-cell").id,
      swap: "outerHTML",
      values: { style: style, method: "keyboard" },
    });
  }

  function playCurrent() {
    const player = currentRow && currentRow.querySelector(".take-audio");
    if (!player) { toast(gettext("This sentence has no validated take to play yet."), "info"); return; }
    if (player.paused) player.play(); else player.pause();
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest("input, select, textarea, [contenteditable]")) return;
    const key = event.key;
    if (key === "j" || key === "ArrowDown") move(1);
    else if (key === "k" || key === "ArrowUp") move(-1);
    else if (key >= "1" && key <= String(STYLES.length)) labelCurrent(STYLES[Number(key) - 1]);
    else if (key === "r") { if (!currentRow) select(rows()[0]); toggleRecording(currentRow); }
    else if (key === "s") skip();
    else if (key === "p") playCurrent();
    else return;
    event.preventDefault();
  });

  document.addEventListener("click", (event) => {
    const row = event.target.closest(".sentence-row");
    if (row) select(row);
    const button = event.target.closest(".record-button");
    if (button) toggleRecording(button.closest(".sentence-row") || document.querySelector(".sentence-row"));
  });

  document.addEventListener("htmx:afterSwap", () => {
    if (currentRow && !document.body.contains(currentRow)) {
      const again = document.getElementById(currentRow.id);
      currentRow = null;
      if (again) select(again);
    }
  });

  // ---- the studio: the current sentence, what is left, skip and auto-advance -------------
  const byId = (id) => document.getElementById(id);
  const studio = {
    prompt: byId("studio-prompt"), record: byId("studio-record"), skip: byId("studio-skip"),
    timer: byId("studio-timer"), level: byId("studio-level"), warning: byId("studio-warning"),
    remaining: byId("studio-remaining"), autostop: byId("studio-autostop"), advance: byId("studio-advance"),
  };
  const FINAL = ["valid", "rejected", "failed"];

  // The two options are the annotator's habit, kept in this browser.
  [studio.autostop, studio.advance].forEach((box) => {
    if (!box) return;
    const saved = localStorage.getItem("voicelab." + box.id);
    if (saved !== null) box.checked = saved === "true";
    box.addEventListener("change", () => localStorage.setItem("voicelab." + box.id, String(box.checked)));
  });
  if (studio.record) studio.record.addEventListener("click", () => { if (!currentRow) select(rows()[0]); toggleRecording(currentRow); });
  if (studio.skip) studio.skip.addEventListener("click", skip);

  function takeCell(sentenceId) { return byId("take-" + sentenceId); }
  function needsTake(row) { const cell = takeCell(row.dataset.sentenceId); return Boolean(cell && cell.hasAttribute("data-needs-take")); }

  // The next row (after ``row``, then from the top) that still waits for a take.
  function nextNeeding(row) {
    const all = rows();
    const from = all.indexOf(row);
    const order = all.slice(from + 1).concat(all.slice(0, Math.max(from, 0)));
    return order.find(needsTake) || null;
  }

  function skip() {
    if (recording) return;
    const next = nextNeeding(currentRow);
    if (next) select(next);
    else toast(gettext("Every sentence shown has a valid take in its style."), "info");
  }

  function countRemaining() {
    if (!studio.remaining) return;
    const all = rows();
    const left = all.filter(needsTake).length;
    studio.remaining.textContent = interpolate(ngettext(
      "%(left)s of the %(shown)s sentences shown still needs a take", "%(left)s of the %(shown)s sentences shown still need a take", left),
    { left: left, shown: all.length }, true);
  }
  countRemaining();

  // Whatever htmx swaps in (the filtered table, a take cell) may change what is left to record.
  // A new take cell (an upload's answer, a websocket push, a poll) with a final result also
  // replaces what a toast said about that sentence, and a valid take moves the studio on.
  document.addEventListener("htmx:load", (event) => {
    countRemaining();
    const cell = event.detail.elt;
    if (!cell.classList || !cell.classList.contains("take-cell")) return;
    const sentenceId = cell.id.slice("take-".length);
    const status = cell.dataset.latestStatus;
    if (!FINAL.includes(status)) return;
    supersedeToast(sentenceId);
    if (!awaiting.delete(sentenceId)) return;
    const row = byId("row-" + sentenceId);
    if (status === "valid" && !needsTake(row) && row === currentRow && !recording && studio.advance && studio.advance.checked) {
      const next = nextNeeding(row);
      if (next) select(next);
    }
  });

  // ---- uploads: a progress bar in the row, and the row's take awaited --------------------
  function showProgress(cell, loaded, total) {
    const bar = cell && cell.querySelector(".upload-progress");
    if (!bar) return;
    bar.hidden = loaded === null;
    bar.value = total ? Math.round((100 * loaded) / total) : 0;
  }

  // An answer can arrive after the websocket already pushed this take's result (the worker
  // may validate before the upload's own answer is read): a take cell showing the same take
  // still pending must not put back what the page already moved past.
  function isStale(html, cell) {
    if (!cell || !FINAL.includes(cell.dataset.latestStatus)) return false;
    const template = document.createElement("template");
    template.innerHTML = html;
    const incoming = template.content.querySelector(".take-cell");
    return Boolean(incoming) && incoming.dataset.latestTake === cell.dataset.latestTake
      && !FINAL.includes(incoming.dataset.latestStatus);
  }

  document.addEventListener("htmx:beforeSwap", (event) => {
    const target = event.detail.target;
    if (target && target.classList.contains("take-cell") && isStale(event.detail.serverResponse, target)) {
      event.detail.shouldSwap = false;
    }
  });

  document.addEventListener("htmx:beforeRequest", (event) => {
    if (event.detail.elt.classList.contains("upload-form")) awaiting.add(sentenceOf(event.detail.elt));
  });
  document.addEventListener("htmx:xhr:progress", (event) => {
    if (event.detail.lengthComputable) showProgress(event.target.closest(".take-cell"), event.detail.loaded, event.detail.total);
  });
  document.addEventListener("htmx:afterRequest", (event) => {
    showProgress(event.target.closest(".take-cell"), null);
    if (!event.detail.successful && event.detail.elt.classList.contains("upload-form")) awaiting.delete(sentenceOf(event.detail.elt));
  });

  // ---- the TTS panel: a text heard as the service speaks it now ----------------------------
  // Fetched rather than set as the player's source, so that a refusal is read, not silent.
  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!form.classList.contains("tts-try")) return;
    event.preventDefault();
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const response = await fetch(form.action + "?" + new URLSearchParams(new FormData(form)), { headers: { "HX-Request": "true" } });
      if (!response.ok) {
        toast(await response.text() || interpolate(gettext("The server refused the request (HTTP %s)."), [response.status]));
        return;
      }
      const player = form.querySelector("audio");
      if (player.src) URL.revokeObjectURL(player.src);
      player.src = URL.createObjectURL(await response.blob());
      player.hidden = false;
      player.play().catch(() => {}); // a browser that blocks autoplay leaves the player to a click
    } catch (error) {
      toast(gettext("The lab could not be reached: check the connection and try again."));
    } finally {
      button.disabled = false;
    }
  });

  // ---- recording ------------------------------------------------------------------------
  // Browsers record compressed audio (WebM/Opus) that libsndfile cannot read, so the take
  // is decoded here and sent as 16-bit PCM WAV, the format the lab stores anyway.
  function encodeWav(samples, sampleRate) {
    const buffer = new ArrayBuffer(44 + samples.length * 2);
    const view = new DataView(buffer);
    const text = (offset, s) => { for (let i = 0; i < s.length; i++) view.setUint8(offset + i, s.charCodeAt(i)); };
    text(0, "RIFF"); view.setUint32(4, 36 + samples.length * 2, true); text(8, "WAVE");
    text(12, "fmt "); view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
    view.setUint32(24, sampleRate, true); view.setUint32(28, sampleRate * 2, true);
    view.setUint16(32, 2, true); view.setUint16(34, 16, true);
    text(36, "data"); view.setUint32(40, samples.length * 2, true);
    for (let i = 0; i < samples.length; i++) {
      const s = Math.max(-1, Math.min(1, samples[i]));
      view.setInt16(44 + i * 2, s < 0 ? s * 0x8000 : s * 0x7fff, true);
    }
    return new Blob([view], { type: "audio/wav" });
  }

  async function toWav(blob) {
    const context = new AudioContext();
    try {
      const audio = await context.decodeAudioData(await blob.arrayBuffer());
      const mono = new Float32Array(audio.length);
      for (let c = 0; c < audio.numberOfChannels; c++) {
        const channel = audio.getChannelData(c);
        for (let i = 0; i < audio.length; i++) mono[i] += channel[i] / audio.numberOfChannels;
      }
      return encodeWav(mono, audio.sampleRate);
    } finally {
      context.close();
    }
  }

  // Sent with XMLHttpRequest rather than fetch: only it reports the upload's progress.
  function uploadTake(row, wav) {
    const sentenceId = row.dataset.sentenceId;
    const form = new FormData();
    form.append("audio", wav, sentenceId + ".wav");
    form.append("source", "browser");
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", row.dataset.uploadUrl);
      xhr.setRequestHeader("X-CSRFToken", csrfToken());
      xhr.setRequestHeader("HX-Request", "true");
      xhr.upload.onprogress = (event) => showProgress(takeCell(sentenceId), event.loaded, event.total);
      xhr.onloadend = () => { showProgress(takeCell(sentenceId), null); resolve(); };
      xhr.onerror = () => {
        awaiting.delete(sentenceId);
        toast(gettext("The lab could not be reached: check the connection and try again."), "error", sentenceId);
      };
      xhr.onload = () => {
        if (xhr.status >= 400) {
          awaiting.delete(sentenceId);
          toast(xhr.responseText || interpolate(gettext("Upload refused (HTTP %s)."), [xhr.status]), "error", sentenceId);
          return;
        }
        if (!isStale(xhr.responseText, takeCell(sentenceId))) {
          htmx.swap("#take-" + sentenceId, xhr.responseText, { swapStyle: "outerHTML" });
        }
        const notice = JSON.parse(xhr.getResponseHeader("HX-Trigger") || "{}")[NOTICE];
        if (notice) toast(notice, "info", sentenceId);
      };
      awaiting.add(sentenceId); // before sending: the result may be pushed before the answer is read
      xhr.send(form);
    });
  }

  // What the microphone hears while recording: the timer, the level meter, a warning when
  // the input clips or stays too quiet, and the trailing silence that may stop the take.
  const CLIP_LEVEL = 0.99; // a sample this close to full scale was cut off
  const QUIET_DB = -40; // speech whose loudest moments stay under this is too quiet to use
  const SILENCE_BELOW_LOUDEST_DB = 30; // quieter than the loudest speech by this much: silence
  const AUTOSTOP_SECONDS = 1.5;
  const decimal = new Intl.NumberFormat(document.documentElement.lang || undefined,
    { minimumIntegerDigits: 2, minimumFractionDigits: 1, maximumFractionDigits: 1 });

  function formatClock(seconds) {
    const tenths = Math.floor(seconds * 10) / 10, minutes = Math.floor(tenths / 60);
    return minutes + ":" + decimal.format(tenths - minutes * 60);
  }

  function warn(text) {
    if (!studio.warning) return;
    studio.warning.hidden = !text;
    studio.warning.textContent = text || "";
  }

  function monitor(stream, onSilence) {
    const context = new AudioContext();
    const analyser = context.createAnalyser();
    analyser.fftSize = 2048;
    context.createMediaStreamSource(stream).connect(analyser);
    const frame = new Float32Array(analyser.fftSize);
    const started = performance.now();
    let loudest = -Infinity, lastSound = null, clippedAt = -Infinity;
    const timer = setInterval(() => {
      analyser.getFloatTimeDomainData(frame);
      let peak = 0, power = 0;
      for (const sample of frame) { peak = Math.max(peak, Math.abs(sample)); power += sample * sample; }
      const level = 10 * Math.log10(power / frame.length + 1e-12);
      const now = performance.now(), elapsed = (now - started) / 1000;
      loudest = Math.max(loudest, level);
      if (peak >= CLIP_LEVEL) clippedAt = now;
      if (level > Math.max(loudest - SILENCE_BELOW_LOUDEST_DB, QUIET_DB - 15)) lastSound = now;
      if (studio.timer) studio.timer.textContent = formatClock(elapsed);
      if (studio.level) studio.level.value = Math.max(-60, Math.min(0, level));
      if (now - clippedAt < 1500) warn(gettext("Too loud, the sound clips: move back from the microphone or lower its gain."));
      else if (elapsed > 2 && loudest < QUIET_DB) warn(gettext("Too quiet: move closer to the microphone or raise its gain."));
      else warn("");
      if (studio.autostop && studio.autostop.checked && lastSound && loudest >= QUIET_DB
          && (now - lastSound) / 1000 >= AUTOSTOP_SECONDS) onSilence();
    }, 50);
    return {
      stop() {
        clearInterval(timer);
        context.close();
        if (studio.level) studio.level.value = -60;
        warn("");
      },
    };
  }

  function showRecording(row, active) {
    row.classList.toggle("recording", active);
    const text = active ? gettext("■ Stop") : gettext("● Record");
    [row.querySelector(".record-button"), studio.record].forEach((button) => { if (button) button.textContent = text; });
    if (studio.record) studio.record.classList.toggle("recording", active);
  }

  function isLabeled(row) {
    const dropdown = row.querySelector(".style-select");
    return !dropdown || Boolean(dropdown.value);
  }

  async function toggleRecording(row) {
    if (!row) return;
    if (recording) { recording.recorder.stop(); return; }
    if (!isLabeled(row)) {
      toast(gettext("Label the sentence with a style before recording it."), "info", row.dataset.sentenceId);
      return;
    }
    if (!navigator.mediaDevices || !window.MediaRecorder) {
      toast(gettext("This browser cannot record audio: upload a WAV file instead."));
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (error) {
      toast(interpolate(gettext("The microphone is not available (%s): allow it in the browser, or upload a file."), [error.name]));
      return;
    }
    const recorder = new MediaRecorder(stream);
    const chunks = [];
    recording = { recorder, stream, row, monitor: monitor(stream, () => { if (recorder.state === "recording") recorder.stop(); }) };
    showRecording(row, true);
    recorder.ondataavailable = (event) => { if (event.data.size) chunks.push(event.data); };
    recorder.onstop = async () => {
      recording.monitor.stop();
      stream.getTracks().forEach((track) => track.stop());
      recording = null;
      showRecording(row, false);
      try {
        await uploadTake(row, await toWav(new Blob(chunks, { type: recorder.mimeType })));
      } catch (error) {
        toast(interpolate(gettext("The recording could not be processed: %s"), [error.message]), "error", row.dataset.sentenceId);
      }
    };
    recorder.start();
  }
})();
