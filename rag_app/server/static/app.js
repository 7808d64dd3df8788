// The rag-app web page: chat with streamed, cited answers; upload and ingest; the list of indexed sources.
// Plain DOM, no build step. Every piece of document or server text is shown with textContent (or text
// nodes), never parsed as HTML, so a document cannot inject markup or script into the page.
"use strict";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "rag-app-token";
let conversationId = null;

// ---- HTTP ----------------------------------------------------------------------------------------

function authHeaders(extra = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
}

class ApiError extends Error {}

async function errorMessage(response) {
  try {
    const body = await response.json();
    if (typeof body.detail === "string") return body.detail;
    if (body.error && body.error.message) return body.error.message;
  } catch (_) { /* not JSON */ }
  return `${response.status} ${response.statusText}`;
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: authHeaders(options.headers || {}) });
  if (response.status === 401) askForToken();
  if (!response.ok) throw new ApiError(await errorMessage(response));
  return response;
}

function askForToken() {
  $("token-form").hidden = false;
  $("status").textContent = "This server needs its API token.";
}

// Server-sent events from a stream of text: calls onEvent(name, data) for each complete event and returns
// the unparsed remainder.
function parseEvents(buffer, onEvent) {
  let end;
  while ((end = buffer.indexOf("\n\n")) >= 0) {
    const block = buffer.slice(0, end);
    buffer = buffer.slice(end + 2);
    let name = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) name = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
    }
    if (data.length) onEvent(name, JSON.parse(data.join("\n")));
  }
  return buffer;
}

// ---- status and sources --------------------------------------------------------------------------

async function refreshStatus() {
  try {
    const health = await (await fetch("api/health")).json();
    $("status").textContent = `${health.chunks} chunks indexed`;
  } catch (err) {
    $("status").textContent = `server unreachable (${err.message})`;
  }
}

async function refreshSources() {
  const list = $("source-list");
  try {
    const sources = await (await api("api/sources")).json();
    list.replaceChildren();
    if (!sources.length) {
      const empty = document.createElement("li");
      empty.className = "muted";
      empty.textContent = "Nothing indexed yet: add documents above.";
      list.append(empty);
    }
    for (const item of sources) {
      const row = document.createElement("li");
      row.dataset.source = item.source;
      const name = document.createElement("span");
      name.className = "source-name";
      name.textContent = item.source;
      const count = document.createElement("span");
      count.className = "muted";
      count.textContent = ` ${item.chunks} chunks`;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "secondary small remove";
      remove.textContent = "Remove";
      remove.setAttribute("aria-label", `Remove ${item.source}`);
      remove.addEventListener("click", () => removeSource(item.source, remove));
      row.append(name, count, remove);
      list.append(row);
    }
  } catch (err) {
    list.replaceChildren(textItem(`Cannot list sources: ${err.message}`, "error"));
  }
  refreshStatus();
}

function textItem(text, className) {
  const li = document.createElement("li");
  li.className = className;
  li.textContent = text;
  return li;
}

async function removeSource(source, button) {
  if (!confirm(`Remove ${source} from the index?`)) return;
  button.disabled = true;
  try {
    const path = source.split("/").map(encodeURIComponent).join("/");
    await api(`api/sources/${path}`, { method: "DELETE" });
  } catch (err) {
    alert(`Cannot remove ${source}: ${err.message}`);
  }
  refreshSources();
}

// ---- chat ----------------------------------------------------------------------------------------

function addMessage(role) {
  $("empty-chat")?.remove();
  const box = document.createElement("article");
  box.className = `message ${role}`;
  const body = document.createElement("div");
  body.className = "body";
  box.append(body);
  $("messages").append(box);
  return box;
}

function formatScore(score) {
  return score === null || score === undefined ? "–" : Number(score).toFixed(3);
}

function openCitation(source) {
  $("citation-title").textContent = `Passage [${source.id}]`;
  $("citation-source").textContent = source.source ?? "unknown";
  $("citation-page").textContent = source.page ?? "–";
  $("citation-score").textContent = formatScore(source.score);
  $("citation-text").textContent = source.text;
  $("citation-dialog").showModal();
}

