namespace GidCluster.Silo.Dashboard;

/// <summary>
/// The dashboard page: one self-contained document (no CDN, nothing outside the silo). Every URL in it
/// is relative to the <c>&lt;base&gt;</c> the server fills in, so it works under a proxy prefix.
/// The token lives only in sessionStorage and the Authorization header, never in a URL.
/// </summary>
internal static class DashboardPage
{
    public const string Html = """
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<base href="{{BASE}}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>GidCluster dashboard</title>
<style>
:root { --bg:#0f1419; --panel:#171d24; --line:#263040; --text:#d8dee9; --dim:#8591a3;
  --pending:#6b7280; --leased:#3b82f6; --done:#22c55e; --quarantined:#ef4444; --warn:#f59e0b; --x:#38bdf8; --y:#f472b6; }
* { box-sizing:border-box; }
body { margin:0; background:var(--bg); color:var(--text); font:14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; }
header { display:flex; align-items:center; gap:16px; padding:10px 20px; border-bottom:1px solid var(--line); background:#121820; }
header h1 { font-size:18px; margin:0; font-weight:600; letter-spacing:.3px; }
header .meta { color:var(--dim); font-size:12px; }
header .spacer { flex:1; }
.dot { display:inline-block; width:9px; height:9px; border-radius:50%; background:var(--pending); margin-right:6px; }
.dot.live { background:var(--done); } .dot.poll { background:var(--warn); } .dot.off { background:var(--quarantined); }
button { background:#243042; color:var(--text); border:1px solid var(--line); border-radius:6px; padding:6px 12px; cursor:pointer; }
button:hover { background:#2d3b50; }
main { padding:16px 20px; display:grid; gap:14px; grid-template-columns:repeat(12, 1fr); }
.panel { background:var(--panel); border:1px solid var(--line); border-radius:10px; padding:12px 14px; min-width:0; }
.panel h2 { font-size:13px; text-transform:uppercase; letter-spacing:.8px; color:var(--dim); margin:0 0 10px; font-weight:600; }
.w12 { grid-column:span 12; } .w8 { grid-column:span 8; } .w7 { grid-column:span 7; } .w6 { grid-column:span 6; } .w5 { grid-column:span 5; } .w4 { grid-column:span 4; }
@media (max-width:1100px) { .w8,.w7,.w6,.w5,.w4 { grid-column:span 12; } }
.kpis { display:grid; grid-template-columns:repeat(6, 1fr); gap:12px; }
.kpi { background:var(--panel); border:1px solid var(--line); border-radius:10px; padding:10px 14px; }
.kpi .v { font-size:28px; font-weight:650; font-variant-numeric:tabular-nums; }
.kpi .l { color:var(--dim); font-size:12px; text-transform:uppercase; letter-spacing:.6px; }
table { width:100%; border-collapse:collapse; font-variant-numeric:tabular-nums; }
th { text-align:left; color:var(--dim); font-weight:500; font-size:12px; padding:4px 6px; border-bottom:1px solid var(--line); }
td { padding:6px; border-bottom:1px solid #1e2631; vertical-align:middle; }
td.num, th.num { text-align:right; }
.mono { font-family:ui-monospace, "SFMono-Regular", Menlo, monospace; font-size:12.5px; }
.badge { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; font-weight:600; color:#0b0f14; }
.s-running,.s-leased,.s-active { background:var(--leased); color:#fff; } .s-merging { background:#a78bfa; }
.s-succeeded,.s-done,.s-alive { background:var(--done); } .s-failed,.s-quarantined,.s-stale,.s-stopped { background:var(--quarantined); color:#fff; }
.s-pending { background:var(--pending); color:#fff; } .s-draining { background:var(--warn); }
.bar { display:flex; height:12px; border-radius:6px; overflow:hidden; background:#222b37; min-width:160px; }
.bar span { display:block; height:100%; }
.meter { height:8px; background:#222b37; border-radius:4px; overflow:hidden; width:90px; display:inline-block; vertical-align:middle; margin-right:6px; }
.meter span { display:block; height:100%; background:var(--x); }
.empty { color:var(--dim); font-style:italic; padding:14px 4px; }
.err { color:#fca5a5; }
.legend { display:flex; gap:14px; font-size:12px; color:var(--dim); margin-top:6px; flex-wrap:wrap; }
.legend i { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:5px; vertical-align:-1px; }
svg text { fill:var(--dim); font-size:11px; font-family:system-ui, sans-serif; }
#login { max-width:380px; margin:12vh auto; background:var(--panel); border:1px solid var(--line); border-radius:12px; padding:24px; }
#login h1 { margin:0 0 6px; font-size:20px; } #login p { color:var(--dim); margin:0 0 16px; }
#login input { width:100%; padding:9px 10px; border-radius:6px; border:1px solid var(--line); background:#0f1419; color:var(--text); margin-bottom:12px; }
#login-error { color:#fca5a5; min-height:20px; margin-top:8px; }
.hidden { display:none !important; }
.events td { font-size:12.5px; }
</style>
</head>
<body>
<form id="login" autocomplete="off">
  <h1>GidCluster</h1>
  <p>Enter the cluster's API token to open the dashboard. It is kept only in this tab's session storage.</p>
  <input id="token" type="password" placeholder="API token" aria-label="API token" autocomplete="off">
  <button type="submit" id="login-button">Open dashboard</button>
  <div id="login-error"></div>
</form>
<div id="dashboard" class="hidden">
  <header>
    <h1>GidCluster</h1>
    <span class="meta" id="where"></span>
    <span class="spacer"></span>
    <span class="meta"><span class="dot" id="conn-dot"></span><span id="conn">connecting</span></span>
    <span class="meta" id="updated"></span>
    <a class="meta" id="orleans-link" href="orleans/">Orleans dashboard</a>
    <button id="logout" type="button">Sign out</button>
  </header>
  <main>
    <div class="w12 kpis">
      <div class="kpi"><div class="l">Silos alive</div><div class="v" id="kpi-silos">–</div></div>
      <div class="kpi"><div class="l">Jobs running</div><div class="v" id="kpi-jobs">–</div></div>
      <div class="kpi"><div class="l">Videos done</div><div class="v" id="kpi-done">–</div></div>
      <div class="kpi"><div class="l">Videos / min</div><div class="v" id="kpi-rate">–</div></div>
      <div class="kpi"><div class="l">Quarantined</div><div class="v" id="kpi-quarantined">–</div></div>
      <div class="kpi"><div class="l">Training runs</div><div class="v" id="kpi-runs">–</div></div>
    </div>
    <section class="panel w7"><h2>Silos</h2><div id="silos"></div></section>
    <section class="panel w5"><h2 id="throughput-title">Grains done</h2><div id="throughput"></div></section>
    <section class="panel w12"><h2>Jobs</h2><div id="jobs"></div>
      <div class="legend"><span><i style="background:var(--done)"></i>done</span><span><i style="background:var(--leased)"></i>running</span><span><i style="background:var(--pending)"></i>pending</span><span><i style="background:var(--quarantined)"></i>quarantined</span></div>
    </section>
    <section class="panel w6"><h2>Errors (quarantined videos)</h2><div id="errors"></div></section>
    <section class="panel w6"><h2>Recent events</h2><div id="events"></div></section>
    <section class="panel w8"><h2>Training runs</h2><div id="runs"></div></section>
    <section class="panel w4"><h2>Checkpoints</h2><div id="checkpoints"></div></section>
    <section class="panel w12"><h2>Dataset motion spectrum (mean power per frequency bin)</h2><div id="spectrum"></div></section>
  </main>
</div>
<script nonce="{{NONCE}}">
"use strict";
const KEY = "gid.dashboard.token";
const $ = id => document.getElementById(id);
const NS = "http://www.w3.org/2000/svg";
let stream = null, pollTimer = null, spectrumJob = null, lastSnapshot = null;

// Builds DOM nodes; text always goes in as text, never as HTML.
function h(tag, attrs, ...kids) {
  const e = tag.startsWith("svg:") ? document.createElementNS(NS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k === "text") e.textContent = v; else if (k === "cls") e.setAttribute("class", v); else e.setAttribute(k, v);
  }
  for (const k of kids.flat()) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}
const badge = s => h("span", { cls: "badge s-" + s, text: s });
const empty = t => h("div", { cls: "empty", text: t });
const fmt = (v, d = 1) => v === null || v === undefined ? "–" : Number(v).toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
const ago = ms => { const s = Math.max(0, (Date.now() - ms) / 1000); return s < 90 ? s.toFixed(0) + " s ago" : s < 5400 ? (s / 60).toFixed(0) + " min ago" : (s / 3600).toFixed(1) + " h ago"; };
const clock = ms => new Date(ms).toLocaleTimeString("en-GB");
const bytes = b => b >= 1073741824 ? fmt(b / 1073741824) + " GiB" : b >= 1048576 ? fmt(b / 1048576) + " MiB" : fmt(b / 1024) + " KiB";
function set(id, node) { const e = $(id); e.replaceChildren(node); }

function token() { return sessionStorage.getItem(KEY); }
function headers() { return { "Authorization": "Bearer " + token(), "Accept": "application/json" }; }

function showLogin(message) {
  stop();
  $("dashboard").classList.add("hidden");
  $("login").classList.remove("hidden");
  $("login-error").textContent = message || "";
}

async function login(ev) {
  ev.preventDefault();
  const t = $("token").value.trim();
  $("token").value = "";
  if (!t) { $("login-error").textContent = "enter the token"; return; }
  sessionStorage.setItem(KEY, t);
  await start();
}

async function start() {
  let r;
  try { r = await fetch("api/dashboard/snapshot", { headers: headers(), cache: "no-store" }); }
  catch (e) { showLogin("the silo is not reachable"); return; }
  if (r.status === 401) { sessionStorage.removeItem(KEY); showLogin("the token was refused"); return; }
  if (!r.ok) { showLogin("the silo answered " + r.status); return; }
  $("login").classList.add("hidden");
  $("dashboard").classList.remove("hidden");
  // A session cookie for the Orleans dashboard's page, which cannot send the token itself.
  try { await fetch("api/session", { method: "POST", headers: headers(), cache: "no-store" }); } catch (e) { }
  render(await r.json());
  connect();
}

function stop() {
  if (stream) { stream.abort(); stream = null; }
  if (pollTimer) { clearTimeout(pollTimer); pollTimer = null; }
}

function status(kind, text) { $("conn-dot").className = "dot " + kind; $("conn").textContent = text; }

// Server-Sent Events read through fetch, because EventSource cannot send the Authorization header.
async function connect() {
  stop();
  const ctl = new AbortController();
  stream = ctl;
  try {
    const r = await fetch("api/dashboard/stream", { headers: { ...headers(), "Accept": "text/event-stream" }, signal: ctl.signal, cache: "no-store" });
    if (r.status === 401) { sessionStorage.removeItem(KEY); showLogin("the token was refused"); return; }
    if (!r.ok || !r.body) throw new Error("stream " + r.status);
    status("live", "live");
    const reader = r.body.getReader(), decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end); buffer = buffer.slice(end + 2);
        const data = block.split("\n").filter(l => l.startsWith("data:")).map(l => l.slice(5).trimStart()).join("\n");
        if (data) render(JSON.parse(data));
      }
    }
    throw new Error("stream ended");
  } catch (e) {
    if (ctl.signal.aborted || stream !== ctl) return;
    // The stream failed (a proxy that buffers, a restart): poll until it comes back.
    status("poll", "polling");
    poll(0);
  }
}

async function poll(attempt) {
  pollTimer = null;
  try {
    const r = await fetch("api/dashboard/snapshot", { headers: headers(), cache: "no-store" });
    if (r.status === 401) { sessionStorage.removeItem(KEY); showLogin("the token was refused"); return; }
    if (r.ok) { render(await r.json()); status("poll", "polling"); }
    else status("off", "silo answered " + r.status);
  } catch (e) { status("off", "offline"); }
  if (!token()) return;
  // Every fifth poll tries the live stream again.
  if (attempt % 5 === 4) { connect(); return; }
  pollTimer = setTimeout(() => poll(attempt + 1), 2000);
}

function render(s) {
  lastSnapshot = s;
  $("where").textContent = "store " + s.store + " · blobs " + s.blobs;
  $("updated").textContent = "updated " + clock(s.generatedAt) + " (" + fmt(s.collectMs, 1) + " ms)";
  const alive = s.silos.filter(x => x.alive).length;
  $("kpi-silos").textContent = alive + " / " + s.silos.length;
  $("kpi-jobs").textContent = s.jobs.filter(j => j.state === "running" || j.state === "merging").length;
  const videos = s.jobs.reduce((a, j) => a + j.videos, 0), done = s.jobs.reduce((a, j) => a + j.videosDone, 0);
  $("kpi-done").textContent = done + " / " + videos;
  $("kpi-rate").textContent = fmt(s.jobs.filter(j => j.state === "running").reduce((a, j) => a + j.videosPerMinute, 0), 1);
  $("kpi-quarantined").textContent = s.grainTotals.quarantined || 0;
  $("kpi-quarantined").style.color = (s.grainTotals.quarantined || 0) > 0 ? "var(--quarantined)" : "";
  $("kpi-runs").textContent = s.runs.length;
  renderSilos(s); renderThroughput(s); renderJobs(s); renderErrors(s); renderEvents(s); renderRuns(s); renderCheckpoints(s);
  renderSpectrum(s.spectrum ? s.spectrum.job : null);
}

function renderSilos(s) {
  if (!s.silos.length) { set("silos", empty("no silos have registered")); return; }
  const meter = (v, max) => { const m = h("span", { cls: "meter" }, h("span")); m.firstChild.style.width = Math.min(100, 100 * (v || 0) / max) + "%"; return m; };
  set("silos", h("table", {},
    h("tr", {}, h("th", { text: "silo" }), h("th", { text: "role" }), h("th", { text: "health" }), h("th", { text: "CPU" }),
      h("th", { cls: "num", text: "memory" }), h("th", { cls: "num", text: "video grains" }), h("th", { cls: "num", text: "activations" }), h("th", { cls: "num", text: "up" })),
    s.silos.map(x => h("tr", { "data-silo": x.id },
      h("td", { cls: "mono", text: x.id }), h("td", { text: x.role }),
      h("td", {}, badge(x.alive ? (x.state === "active" ? "alive" : x.state) : (x.state === "stopped" ? "stopped" : "stale"))),
      h("td", {}, meter(x.cpuPercent, 100), fmt(x.cpuPercent) + " %"),
      h("td", { cls: "num", text: x.workingSetMb === null ? "–" : fmt(x.workingSetMb, 0) + " MB" }),
      h("td", { cls: "num", text: x.videoGrains }), h("td", { cls: "num", text: x.activations }),
      h("td", { cls: "num", text: fmt(x.upSeconds) + " s" })))));
}

function renderThroughput(s) {
  const t = s.throughput, n = t.donePerBucket.length, W = 560, H = 170, L = 34, B = 22, T = 8;
  const max = Math.max(1, ...t.donePerBucket);
  const total = t.donePerBucket.reduce((a, b) => a + b, 0);
  const svg = h("svg:svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", "aria-label": "grains done per bucket" });
  const bw = (W - L - 4) / n;
  for (let k = 0; k <= 4; k++) {
    const y = T + (H - B - T) * (1 - k / 4);
    svg.append(h("svg:line", { x1: L, x2: W - 4, y1: y, y2: y, stroke: "#263040" }), h("svg:text", { x: L - 6, y: y + 4, "text-anchor": "end", text: fmt(max * k / 4, max < 8 ? 1 : 0) }));
  }
  t.donePerBucket.forEach((v, i) => {
    if (!v) return;
    const bh = (H - B - T) * v / max;
    svg.append(h("svg:rect", { x: L + i * bw + 1, y: H - B - bh, width: Math.max(1, bw - 2), height: bh, fill: "#22c55e", rx: 1 }, h("svg:title", { text: v + " done" })));
  });
  // The cumulative count over the window, as a line on its own scale.
  let acc = 0; const pts = t.donePerBucket.map((v, i) => { acc += v; return [L + (i + 1) * bw, H - B - (H - B - T) * acc / Math.max(1, total)]; });
  if (total) svg.append(h("svg:polyline", { points: pts.map(p => p.join(",")).join(" "), fill: "none", stroke: "#38bdf8", "stroke-width": 1.5 }));
  const span = t.windowSeconds, label = sec => sec >= 60 ? fmt(sec / 60, sec % 60 ? 1 : 0) + " min" : sec + " s";
  for (const f of [1, 0.5, 0]) svg.append(h("svg:text", { x: L + (W - L - 4) * (1 - f), y: H - 6, "text-anchor": f === 1 ? "start" : f === 0 ? "end" : "middle", text: f ? "−" + label(span * f) : "now" }));
  $("throughput-title").textContent = "Grains done (last " + label(span) + ", per " + label(t.bucketSeconds) + ")";
  set("throughput", h("div", {}, svg, h("div", { cls: "legend" }, h("span", {}, h("i", { style: "background:#22c55e" }), "per " + label(t.bucketSeconds)),
    h("span", {}, h("i", { style: "background:#38bdf8" }), "cumulative"), h("span", { text: total + " grains in " + label(span) }))));
}

function renderJobs(s) {
  if (!s.jobs.length) { set("jobs", empty("no jobs yet")); return; }
  set("jobs", h("table", {},
    h("tr", {}, h("th", { text: "job" }), h("th", { text: "kind" }), h("th", { text: "state" }), h("th", { text: "grains" }),
      h("th", { cls: "num", text: "done" }), h("th", { cls: "num", text: "running" }), h("th", { cls: "num", text: "pending" }), h("th", { cls: "num", text: "quarantined" }),
      h("th", { cls: "num", text: "videos/min" }), h("th", { cls: "num", text: "started" })),
    s.jobs.map(j => {
      const g = j.grains, total = Object.values(g).reduce((a, b) => a + b, 0) || 1;
      const bar = h("div", { cls: "bar" });
      for (const st of ["done", "running", "pending", "quarantined"]) {
        if (!g[st]) continue;
        const seg = h("span", { title: g[st] + " " + st }); seg.style.width = (100 * g[st] / total) + "%"; seg.style.background = "var(--" + st + ")"; bar.append(seg);
      }
      return h("tr", { "data-job": j.id, "data-state": j.state, "data-done": j.videosDone, "data-videos": j.videos },
        h("td", { cls: "mono", text: j.id }), h("td", { text: j.kind }), h("td", {}, badge(j.state)), h("td", {}, bar),
        h("td", { cls: "num done", text: (g.done || 0) }), h("td", { cls: "num", text: g.running || 0 }), h("td", { cls: "num", text: g.pending || 0 }),
        h("td", { cls: "num" + ((g.quarantined || 0) ? " err" : ""), text: g.quarantined || 0 }),
        h("td", { cls: "num", text: fmt(j.videosPerMinute, 1) }), h("td", { cls: "num", text: ago(j.createdAt) }));
    })));
}

function renderErrors(s) {
  const q = s.jobs.flatMap(j => j.quarantined.map(x => ({ ...x, job: j.id })));
  const failed = s.jobs.filter(j => j.error);
  if (!q.length && !failed.length) { set("errors", empty("no quarantined grains")); return; }
  set("errors", h("table", {}, h("tr", {}, h("th", { text: "grain" }), h("th", { cls: "num", text: "attempts" }), h("th", { text: "error" })),
    failed.map(j => h("tr", {}, h("td", { cls: "mono", text: j.id }), h("td", { cls: "num", text: "job" }), h("td", { cls: "err", text: j.error }))),
    q.map(x => h("tr", { "data-quarantined": x.grain }, h("td", { cls: "mono", text: x.grain }), h("td", { cls: "num", text: x.attempts }), h("td", { cls: "err", text: x.error || "(no message)" })))));
}

function renderEvents(s) {
  if (!s.events.length) { set("events", empty("no events yet")); return; }
  // Long messages (ffmpeg's) are cut here; the errors panel has them whole.
  const cut = m => m.length > 160 ? m.slice(0, 157) + "…" : m;
  set("events", h("table", { cls: "events" }, s.events.map(e => h("tr", {}, h("td", { cls: "mono", text: clock(e.at) }), h("td", { text: e.kind }),
    h("td", { cls: "mono", text: e.grain ? e.grain.split("/").pop() : (e.job || e.silo || "") }), h("td", { title: e.message, text: cut(e.message) })))));
}

function lineChart(series, { logY = false, xLabel = "", yLabel = "", xFmt = v => fmt(v, 0), W = 560, H = 200 } = {}) {
  const L = 54, R = 10, T = 10, B = 32;
  const all = series.flatMap(s => s.points).filter(p => !logY || p[1] > 0);
  const svg = h("svg:svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img" });
  if (!all.length) return svg;
  const xs = all.map(p => p[0]), ys = all.map(p => logY ? Math.log10(p[1]) : p[1]);
  let x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (x1 === x0) x1 = x0 + 1; if (y1 === y0) { y1 += 0.5; y0 -= 0.5; }
  // A log axis spans whole decades, so its ticks read 1e-3, 1e-2, ...
  if (logY) { y0 = Math.floor(y0); y1 = Math.max(y0 + 1, Math.ceil(y1)); }
  const ticks = logY ? Math.min(y1 - y0, 6) : 4;
  const X = v => L + (W - L - R) * (v - x0) / (x1 - x0), Y = v => T + (H - T - B) * (1 - ((logY ? Math.log10(v) : v) - y0) / (y1 - y0));
  for (let k = 0; k <= ticks; k++) {
    const yv = y0 + (y1 - y0) * k / ticks, y = T + (H - T - B) * (1 - k / ticks);
    svg.append(h("svg:line", { x1: L, x2: W - R, y1: y, y2: y, stroke: "#263040" }),
      h("svg:text", { x: L - 6, y: y + 4, "text-anchor": "end", text: logY ? (Number.isInteger(yv) ? "1e" + yv : "") : Number(yv.toPrecision(3)).toString() }));
  }
  for (let k = 0; k <= 4; k++) { const xv = x0 + (x1 - x0) * k / 4; svg.append(h("svg:text", { x: X(xv), y: H - 16, "text-anchor": k === 0 ? "start" : k === 4 ? "end" : "middle", text: xFmt(xv) })); }
  svg.append(h("svg:text", { x: (L + W - R) / 2, y: H - 2, "text-anchor": "middle", text: xLabel }), h("svg:text", { x: 12, y: T + (H - T - B) / 2, transform: `rotate(-90 12 ${T + (H - T - B) / 2})`, "text-anchor": "middle", text: yLabel }));
  for (const s of series) {
    const pts = s.points.filter(p => !logY || p[1] > 0).map(p => X(p[0]).toFixed(1) + "," + Y(p[1]).toFixed(1)).join(" ");
    svg.append(h("svg:polyline", { points: pts, fill: "none", stroke: s.color, "stroke-width": 2, "data-series": s.name }));
  }
  return svg;
}

function renderRuns(s) {
  if (!s.runs.length) { set("runs", empty("no training runs yet — no training metrics yet")); return; }
  set("runs", h("div", {}, s.runs.map(r => {
    const head = h("div", {}, h("span", { cls: "mono", text: r.id + " " }), badge(r.state), r.error ? h("span", { cls: "err", text: " " + r.error }) : null);
    if (!r.loss && !r.stepRate) return h("div", { "data-run": r.id }, head, empty("no training metrics yet"));
    const first = r.loss || r.stepRate, t0 = first.at[0];
    // Minutes for real runs; seconds while a run is younger than two minutes.
    const unit = first.at[first.at.length - 1] - t0 < 120000 ? 1000 : 60000, unitName = unit === 1000 ? "seconds" : "minutes";
    const pts = ser => ser.at.map((a, i) => [(a - t0) / unit, ser.values[i]]);
    const charts = h("div", { style: "display:grid;grid-template-columns:1fr 1fr;gap:10px" },
      r.loss ? lineChart([{ name: "loss", color: "#f59e0b", points: pts(r.loss) }], { logY: true, xLabel: unitName, yLabel: "loss (log)", xFmt: v => fmt(v, 2) }) : empty("no loss samples yet"),
      r.stepRate ? lineChart([{ name: "steps/s", color: "#38bdf8", points: pts(r.stepRate) }], { xLabel: unitName, yLabel: "steps / s", xFmt: v => fmt(v, 2) }) : empty("no step-rate samples yet"));
    return h("div", { "data-run": r.id }, head, charts);
  })));
}

function renderCheckpoints(s) {
  const rows = s.runs.flatMap(r => r.checkpoints.map(c => ({ ...c, run: r.id })));
  if (!rows.length) { set("checkpoints", empty(s.runs.length ? "no checkpoints stored yet" : "no training runs yet")); return; }
  set("checkpoints", h("table", {}, h("tr", {}, h("th", { text: "run" }), h("th", { cls: "num", text: "step" }), h("th", { cls: "num", text: "files" }), h("th", { cls: "num", text: "size" }), h("th", { cls: "num", text: "saved" })),
    rows.slice(-12).reverse().map(c => h("tr", { "data-checkpoint": c.run + "@" + c.step }, h("td", { cls: "mono", text: c.run }), h("td", { cls: "num", text: c.step }), h("td", { cls: "num", text: c.files }), h("td", { cls: "num", text: bytes(c.bytes) }), h("td", { cls: "num", text: ago(c.createdAt) })))));
}

async function renderSpectrum(job) {
  if (job === spectrumJob) return;
  spectrumJob = job;
  if (!job) { set("spectrum", empty("no spectrum yet (no finished job carries one)")); return; }
  try {
    const r = await fetch("api/dashboard/spectrum?job=" + encodeURIComponent(job), { headers: headers(), cache: "no-store" });
    if (!r.ok) { set("spectrum", empty("no spectrum yet")); spectrumJob = null; return; }
    const sp = await r.json();
    const f = sp.frequenciesHz || sp.powerX.map((_, i) => i);
    const chart = lineChart([{ name: "x", color: "#38bdf8", points: f.map((v, i) => [v, sp.powerX[i]]) }, { name: "y", color: "#f472b6", points: f.map((v, i) => [v, sp.powerY[i]]) }],
      { logY: true, W: 1100, H: 260, xLabel: sp.frequenciesHz ? "frequency (Hz)" : "frequency index", yLabel: "mean power (log)", xFmt: v => fmt(v, sp.frequenciesHz ? 1 : 0) });
    set("spectrum", h("div", { "data-spectrum": job }, chart, h("div", { cls: "legend" }, h("span", {}, h("i", { style: "background:#38bdf8" }), "x displacement"),
      h("span", {}, h("i", { style: "background:#f472b6" }), "y displacement"), h("span", { text: "job " + job + " · " + sp.powerX.length + " bins" }))));
  } catch (e) { spectrumJob = null; }
}

$("login").addEventListener("submit", login);
$("logout").addEventListener("click", async () => {
  try { await fetch("api/session", { method: "DELETE", headers: headers(), cache: "no-store" }); } catch (e) { }
  sessionStorage.removeItem(KEY); showLogin("");
});
if (token()) start(); else showLogin("");
</script>
</body>
</html>
""";
}
