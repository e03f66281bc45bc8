// The operator page: polls the operator API with the bearer token and renders what it answers.
// The token comes from the URL fragment (#token=..., which never reaches the server's logs) or the
// form, and is kept in sessionStorage only (gone when the tab closes).
"use strict";

const TOKEN_KEY = "lt-operator-token";
const POLL_MS = 1500;
const TRADES_SHOWN = 20;
const SVG_NS = "http://www.w3.org/2000/svg";

let token = sessionStorage.getItem(TOKEN_KEY);
let pollTimer = null;
const equityDrawn = new Map(); // strategy -> a key of the curve last drawn (redraw only on change)

function $(selector) { return document.querySelector(selector); }

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function fmt(value, digits) {
  if (value === null || value === undefined || value === "") return "—";
  const n = Number(value);
  return Number.isFinite(n) ? n.toFixed(digits) : String(value);
}

function signClass(value) {
  const n = Number(value);
  return !Number.isFinite(n) || n === 0 ? "num" : n > 0 ? "num pos" : "num neg";
}

function utc(ms) { return new Date(ms).toISOString().replace("T", " ").slice(0, 19); }

class Unauthorized extends Error {}

async function api(path, options) {
  const init = Object.assign({ cache: "no-store" }, options || {});
  init.headers = Object.assign({ Authorization: "Bearer " + token }, init.headers || {});
  const resp = await fetch(path, init);
  if (resp.status === 401) throw new Unauthorized("the token was refused");
  const body = await resp.json().catch(() => ({ error: "HTTP " + resp.status + " (not JSON)" }));
  if (!resp.ok) throw new Error(body.error || "HTTP " + resp.status);
  return body;
}

function askForToken(message) {
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  clearTimeout(pollTimer);
  $("#token-form").hidden = false;
  $("#token-error").textContent = message || "";
  $("#connection").textContent = "no token";
  $("#token-input").focus();
}

function useToken(value) {
  token = value.trim();
  sessionStorage.setItem(TOKEN_KEY, token);
  $("#token-form").hidden = true;
  poll();
}

// --- rendering ----------------------------------------------------------------------------------

function strategyRow(tbody, name) {
  let row = tbody.querySelector(`tr[data-strategy="${CSS.escape(name)}"]`);
  if (row) return row;
  row = el("tr");
  row.dataset.strategy = name;
  const cells = [["name", ""], ["account", ""], ["mode", ""], ["breaker", ""], ["position", "num"],
    ["entry", "num"], ["mark", "num"], ["unrealized", "num"], ["realized", "num"], ["trades", "num"],
    ["open-orders", "num"], ["last-skip", "muted"]];
  for (const [key, cls] of cells) row.appendChild(el("td", "", (key + " " + cls).trim()));
  const actions = el("td", "", "actions");
  for (const action of ["halt", "flatten", "resume"]) {
    const button = el("button", action);
    button.type = "button";
    button.dataset.action = action;
    button.dataset.strategy = name;
    actions.appendChild(button);
  }
  row.appendChild(actions);
  tbody.appendChild(row);
  return row;
}

function setCell(row, key, text, className) {
  const cell = row.querySelector("td." + key);
  cell.textContent = text;
  if (className !== undefined) cell.className = key + " " + className;
}

function renderStrategies(strategies) {
  const tbody = $("#strategies tbody");
  const names = Object.keys(strategies).sort();
  for (const row of Array.from(tbody.rows)) if (!names.includes(row.dataset.strategy)) row.remove();
  for (const name of names) {
    const v = strategies[name].view || {};
    const row = strategyRow(tbody, name);
    setCell(row, "name", v.reachable === false ? name + " (not answering)" : name, v.reachable === false ? "bad" : "");
    setCell(row, "account", v.account);
    setCell(row, "mode", v.mode + (v.halt_reason ? " — " + v.halt_reason : ""), v.mode === "running" ? "good" : "bad");
    setCell(row, "breaker", v.breaker_tripped ? "tripped" + (v.breaker ? ": " + v.breaker : "") : "ok",
      v.breaker_tripped ? "bad" : "");
    setCell(row, "position", fmt(v.position, 4));
    setCell(row, "entry", fmt(v.entry_price, 4));
    setCell(row, "mark", fmt(v.mark, 4));
    setCell(row, "unrealized", fmt(v.unrealized_pnl, 4), signClass(v.unrealized_pnl));
    setCell(row, "realized", fmt(v.realized_pnl, 4), signClass(v.realized_pnl));
    setCell(row, "trades", v.trades === null || v.trades === undefined ? "—" : String(v.trades));
    setCell(row, "open-orders", String(v.open_orders ?? 0));
    setCell(row, "last-skip", v.last_skip || "");
  }
}

function renderRows(tbodySelector, rows) {
  const tbody = $(tbodySelector);
  tbody.replaceChildren(...rows.map((cells) => {
    const tr = el("tr");
    for (const [text, cls] of cells) tr.appendChild(el("td", text, cls));
    return tr;
  }));
}

