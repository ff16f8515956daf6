// oidc-tap's web view: the list of login flows (kept live over Server-Sent Events), one flow's
// sequence diagram and the selected exchange's details. Everything shown comes from the
// gateway, already escaped; the list's own text is set with textContent only.
"use strict";

const state = { flows: new Map(), open: null, exchange: null, timer: null, mode: "", down: false };
const $ = (id) => document.getElementById(id);

function rowClass(f) {
  if (f.errors > 0) return "error";
  if (f.warnings > 0) return "warning";
  return f.outcome === "open" ? "open" : "ok";
}

function clock(ms) {
  return ms ? new Date(ms).toISOString().slice(11, 19) : "";
}

function renderRow(f) {
  let li = document.getElementById("row-" + f.id);
  if (!li) {
    li = document.createElement("li");
    li.id = "row-" + f.id;
    li.tabIndex = 0;
    li.dataset.flow = f.id;
    li.addEventListener("click", () => openFlow(f.id));
    li.addEventListener("keydown", (e) => { if (e.key === "Enter") openFlow(f.id); });
    // Newest first: place before the first row with a smaller id.
    const list = $("flows");
    const after = [...list.children].find((c) => Number(c.dataset.flow) < f.id);
    list.insertBefore(li, after || null);
  }
  li.className = rowClass(f) + (state.open === f.id ? " sel" : "");
  li.replaceChildren();
  const head = document.createElement("b");
  head.textContent = "flow " + f.id + " · " + f.outcome;
  li.append(head);
  if (f.worst) {
    const r = document.createElement("span");
    r.className = "rule";
    r.textContent = f.worst.rule;
    r.title = f.worst.message;
    li.append(r);
  }
  const meta = document.createElement("span");
  meta.className = "meta";
  const parts = [clock(f.started), f.exchanges + " exchanges"];
  if (f.errors) parts.push(f.errors + " error" + (f.errors > 1 ? "s" : ""));
  if (f.warnings) parts.push(f.warnings + " warning" + (f.warnings > 1 ? "s" : ""));
  if (f.user) parts.push(f.user);
  meta.textContent = parts.join(" · ");
  li.append(meta);
  $("empty").hidden = true;
}

function header(info) {
  const mode = $("mode");
  mode.textContent = info.title;
  state.mode = info.mode;
  mode.className = "mode" + (info.mode === "live" && !state.down ? " live" : "");
  $("lost").hidden = !info.lost;
  $("lost").textContent = info.lost ? info.lost + " events not shown (the view fell behind; the journal has them)" : "";
}

async function loadAll() {
  const r = await fetch("/api/flows", { cache: "no-store" });
  if (!r.ok) return;
  const info = await r.json();
  header(info);
  for (const f of info.flows) {
    state.flows.set(f.id, f);
    renderRow(f);
  }
  if (state.open === null) {
    const wanted = fromHash();
    const pick = wanted.flow ?? (info.flows.find((f) => f.errors > 0) || info.flows[0] || {}).id;
    if (pick !== undefined) openFlow(pick, wanted.exchange);
  } else {
    openFlow(state.open, state.exchange);
  }
}

function fromHash() {
  const m = /^#flow-(\d+)(?:\/x-(\d+))?$/.exec(location.hash);
  return m ? { flow: Number(m[1]), exchange: m[2] ? Number(m[2]) : null } : {};
}

async function openFlow(id, exchange) {
  const changed = state.open !== id;
  state.open = id;
  document.querySelectorAll("ol.flows li").forEach((li) => li.classList.toggle("sel", Number(li.dataset.flow) === id));
  const r = await fetch("/api/flows/" + id, { cache: "no-store" });
  if (!r.ok || state.open !== id) return;
  const main = $("flow");
  const scroll = main.scrollTop;
  main.innerHTML = await r.text();
  const bar = document.createElement("div");
  bar.className = "flowbar";
  bar.append("this flow:");
  for (const [label, file] of [["HAR", "trace.har"], ["journal", "trace.jsonl"], ["report", "report.md"]]) {
    const a = document.createElement("a");
    a.href = "/download/" + file + "?flow=" + id;
    a.download = "";
    a.textContent = label;
    bar.append(a);
  }
  main.prepend(bar);
  main.querySelectorAll(".seq a.arrow").forEach((a) => {
    a.addEventListener("click", (e) => { e.preventDefault(); selectExchange(Number(a.dataset.x), true); });
  });
  const keep = changed ? exchange : state.exchange;
  const fail = main.querySelector(".seq a.arrow.fail") || main.querySelector(".seq a.arrow.warn") || main.querySelector(".seq a.arrow");
  selectExchange(keep ?? (fail ? Number(fail.dataset.x) : null), false);
  if (!changed) main.scrollTop = scroll;
  relativeTimes();
}

