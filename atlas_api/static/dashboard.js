// Atlas dashboard: log in, then read /api/v1 (assets, runs, quality). Text only via textContent (no HTML injection).
"use strict";

const API = "/api/v1";
const LAYERS = ["bronze", "silver", "gold", "ai_ready"];
const DIMENSIONS = ["completeness", "validity", "consistency", "accuracy", "timeliness", "uniqueness"];
const SVG_NS = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

let tokens = JSON.parse(sessionStorage.getItem("atlas.tokens") || "null");
let assets = [];

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== "") node.textContent = text;
  return node;
}

function saveTokens(pair) {
  tokens = pair;
  if (pair) sessionStorage.setItem("atlas.tokens", JSON.stringify(pair));
  else sessionStorage.removeItem("atlas.tokens");
}

async function refreshTokens() {
  if (!tokens) return false;
  const r = await fetch(`${API}/auth/refresh`, {
    method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({refresh_token: tokens.refresh_token}),
  });
  if (!r.ok) { saveTokens(null); return false; }
  saveTokens(await r.json());
  return true;
}

async function api(path, retry = true) {
  const r = await fetch(`${API}${path}`, {headers: {Authorization: `Bearer ${tokens ? tokens.access_token : ""}`}});
  if (r.status === 401 && retry && await refreshTokens()) return api(path, false);
  if (r.status === 401) { showLogin("Your session ended; log in again."); throw new Error("unauthenticated"); }
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
}

function showLogin(message = "") {
  $("login-view").hidden = false;
  $("app-view").hidden = true;
  $("logout").hidden = true;
  $("who").textContent = "";
  $("login-error").textContent = message;
}

async function login(event) {
  event.preventDefault();
  const r = await fetch(`${API}/auth/token`, {
    method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({username: $("username").value, password: $("password").value}),
  });
  $("password").value = "";
  if (!r.ok) { showLogin("Wrong username or password."); return; }
  saveTokens(await r.json());
  await start();
}

async function logout() {
  if (tokens) {
    await fetch(`${API}/auth/logout`, {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({refresh_token: tokens.refresh_token}),
    });
  }
  saveTokens(null);
  showLogin();
}

function when(iso) { return iso ? new Date(iso).toISOString().replace("T", " ").slice(0, 19) + " UTC" : "never"; }

function renderLayers() {
  const root = $("layers");
  root.replaceChildren();
  for (const layer of LAYERS) {
    const box = el("div", {class: "layer", "data-layer": layer});
    box.append(el("h2", {}, layer));
    const list = el("ul");
    for (const a of assets.filter((x) => x.layer === layer)) {
      const item = el("li", {"data-key": a.key});
      const button = el("button", {class: "asset", type: "button", "data-dataset": a.dataset}, a.dataset);
      button.addEventListener("click", () => showDataset(a.dataset));
      item.append(button);
      const last = a.last_materialization;
      item.append(el("span", {class: "meta"}, `last: ${when(last && last.timestamp)}`));
      if (a.quality_score !== null && a.quality_score !== undefined) {
        const cls = a.quality_score >= 0.95 ? "good" : "bad";
        item.append(el("span", {class: `meta score ${cls}`}, `quality ${(a.quality_score * 100).toFixed(1)}%`));
      }
      if (a.check_status !== "none") item.append(el("span", {class: "meta"}, `checks: ${a.check_status}`));
      list.append(item);
    }
    box.append(list);
    root.append(box);
  }
}

function renderLineage(selected) {
  const svg = $("lineage-svg");
  svg.replaceChildren();
  const pos = {};
  const colWidth = 230, rowHeight = 34;
  let rows = 0;
  LAYERS.forEach((layer, col) => {
    assets.filter((a) => a.layer === layer).forEach((a, row) => {
      pos[a.key] = {x: 10 + col * colWidth, y: 10 + row * rowHeight};
      rows = Math.max(rows, row + 1);
    });
  });
  svg.setAttribute("viewBox", `0 0 ${LAYERS.length * colWidth} ${Math.max(rows, 1) * rowHeight + 20}`);
  for (const a of assets) {
    for (const up of a.upstream) {
      if (!pos[up] || !pos[a.key]) continue;
      const line = document.createElementNS(SVG_NS, "line");
      line.setAttribute("x1", pos[up].x + 180); line.setAttribute("y1", pos[up].y + 12);
      line.setAttribute("x2", pos[a.key].x); line.setAttribute("y2", pos[a.key].y + 12);
      line.setAttribute("data-edge", `${up}->${a.key}`);
      svg.append(line);
    }
  }
  for (const a of assets) {
    if (!pos[a.key]) continue;
    const g = document.createElementNS(SVG_NS, "g");
    g.setAttribute("data-key", a.key);
    const rect = document.createElementNS(SVG_NS, "rect");
    rect.setAttribute("x", pos[a.key].x); rect.setAttribute("y", pos[a.key].y);
    rect.setAttribute("width", 180); rect.setAttribute("height", 24);
    if (a.dataset === selected) rect.setAttribute("class", "selected");
    const text = document.createElementNS(SVG_NS, "text");
    text.setAttribute("x", pos[a.key].x + 6); text.setAttribute("y", pos[a.key].y + 16);
    text.textContent = a.key;
    g.append(rect, text);
    g.addEventListener("click", () => showDataset(a.dataset));
    svg.append(g);
  }
}