function citationButton(source, label) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "citation";
  button.dataset.id = String(source.id);
  button.textContent = label;
  button.title = `${source.source ?? "unknown"}${source.page ? `, page ${source.page}` : ""}`;
  button.addEventListener("click", () => openCitation(source));
  return button;
}

// Whether a citation's sentence is backed by a passage (answers from before the support check carry no
// "supported": a sentence with passages counts as backed).
function isSupported(citation) {
  return citation.supported === undefined || citation.supported === null ? citation.ids.length > 0 : citation.supported;
}

// The answer text with each [n] that names a source turned into a button; everything else stays text.
// Sentences the model left uncited but the server matched to a passage (citations[].origin "matched") get a
// dashed button after them, so the reader sees which citations the model wrote and which were inferred.
// Sentences no passage supports (citations[].supported false) are wrapped in a span.unsupported (wavy
// underline, with the reason as its tooltip): never shown as plain text.
function renderAnswer(body, answer, sources, citations = []) {
  const byId = new Map(sources.map((s) => [String(s.id), s]));
  const marks = [];
  for (const match of answer.matchAll(/\[(\d+)\]/g)) {
    const source = byId.get(match[1]);
    if (source) marks.push({ start: match.index, end: match.index + match[0].length, source, label: match[0] });
  }
  for (const citation of citations) {
    if (citation.origin !== "matched" || !isSupported(citation)) continue;
    for (const id of citation.ids) {
      const source = byId.get(String(id));
      if (source) marks.push({ start: citation.end, end: citation.end, source, label: `[${id}]`, matched: true });
    }
  }
  marks.sort((a, b) => a.start - b.start);

  // Regions covering the answer: plain text, or one unsupported sentence.
  const regions = [];
  let at = 0;
  const unsupported = citations
    .filter((c) => !isSupported(c) && c.end > c.start && c.start >= 0 && c.end <= answer.length)
    .sort((a, b) => a.start - b.start);
  for (const citation of unsupported) {
    if (citation.start < at) continue;  // overlapping spans: keep the first
    if (citation.start > at) regions.push({ start: at, end: citation.start, citation: null });
    regions.push({ start: citation.start, end: citation.end, citation });
    at = citation.end;
  }
  if (at < answer.length || !regions.length) regions.push({ start: at, end: answer.length, citation: null });

  body.replaceChildren();
  let next = 0;  // the first mark not yet placed
  for (const region of regions) {
    let container = body;
    if (region.citation) {
      container = document.createElement("span");
      container.className = "unsupported";
      const reason = region.citation.reason || "no passage given to the model states it";
      container.title = `not supported by the passages: ${reason}`;
      body.append(container);
    }
    let last = region.start;
    while (next < marks.length && marks[next].end <= region.end) {
      const mark = marks[next++];
      if (mark.start < last) continue;  // straddles a region's edge: left as text
      container.append(document.createTextNode(answer.slice(last, mark.start)));
      const button = citationButton(mark.source, mark.label);
      if (mark.matched) {
        button.classList.add("matched");
        button.title += " (matched by the sentence's words; the model did not cite it)";
      }
      if (region.citation) button.title += " (cited, but it does not support this sentence)";
      container.append(button);
      last = mark.end;
    }
    container.append(document.createTextNode(answer.slice(last, region.end)));
  }
}

// The model's draft (verified mode) while it is checked against the passages: dimmed, labelled, not the answer.
function showDraft(box, text) {
  let draft = box.querySelector(".draft");
  if (!draft) {
    draft = document.createElement("div");
    draft.className = "draft";
    const label = document.createElement("span");
    label.className = "draft-label";
    label.textContent = "checking against the documents…";
    const content = document.createElement("span");
    content.className = "draft-text";
    draft.append(label, content);
    box.prepend(draft);
  }
  draft.querySelector(".draft-text").textContent = text;
}

