// rag-video's pages: plain JavaScript over the JSON API. Text goes in with textContent only.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

async function api(url, options = {}) {
  const opts = { credentials: "same-origin", ...options };
  if (opts.method === "POST") {
    opts.headers = { "X-CSRF-Token": csrf(), ...(opts.headers || {}) };
  }
  const response = await fetch(url, opts);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

const postJson = (url, data) =>
  api(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(data) });

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

const seconds = (s) => `${Number(s).toFixed(2)} s`;
const basename = (path) => String(path || "").split("/").pop();

// ---- playback: a source's file, or its proxy once made ---------------------------------------
const mediaState = new Map(); // source_id -> Promise of a playable URL

function playableUrl(sourceId, onProgress) {
  if (!mediaState.has(sourceId)) {
    mediaState.set(sourceId, (async () => {
      for (;;) {
        const { proxy } = await api(`/media/proxy/${encodeURIComponent(sourceId)}`);
        if (proxy.status === "direct" || proxy.status === "ready") return `/media/source/${encodeURIComponent(sourceId)}`;
        if (proxy.status === "failed") throw new Error(`proxy failed: ${proxy.error}`);
        onProgress(proxy.progress);
        await new Promise((r) => setTimeout(r, 1000));
      }
    })());
    mediaState.get(sourceId).catch(() => mediaState.delete(sourceId));
  }
  return mediaState.get(sourceId);
}

async function playRange(video, sourceId, start, end, note) {
  const url = await playableUrl(sourceId, (p) => { if (note) note.textContent = `making a proxy… ${Math.round(p * 100)}%`; });
  if (note) note.textContent = "";
  const want = `${url}#t=${start},${end}`;
  video.dataset.start = start;
  video.dataset.end = end;
  if (!video.src.endsWith(want)) video.src = want;
  else video.currentTime = start;
  if (!video.dataset.looping) {
    video.dataset.looping = "1";
    video.addEventListener("timeupdate", () => {
      if (video.currentTime >= Number(video.dataset.end) - 0.02) video.currentTime = Number(video.dataset.start);
    });
  }
  await video.play().catch(() => {});
}

// ---- search ----------------------------------------------------------------------------------
function searchParams(form) {
  const params = {};
  for (const [key, value] of new FormData(form)) {
    if (key === "image" || value === "") continue;
    params[key] = key === "diverse" ? true : value;
  }
  return params;
}

function resultCard(row, onLike) {
  const video = el("video", { muted: "", playsinline: "", preload: "none", class: "clip" });
  video.muted = true;
  const note = el("span", { class: "note small" });
  const thumb = el("img", { src: row.thumb_url, alt: row.text || row.shot_id, loading: "lazy" });
  const frame = el("div", { class: "frame" }, thumb, video, note);
  const score = row.score === null || row.score === undefined ? "text match" : Number(row.score).toFixed(3);
  const card = el("article", { class: "result", "data-shot": row.shot_id },
    frame,
    el("div", { class: "meta" },
      el("b", { class: "score", text: score }),
      el("span", { class: "src small", text: `${basename(row.path)} · ${seconds(row.start_s)}–${seconds(row.end_s)}` })),
    el("div", { class: "actions" },
      el("button", { type: "button", class: "like", text: "More like this", onclick: () => onLike(row.shot_id) }),
      el("a", { href: `/sources/${encodeURIComponent(row.source_id)}`, class: "small", text: "source" })));
  const play = () => { card.classList.add("playing"); playRange(video, row.source_id, row.start_s, row.end_s, note); };
  frame.addEventListener("mouseenter", play);
  frame.addEventListener("click", play);
  frame.addEventListener("mouseleave", () => { card.classList.remove("playing"); video.pause(); });
  return card;
}

function initSearch() {
  const form = document.getElementById("search");
  const results = document.getElementById("results");
  const status = document.getElementById("status");
  const show = (body, label) => {
    results.replaceChildren(...body.results.map((row) => resultCard(row, like)));
    status.textContent = `${body.results.length} shots${label}`;
  };
  const fail = (err) => { status.textContent = err.message; status.classList.add("error"); };
  async function run(extra = {}) {
    status.classList.remove("error");
    status.textContent = "Searching…";
    const params = { ...searchParams(form), ...extra };
    const file = form.elements.image.files[0];
    try {
      if (file && !extra.like) {
        const data = new FormData();
        data.append("image", file);
        delete params.q;
        if (form.elements.q.value) params.q = form.elements.q.value;
        data.append("params", JSON.stringify(params));
        show(await api("/api/search", { method: "POST", body: data }), ` like ${file.name}`);
      } else {
        if (extra.like) delete params.q;
        show(await api(`/api/search?${new URLSearchParams(params)}`), extra.like ? ` like ${extra.like}` : "");
      }
    } catch (err) { fail(err); }
  }
  function like(shotId) { run({ like: shotId }); window.scrollTo(0, 0); }
  form.addEventListener("submit", (event) => { event.preventDefault(); run(); });
}

