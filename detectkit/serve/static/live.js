// The live page: each stream's MJPEG view, its state, FPS and latency, and a live list of objects and faces (SSE).
"use strict";

function describeBox(box) {
  const who = box.identity === undefined ? box.label : (box.identity === null ? "unknown face" : box.identity);
  const score = box.similarity !== undefined && box.similarity !== null ? box.similarity : box.confidence;
  const track = box.tracker_id !== undefined ? " #" + box.tracker_id : "";
  return { who, text: `${who}${track} (${Number(score).toFixed(2)})` };
}

function streamCard(status) {
  const name = status.name;
  const state = el("span", { class: "state", id: `state-${name}` }, status.state);
  const stats = el("span", { class: "stats", id: `stats-${name}` }, "FPS -- · latency --");
  const error = el("p", { class: "error", id: `error-${name}` });
  const image = el("img", { id: `view-${name}`, alt: `live view of ${name}`, src: withToken(`/streams/${encodeURIComponent(name)}.mjpg`) });
  const faces = el("ul", { class: "faces", id: `faces-${name}` });
  const objects = el("ul", { class: "objects", id: `objects-${name}` });
  const card = el("section", { class: "stream", id: `stream-${name}` },
    el("h2", {}, name, " ", state, " ", stats),
    error,
    el("div", { class: "row" },
      el("div", { class: "view" }, image),
      el("div", { class: "lists" }, el("h3", {}, "Faces"), faces, el("h3", {}, "Objects"), objects)));
  showStatus(status);
  return card;
}

function showStatus(status) {
  const state = document.getElementById(`state-${status.name}`);
  if (!state) return;
  state.textContent = status.state;
  state.className = "state " + status.state;
  const error = document.getElementById(`error-${status.name}`);
  error.textContent = status.error ? `${status.error}` + (status.retry_in_s !== null ? ` (retrying in ${status.retry_in_s} s)` : "") : "";
}

function showFrame(message) {
  const name = message.stream;
  const latency = message.latency_ms === null ? "--" : `${Math.round(message.latency_ms)} ms`;
  document.getElementById(`stats-${name}`).textContent = `FPS ${message.fps.toFixed(1)} · latency ${latency} · frame ${message.frame}`;
  const fill = (id, boxes) => {
    const list = document.getElementById(id);
    list.replaceChildren(...boxes.map((box) => {
      const { who, text } = describeBox(box);
      return el("li", { "data-name": who }, text);
    }));
    if (!boxes.length) list.append(el("li", { class: "none" }, "none"));
  };
  fill(`faces-${name}`, message.faces);
  fill(`objects-${name}`, message.objects);
}

function follow(name) {
  const events = new EventSource(withToken(`/streams/${encodeURIComponent(name)}/events`));
  events.addEventListener("frame", (event) => showFrame(JSON.parse(event.data)));
  events.addEventListener("status", (event) => showStatus(JSON.parse(event.data)));
  events.onerror = () => {
    const state = document.getElementById(`state-${name}`);
    if (state) { state.textContent = "disconnected"; state.className = "state failed"; }
  };
}

document.addEventListener("DOMContentLoaded", async () => {
  const box = document.getElementById("streams");
  try {
    const streams = await api("/api/streams");
    document.getElementById("no-streams").hidden = streams.length > 0;
    for (const status of streams) {
      box.append(streamCard(status));
      follow(status.name);
    }
    setInterval(async () => { for (const s of await api("/api/streams")) showStatus(s); }, 3000);
  } catch (error) {
    box.append(el("p", { class: "error" }, `could not list the streams: ${error.message}`));
  }
});