function selectExchange(x, focus) {
  state.exchange = x;
  document.querySelectorAll(".seq a.arrow").forEach((a) => {
    const on = Number(a.dataset.x) === x;
    a.classList.toggle("sel", on);
    a.setAttribute("aria-current", on ? "true" : "false");
    if (on && focus) a.focus();
  });
  document.querySelectorAll(".xd").forEach((d) => d.classList.toggle("sel", Number(d.dataset.x) === x));
  const hash = "#flow-" + state.open + (x !== null ? "/x-" + x : "");
  if (location.hash !== hash) history.replaceState(null, "", hash);
}

function step(delta) {
  const arrows = [...document.querySelectorAll(".seq a.arrow")].map((a) => Number(a.dataset.x));
  if (!arrows.length) return;
  const i = arrows.indexOf(state.exchange);
  const next = arrows[Math.min(arrows.length - 1, Math.max(0, (i < 0 ? 0 : i + delta)))];
  selectExchange(next, true);
}

function stepFlow(delta) {
  const rows = [...document.querySelectorAll("ol.flows li")].filter((li) => li.offsetParent !== null).map((li) => Number(li.dataset.flow));
  if (!rows.length) return;
  const i = rows.indexOf(state.open);
  const next = rows[Math.min(rows.length - 1, Math.max(0, (i < 0 ? 0 : i + delta)))];
  state.exchange = null;
  openFlow(next, null);
}

document.addEventListener("keydown", (e) => {
  if (e.target instanceof HTMLInputElement || e.altKey || e.ctrlKey || e.metaKey) return;
  const k = e.key;
  if (k === "ArrowDown" || k === "j") { step(1); e.preventDefault(); }
  else if (k === "ArrowUp" || k === "k") { step(-1); e.preventDefault(); }
  else if (k === "ArrowRight" || k === "]") { stepFlow(1); e.preventDefault(); }
  else if (k === "ArrowLeft" || k === "[") { stepFlow(-1); e.preventDefault(); }
});

// "expires in 59 min" as of now, beside "when it arrived".
function human(s) {
  s = Math.abs(s);
  if (s < 90) return s + " s";
  if (s < 5400) return Math.round(s / 60) + " min";
  if (s < 172800) return Math.round(s / 3600) + " h";
  return Math.round(s / 86400) + " days";
}
function relativeTimes() {
  const now = Date.now() / 1000;
  document.querySelectorAll(".rel[data-t]").forEach((el) => {
    const d = Number(el.dataset.t) - now;
    el.textContent = d > 0 ? "· " + el.dataset.future + " in " + human(Math.round(d)) + " from now"
      : "· " + el.dataset.past + " " + human(Math.round(d)) + " ago";
  });
}
setInterval(relativeTimes, 1000);

function refreshOpen() {
  clearTimeout(state.timer);
  state.timer = setTimeout(() => { if (state.open !== null) openFlow(state.open, state.exchange); }, 150);
}

function listen() {
  const es = new EventSource("/events");
  es.addEventListener("open", () => {
    $("mode").classList.toggle("live", state.mode === "live");
    $("mode").classList.remove("down");
    // Back after a break: what happened meanwhile is read again.
    if (state.down) { state.down = false; loadAll(); }
  });
  es.addEventListener("error", () => {
    state.down = true;
    $("mode").classList.remove("live");
    if (state.mode === "live") $("mode").classList.add("down");
  });
  es.addEventListener("flow", (e) => {
    const f = JSON.parse(e.data);
    state.flows.set(f.id, f);
    renderRow(f);
    if (state.open === null) openFlow(f.id, null);
    else if (state.open === f.id) refreshOpen();
  });
  es.addEventListener("info", (e) => header(JSON.parse(e.data)));
  // The view fell behind: everything is read again.
  es.addEventListener("reload", () => loadAll());
}

// The filter hides flows without an error; the top-bar downloads then hold only what is shown.
const only = $("errors-only");
function applyFilter() {
  document.body.classList.toggle("errors-only", only.checked);
  for (const [id, file] of [["dl-har", "trace.har"], ["dl-jsonl", "trace.jsonl"], ["dl-md", "report.md"]]) {
    $(id).href = "/download/" + file + (only.checked ? "?errors=1" : "");
  }
}
only.checked = localStorage.getItem("oidc-tap.errors-only") === "1";
applyFilter();
only.addEventListener("change", () => {
  localStorage.setItem("oidc-tap.errors-only", only.checked ? "1" : "0");
  applyFilter();
});

loadAll().then(listen);