// The generated answer was not supported: say so, keep it readable behind a disclosure.
function showFallback(box, fallback) {
  box.querySelector(".fallback")?.remove();
  const notice = document.createElement("div");
  notice.className = "fallback";
  notice.setAttribute("role", "note");
  const text = document.createElement("p");
  const reason = fallback.reason || "a sentence is not supported by the passages";
  text.textContent = `The generated answer was not supported by the documents (${reason}); showing quoted sentences instead.`;
  notice.append(text);
  if (fallback.generated) {
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = "Show the generated answer";
    const generated = document.createElement("blockquote");
    generated.className = "generated";
    generated.textContent = fallback.generated;
    details.append(summary, generated);
    if (fallback.unsupported && fallback.unsupported.length) {
      const list = document.createElement("ul");
      list.className = "unsupported-list";
      for (const sentence of fallback.unsupported) list.append(textItem(`Not supported: ${sentence}`, ""));
      details.append(list);
    }
    notice.append(details);
  }
  box.querySelector(".body").before(notice);
}

function renderSources(box, sources) {
  if (!sources.length) return;
  const list = document.createElement("ol");
  list.className = "sources";
  for (const source of sources) {
    const item = document.createElement("li");
    const where = `${source.source ?? "unknown"}${source.page ? `, p. ${source.page}` : ""}`;
    item.append(citationButton(source, `[${source.id}] ${where}`));
    const score = document.createElement("span");
    score.className = "muted";
    score.textContent = ` score ${formatScore(source.score)}`;
    item.append(score);
    list.append(item);
  }
  box.append(list);
}

async function ask(question) {
  addMessage("user").querySelector(".body").textContent = question;
  const box = addMessage("assistant");
  const body = box.querySelector(".body");
  box.classList.add("streaming");
  $("ask-button").disabled = true;
  let answer = "";
  let draft = "";
  try {
    const payload = { question };
    if (conversationId) payload.conversation_id = conversationId;
    const response = await api("api/chat", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify(payload),
    });
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    const onEvent = (name, data) => {
      if (name === "meta") conversationId = data.conversation_id;
      else if (name === "draft") { draft += data.text; showDraft(box, draft); }
      else if (name === "token") {
        box.querySelector(".draft")?.remove();  // the answer replaces the draft
        answer += data.text;
        body.textContent = answer;
      }
      else if (name === "fallback") showFallback(box, data);
      else if (name === "sources") {
        renderAnswer(body, answer, data.sources, data.citations || []);
        renderSources(box, data.sources);
      }
      else if (name === "done") {
        box.querySelector(".draft")?.remove();
        box.dataset.answerMode = data.answer_mode || "";
      }
      else if (name === "error") throw new ApiError(data.detail);
    };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer = parseEvents(buffer + decoder.decode(value, { stream: true }), onEvent);
    }
  } catch (err) {
    const error = document.createElement("p");
    error.className = "error";
    error.textContent = `Error: ${err.message}`;
    box.append(error);
  } finally {
    box.classList.remove("streaming");
    $("ask-button").disabled = false;
    $("messages").scrollTop = $("messages").scrollHeight;
  }
}

// ---- upload --------------------------------------------------------------------------------------

function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function showChosen(files) {
  $("chosen-files").replaceChildren(...Array.from(files, (f) => textItem(`${f.name} (${formatSize(f.size)})`, "")));
}

function upload(files) {
  const form = new FormData();
  for (const file of files) form.append("files", file, file.name);
  const progress = $("upload-progress");
  const status = $("upload-status");
  const rows = $("upload-report").querySelector("tbody");
  const results = new Map();
  progress.hidden = false;
  progress.value = 0;
  rows.replaceChildren();
  $("upload-report").hidden = true;
  $("upload-button").disabled = true;
  status.className = "";
  status.textContent = "Uploading…";

  const xhr = new XMLHttpRequest();
  xhr.open("POST", "api/ingest");
  for (const [key, value] of Object.entries(authHeaders({ Accept: "text/event-stream" }))) xhr.setRequestHeader(key, value);
  xhr.upload.onprogress = (e) => {
    if (e.lengthComputable) {
      progress.value = e.loaded / e.total;
      status.textContent = `Uploading… ${Math.round((100 * e.loaded) / e.total)} %`;
    }
  };
  let seen = 0;
  let buffer = "";
  const onEvent = (name, data) => {
    if (name === "stored") {
      progress.value = 0;
      status.textContent = `Stored ${data.uploads.length} file(s); ingesting…`;
    } else if (name === "progress") {
      results.set(data.source, data.status);
      progress.value = data.done / data.total;
      status.textContent = `Ingesting ${data.done} of ${data.total}: ${data.source} (${data.status})`;
    } else if (name === "report") {
      showReport(data, results);
    } else if (name === "error") {
      status.className = "error";
      status.textContent = data.detail;
    }
  };
  xhr.onprogress = () => {
    if (xhr.status !== 200) return;
    buffer = parseEvents(buffer + xhr.responseText.slice(seen), onEvent);
    seen = xhr.responseText.length;
  };
  xhr.onloadend = () => {
    $("upload-button").disabled = false;
    progress.hidden = true;
    if (xhr.status === 200) {
      buffer = parseEvents(buffer + xhr.responseText.slice(seen), onEvent);
      seen = xhr.responseText.length;
      $("file-input").value = "";
      showChosen([]);
      refreshSources();
      return;
    }
    if (xhr.status === 401) askForToken();
    let detail = `upload failed (${xhr.status || "network error"})`;
    try { detail = JSON.parse(xhr.responseText).detail || detail; } catch (_) { /* not JSON */ }
    status.className = "error";
    status.textContent = detail;
  };
  xhr.send(form);
}