// A small SVG sparkline of one dimension's scores over the last loads (oldest left); the dashed line is
// the trailing median the anomaly alerts compare the latest score with.
function sparkline(trend) {
  const width = 120, height = 24, pad = 2;
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("class", "sparkline");
  svg.setAttribute("width", String(width));
  svg.setAttribute("height", String(height));
  svg.setAttribute("data-points", String(trend.points.length));
  const scores = trend.points.map((p) => p.score);
  const values = trend.median === null ? scores : scores.concat([trend.median]);
  const lo = Math.min(...values), hi = Math.max(...values);
  const y = (v) => hi === lo ? height / 2 : pad + (hi - v) / (hi - lo) * (height - 2 * pad);
  const x = (i) => scores.length === 1 ? width / 2 : pad + i * (width - 2 * pad) / (scores.length - 1);
  if (trend.median !== null) {
    const line = document.createElementNS(SVG_NS, "line");
    line.setAttribute("class", "median");
    for (const [k, v] of [["x1", pad], ["x2", width - pad], ["y1", y(trend.median)], ["y2", y(trend.median)]]) {
      line.setAttribute(k, String(v));
    }
    svg.append(line);
  }
  const path = document.createElementNS(SVG_NS, "polyline");
  path.setAttribute("points", scores.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" "));
  svg.append(path);
  const title = document.createElementNS(SVG_NS, "title");
  title.textContent = scores.map((v) => `${(v * 100).toFixed(1)}%`).join(" → ");
  svg.append(title);
  return svg;
}

async function showDataset(dataset) {
  const q = await api(`/quality/${encodeURIComponent(dataset)}`);
  $("detail").hidden = false;
  $("detail").setAttribute("data-dataset", dataset);
  $("detail-title").textContent = `Quality: ${dataset}`;
  const body = $("quality-table").querySelector("tbody");
  body.replaceChildren();
  let scored = 0;
  const trends = Object.fromEntries((q.trend || []).map((t) => [t.dimension, t]));
  for (const d of q.dimensions) {
    const row = el("tr", {"data-dimension": d.dimension});
    const score = d.score === null || d.score === undefined ? "n/a" : `${(d.score * 100).toFixed(1)}%`;
    if (score !== "n/a") scored += 1;
    row.append(el("td", {}, d.dimension), el("td", {class: "score-value"}, score),
      el("td", {}, d.threshold === null || d.threshold === undefined ? "" : `${(d.threshold * 100).toFixed(1)}%`),
      el("td", {}, d.passed === null || d.passed === undefined ? "" : (d.passed ? "yes" : "no")),
      el("td", {}, d.rows_evaluated === null || d.rows_evaluated === undefined ? "" : String(d.rows_evaluated)));
    const cell = el("td", {class: "trend"});
    if (trends[d.dimension]) cell.append(sparkline(trends[d.dimension]));
    row.append(cell);
    body.append(row);
  }
  $("quality-note").textContent = scored ? `${q.history.length} evaluated run(s)` : "No quality results yet.";
  renderLineage(dataset);
}

function renderRuns(runs) {
  const body = $("runs-table").querySelector("tbody");
  body.replaceChildren();
  for (const r of runs) {
    const row = el("tr", {"data-run": r.run_id});
    row.append(el("td", {}, r.run_id.slice(0, 8)), el("td", {class: `status-${r.status}`}, r.status),
      el("td", {}, r.assets.join(", ")), el("td", {}, r.partition || ""), el("td", {}, when(r.created_at)));
    body.append(row);
  }
}

async function start() {
  if (!tokens) { showLogin(); return; }
  try {
    const me = await api("/me");
    $("who").textContent = `${me.name} (${me.role})`;
    $("login-view").hidden = true;
    $("app-view").hidden = false;
    $("logout").hidden = false;
    const [list, runs] = await Promise.all([api("/assets"), api("/runs?limit=15")]);
    assets = list.items;
    renderLayers();
    renderLineage(null);
    renderRuns(runs.items);
  } catch (err) {
    if (err.message !== "unauthenticated") $("login-error").textContent = String(err.message);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", logout);
  start();
});