function renderTrades(trades) {
  renderRows("#trades tbody", trades.map((t) => [[utc(t.exit_ms)], [t.strategy], [t.side], [fmt(t.size, 4), "num"],
    [fmt(t.entry_price, 4), "num"], [fmt(t.exit_price, 4), "num"], [fmt(t.fees, 4), "num"],
    [fmt(t.pnl, 4), signClass(t.pnl)], [t.exit_reason]]));
}

function renderActors(actors) {
  renderRows("#actors tbody", Object.keys(actors).sort().map((name) => {
    const a = actors[name];
    return [[name], [a.state, a.state === "alive" ? "good" : "bad"], [a.restarts ?? 0, "num"],
      [fmt(a.lag_ms, 1), "num"], [a.last_error || "", "muted"]];
  }));
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function chart(name, points) {
  const W = 340, H = 130, PAD = 4, LABEL = 58;
  const box = el("div", null, "chart");
  box.dataset.strategy = name;
  const last = points.length ? points[points.length - 1][1] : 0;
  box.appendChild(el("h3", `${name}: ${fmt(last, 4)} after ${points.length} trades`));
  const plot = svg("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img" });
  plot.appendChild(svg("title", {}, `${name} equity`));
  if (points.length) {
    const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]).concat([0]);
    const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
    const sx = (x) => LABEL + (x1 === x0 ? 0.5 : (x - x0) / (x1 - x0)) * (W - LABEL - PAD);
    const sy = (y) => PAD + (y1 === y0 ? 0.5 : (y1 - y) / (y1 - y0)) * (H - 2 * PAD);
    plot.appendChild(svg("line", { x1: LABEL, x2: W - PAD, y1: sy(0), y2: sy(0), class: "zero" }));
    plot.appendChild(svg("polyline", { class: "curve", points: points.map((p) => `${sx(p[0])},${sy(p[1])}`).join(" ") }));
    plot.appendChild(svg("text", { x: 0, y: PAD + 8 }, fmt(y1, 4)));
    plot.appendChild(svg("text", { x: 0, y: H - PAD }, fmt(y0, 4)));
  } else {
    plot.appendChild(svg("text", { x: LABEL, y: H / 2 }, "no closed trades yet"));
  }
  box.appendChild(plot);
  return box;
}

function renderEquity(names, equity) {
  const holder = $("#equity");
  for (const node of Array.from(holder.children)) if (!names.includes(node.dataset.strategy)) {
    node.remove();
    equityDrawn.delete(node.dataset.strategy);
  }
  for (const name of names) {
    const points = equity[name] || [];
    const key = points.length + ":" + (points.length ? points[points.length - 1].join(",") : "");
    if (equityDrawn.get(name) === key) continue;
    const fresh = chart(name, points);
    const old = holder.querySelector(`.chart[data-strategy="${CSS.escape(name)}"]`);
    if (old) old.replaceWith(fresh); else holder.appendChild(fresh);
    equityDrawn.set(name, key);
  }
}

// --- polling and the buttons --------------------------------------------------------------------

async function poll() {
  clearTimeout(pollTimer);
  if (!token) return;
  try {
    const [status, trades, equity] = await Promise.all([
      api("/api/v1/status"), api(`/api/v1/trades?limit=${TRADES_SHOWN}`), api("/api/v1/equity")]);
    renderStrategies(status.strategies || {});
    renderEquity(Object.keys(status.strategies || {}).sort(), equity.equity || {});
    renderTrades(trades.trades || []);
    renderActors(status.actors || {});
    const banner = $("#halted-banner");
    banner.hidden = !status.halted;
    banner.textContent = status.halted ? "system halted: " + (status.halted === true ? "" : status.halted) : "";
    const conn = $("#connection");
    conn.textContent = "updated " + new Date().toLocaleTimeString();
    conn.className = "muted";
  } catch (err) {
    if (err instanceof Unauthorized) { askForToken(err.message); return; }
    $("#connection").textContent = "error: " + err.message;
    $("#connection").className = "bad";
  }
  pollTimer = setTimeout(poll, POLL_MS);
}

async function act(action, strategy) {
  const what = strategy ? `strategy ${strategy}` : "ALL strategies";
  if (!window.confirm(`${action} ${what}?`)) return;
  const out = $("#action-result");
  try {
    const answer = await api("/api/v1/" + action, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ strategy: strategy || null, reason: `${action} from the operator page` }) });
    out.textContent = `${action} (${answer.scope}): ${(answer.strategies || []).join(", ") || "no strategy"}`;
    out.className = "good";
  } catch (err) {
    if (err instanceof Unauthorized) { askForToken(err.message); return; }
    out.textContent = `${action} failed: ${err.message}`;
    out.className = "bad";
  }
  poll();
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (button) act(button.dataset.action, button.dataset.strategy || null);
});

document.addEventListener("DOMContentLoaded", () => {
  $("#token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    useToken($("#token-input").value);
  });
  if (!tokenFromFragment()) {
    if (token) poll(); else askForToken("");
  }
});

// a link with #token=... opened in a tab that already shows the page changes only the fragment
window.addEventListener("hashchange", tokenFromFragment);

function tokenFromFragment() {
  const given = new URLSearchParams(location.hash.slice(1)).get("token");
  if (!given) return false;
  history.replaceState(null, "", location.pathname + location.search); // the token leaves the address bar
  useToken(given);
  return true;
}
