// The enrolment page: drop photos for a name (used / rejected and why), list and remove people, identify a photo.
"use strict";

let picked = [];

function showPicked() {
  document.getElementById("picked").replaceChildren(...picked.map((file) => el("li", {}, file.name)));
}

function addFiles(files) {
  picked = picked.concat(Array.from(files).filter((file) => file.type.startsWith("image/") || file.name));
  showPicked();
}

function reportView(report, failed) {
  const used = report.used.map((source) => el("li", { class: "used" }, source));
  const rejected = report.rejected.map((r) => el("li", { class: "rejected" }, `${r.source}: ${r.reason}`, r.detail ? ` (${r.detail})` : ""));
  return el("div", { class: failed ? "report failed" : "report" },
    el("p", {}, failed ? `${report.name}: nothing enrolled` : `${report.name}: ${report.used.length} photo(s) used, ` +
      `${report.rejected.length} rejected; ${report.embeddings} embedding(s) stored` + (report.created ? " (new person)" : "")),
    el("h3", {}, "Used"), el("ul", { id: "used" }, ...(used.length ? used : [el("li", { class: "none" }, "none")])),
    el("h3", {}, "Rejected"), el("ul", { id: "rejected" }, ...(rejected.length ? rejected : [el("li", { class: "none" }, "none")])));
}

async function refreshPeople() {
  const body = document.querySelector("#people tbody");
  const people = await api("/api/faces/people");
  document.getElementById("people-count").textContent = `(${people.length})`;
  body.replaceChildren(...people.map((person) => {
    const count = Object.values(person.embeddings || {}).reduce((a, b) => a + b, 0);
    const remove = el("button", { class: "remove", "data-name": person.name, onclick: async () => {
      if (!confirm(`Remove ${person.name} and all their embeddings?`)) return;
      await api(`/api/faces/people/${encodeURIComponent(person.name)}`, { method: "DELETE" });
      refreshPeople();
    } }, "remove");
    return el("tr", { "data-name": person.name }, el("td", {}, person.name), el("td", {}, count), el("td", {}, remove));
  }));
}

async function enrol(event) {
  event.preventDefault();
  const name = document.getElementById("enrol-name").value.trim();
  const out = document.getElementById("enrol-result");
  if (!picked.length) { out.replaceChildren(el("p", { class: "error" }, "choose or drop photos first")); return; }
  const form = new FormData();
  for (const file of picked) form.append("photos", file, file.name);
  form.append("replace", document.getElementById("enrol-replace").checked ? "true" : "false");
  const button = document.getElementById("enrol-button");
  button.disabled = true;
  out.replaceChildren(el("p", { class: "note" }, "enrolling..."));
  try {
    const report = await api(`/api/faces/people/${encodeURIComponent(name)}/photos`, { method: "POST", body: form });
    out.replaceChildren(reportView(report, false));
    picked = []; showPicked();
    refreshPeople();
  } catch (error) {
    const report = error.body && error.body.report;
    out.replaceChildren(el("p", { class: "error" }, error.message.split("\n")[0]), ...(report ? [reportView(report, true)] : []));
  } finally {
    button.disabled = false;
  }
}

async function identify(event) {
  event.preventDefault();
  const file = document.getElementById("identify-file").files[0];
  const out = document.getElementById("identify-result");
  const form = new FormData();
  form.append("photo", file, file.name);
  try {
    const result = await api("/api/faces/identify?top_k=3", { method: "POST", body: form });
    if (!result.faces.length) { out.replaceChildren(el("p", { class: "note" }, "no face found")); return; }
    out.replaceChildren(el("ul", { id: "identified" }, ...result.faces.map((face) => el("li", {},
      `${face.identity || "unknown"}` + (face.similarity !== null ? ` (${face.similarity.toFixed(2)})` : ""),
      " · candidates: ", face.candidates.map((c) => `${c.name} ${c.similarity.toFixed(2)}`).join(", ") || "none"))));
  } catch (error) {
    out.replaceChildren(el("p", { class: "error" }, error.message));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const drop = document.getElementById("drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => { event.preventDefault(); drop.classList.remove("over"); addFiles(event.dataTransfer.files); });
  document.getElementById("enrol-files").addEventListener("change", (event) => { addFiles(event.target.files); event.target.value = ""; });
  document.getElementById("enrol-form").addEventListener("submit", enrol);
  document.getElementById("identify-form").addEventListener("submit", identify);
  refreshPeople().catch((error) => document.getElementById("people-count").textContent = error.message);
});