function showReport(report, results) {
  // One row per uploaded file: its status (ingested, unchanged, failed, kept_previous), the error of a failed
  // file, and its warnings (pages without text, an encoding guessed, headings not found...), one line each.
  const rows = $("upload-report").querySelector("tbody");
  const files = new Map((report.files || []).map((f) => [f.source, f]));
  const failures = new Map(report.files_failed.map((f) => [f.source, f]));
  let warned = 0;
  rows.replaceChildren();
  for (const item of report.uploads) {
    const row = document.createElement("tr");
    const name = document.createElement("td");
    name.textContent = item.source === item.filename ? item.source : `${item.filename} → ${item.source}`;
    const result = document.createElement("td");
    const file = files.get(item.source);
    const failure = failures.get(item.source);
    const status = file ? file.status : (failure ? "failed" : (results.get(item.source) || "done"));
    const error = file ? file.error : (failure && failure.error);
    const line = document.createElement("span");
    line.className = "file-status";
    line.textContent = status === "kept_previous"
      ? `failed, last good version kept: ${error}`
      : (error ? `${status}: ${error}` : status);
    if (file && file.chunks_added) line.textContent += ` (+${file.chunks_added} chunks)`;
    result.className = error ? "error" : "ok";
    result.append(line);
    const warnings = (file && file.warnings) || [];
    if (warnings.length) {
      warned += 1;
      const list = document.createElement("ul");
      list.className = "warnings";
      for (const warning of warnings) list.append(textItem(warning, "warning"));
      result.append(list);
    }
    row.append(name, result);
    rows.append(row);
  }
  $("upload-totals").textContent =
    `${report.files_ingested} ingested, ${report.files_unchanged} unchanged, ${report.files_failed.length} failed` +
    `${warned ? `, ${warned} with warnings` : ""}; ${report.chunks_added} chunks added, ${report.chunks_total} in the index`;
  $("upload-report").hidden = false;
  const status = $("upload-status");
  status.className = report.files_failed.length ? "error" : (warned ? "warn" : "ok");
  status.textContent = report.files_failed.length ? "Some files could not be ingested."
    : (warned ? "Done, with warnings: see below." : "Done.");
}

// ---- wiring --------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("ask-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const question = $("question").value.trim();
    if (!question) return;
    $("question").value = "";
    ask(question);
  });
  $("question").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("ask-form").requestSubmit(); }
  });
  $("new-chat").addEventListener("click", () => {
    conversationId = null;
    $("messages").replaceChildren();
  });
  $("file-input").addEventListener("change", () => showChosen($("file-input").files));
  const zone = $("drop-zone");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    $("file-input").files = e.dataTransfer.files;
    showChosen(e.dataTransfer.files);
  });
  $("upload-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const files = $("file-input").files;
    if (!files.length) { $("upload-status").textContent = "Choose one or more files first."; return; }
    upload(files);
  });
  $("refresh-sources").addEventListener("click", refreshSources);
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token-input").value);
    $("token-form").hidden = true;
    refreshSources();
  });
  refreshSources();
});