// ---- a source's page ----------------------------------------------------------------------------
function initSource() {
  const video = document.getElementById("player");
  const note = document.getElementById("proxy-state");
  const id = video.dataset.source;
  playableUrl(id, (p) => { note.textContent = `making a proxy… ${Math.round(p * 100)}%`; })
    .then((url) => { note.textContent = ""; if (!video.src) video.src = url; })
    .catch((err) => { note.textContent = err.message; });
  for (const button of document.querySelectorAll("#strip .shot")) {
    button.addEventListener("click", () => playRange(video, id, Number(button.dataset.start), Number(button.dataset.end), note));
  }
}

// ---- a run: review and re-render -------------------------------------------------------------
function initRun() {
  const box = document.getElementById("rerender");
  const button = document.getElementById("rerender-button");
  const bar = document.getElementById("rerender-progress");
  const status = document.getElementById("rerender-status");
  const changes = {};
  const summary = () => {
    const n = Object.keys(changes).length;
    document.getElementById("changes").textContent = n ? `${n} shot${n > 1 ? "s" : ""} changed.` : "No changes.";
    button.disabled = n === 0;
  };
  for (const card of document.querySelectorAll(".board .card")) {
    const index = card.dataset.index;
    const select = card.querySelector("select.decision");
    const update = () => {
      const chosen = card.querySelector(".candidates input:checked");
      const change = {};
      if (select.value !== card.dataset.decision) change.decision = select.value;
      if (chosen && !chosen.defaultChecked) change.shot_id = chosen.value;
      if (Object.keys(change).length) changes[index] = change; else delete changes[index];
      card.classList.toggle("changed", index in changes);
      summary();
    };
    select.addEventListener("change", update);
    for (const radio of card.querySelectorAll(".candidates input")) radio.addEventListener("change", update);
  }
  button.addEventListener("click", async () => {
    button.disabled = true;
    bar.hidden = false;
    bar.removeAttribute("value");
    status.textContent = "Queued…";
    let job;
    try { job = await postJson(`/api/runs/${box.dataset.run}/rerender`, { shots: changes }); } catch (err) {
      status.textContent = err.message; button.disabled = false; return;
    }
    const events = new EventSource(job.events);
    events.onmessage = async (message) => {
      const event = JSON.parse(message.data);
      if (event.type === "progress") {
        bar.max = event.total; bar.value = event.done;
        status.textContent = `${event.task} ${event.done}/${event.total}`;
      } else if (event.type === "failed") {
        events.close(); status.textContent = `Failed: ${event.error}`; button.disabled = false;
      } else if (event.type === "done") {
        events.close();
        bar.hidden = true;
        const run = await api(`/api/runs/${event.result.run_id}`);
        const video = document.getElementById("rerendered");
        video.src = run.files.video;
        document.getElementById("rerender-files").replaceChildren(
          ...Object.entries(run.files).map(([kind, url]) => el("a", { href: url, download: "", text: kind })),
          el("a", { href: `/runs/${event.result.run_id}`, text: "open run" }));
        document.getElementById("rerender-result").hidden = false;
        status.textContent = `Re-rendered: ${basename(event.result.output)}`;
        button.disabled = false;
      }
    };
  });
}

// ---- SQL ---------------------------------------------------------------------------------
function initSql() {
  const form = document.getElementById("sql");
  const status = document.getElementById("sql-status");
  const out = document.getElementById("sql-result");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.textContent = "Running…";
    status.classList.remove("error");
    try {
      const body = await postJson("/api/sql", { query: form.elements.query.value });
      const head = el("tr", {}, ...body.columns.map((c) => el("th", { text: c })));
      const rows = body.rows.map((row) => el("tr", {}, ...body.columns.map((c) => {
        const v = row[c];
        return el("td", { text: v === null ? "" : typeof v === "object" ? JSON.stringify(v) : String(v) });
      })));
      out.replaceChildren(el("table", { class: "list" }, el("thead", {}, head), el("tbody", {}, ...rows)));
      status.textContent = `${body.rows.length} rows${body.truncated ? " (truncated)" : ""}`;
    } catch (err) {
      out.replaceChildren();
      status.textContent = err.message;
      status.classList.add("error");
    }
  });
}

const pages = { search: initSearch, source: initSource, run: initRun, sql: initSql };
document.addEventListener("DOMContentLoaded", () => (pages[document.body.dataset.page] || (() => {}))());
