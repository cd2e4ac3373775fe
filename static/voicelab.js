// Voice Lab workspace: error toasts, keyboard navigation and in-browser recording.
// htmx does the requests; this file only adds what htmx has no attribute for.
(function () {
  "use strict";

  // The styles keys 1-4 label with, in order: the page says which (json_script "voicelab-styles").
  const stylesData = document.getElementById("voicelab-styles");
  const STYLES = stylesData ? JSON.parse(stylesData.textContent) : [];
  let currentRow = null;
  let recording = null; // {recorder, stream, chunks, sentenceId, button}

  function toast(message, kind) {
    const box = document.getElementById("toast");
    if (!box) return;
    box.textContent = message;
    box.className = "toast " + (kind || "error");
    box.hidden = false;
    clearTimeout(box._timer);
    box._timer = setTimeout(() => { box.hidden = true; }, 8000);
  }

  function csrfToken() {
    return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
  }

  // A refused request (4xx/5xx) or a lost connection: say why, the page stays as it was.
  document.addEventListener("htmx:responseError", (event) => {
    const xhr = event.detail.xhr;
    const plain = (xhr.getResponseHeader("Content-Type") || "").startsWith("text/plain");
    toast(plain && xhr.responseText ? xhr.responseText
      : interpolate(gettext("The server refused the request (HTTP %s)."), [xhr.status]));
  });
  document.addEventListener("htmx:sendError", () => toast(gettext("The lab could not be reached: check the connection and try again.")));
  // A request that worked but has something to say (HX-Trigger: {"voicelab:notice": "..."}).
  const NOTICE = "voicelab:notice";
  document.addEventListener(NOTICE, (event) => toast(event.detail.value, "info"));

  // ---- keyboard navigation --------------------------------------------------------------
  function rows() { return Array.from(document.querySelectorAll(".sentence-row")); }

  function select(row) {
    if (!row) return;
    if (currentRow) currentRow.classList.remove("current");
    currentRow = row;
    row.classList.add("current");
    row.scrollIntoView({ block: "nearest" });
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

  async function uploadTake(row, wav) {
    const form = new FormData();
    form.append("audio", wav, row.dataset.sentenceId + ".wav");
    form.append("source", "browser");
    const response = await fetch(row.dataset.uploadUrl, {
      method: "POST", body: form, headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true" },
    });
    const body = await response.text();
    if (!response.ok) { toast(body || interpolate(gettext("Upload refused (HTTP %s)."), [response.status])); return; }
    const cell = document.getElementById("take-" + row.dataset.sentenceId);
    if (cell) { cell.outerHTML = body; htmx.process(document.getElementById("take-" + row.dataset.sentenceId)); }
    const notice = JSON.parse(response.headers.get("HX-Trigger") || "{}")[NOTICE];
    if (notice) toast(notice, "info");
  }

  async function toggleRecording(row) {
    if (!row) return;
    if (recording) { recording.recorder.stop(); return; }
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
    const button = row.querySelector(".record-button");
    recording = { recorder, stream, button };
    row.classList.add("recording");
    if (button) button.textContent = gettext("■ Stop");
    recorder.ondataavailable = (event) => { if (event.data.size) chunks.push(event.data); };
    recorder.onstop = async () => {
      stream.getTracks().forEach((track) => track.stop());
      recording = null;
      row.classList.remove("recording");
      if (button) button.textContent = gettext("● Record");
      try {
        await uploadTake(row, await toWav(new Blob(chunks, { type: recorder.mimeType })));
      } catch (error) {
        toast(interpolate(gettext("The recording could not be processed: %s"), [error.message]));
      }
    };
    recorder.start();
  }
})();
