// The PraaS dashboard: plain ES module, no build step. It polls
// /dashboard/api/cluster once a second (only while the tab is visible) and
// renders everything with textContent (actor keys are user data, never HTML).

const POLL_MS = 1000;
const PAGE_SIZE = 50;
const SPARK_POINTS = 60;

const $ = (id) => document.getElementById(id);

let token = sessionStorage.getItem("praas-token") ?? "";
let silosPage = 0;
let timer;
const spark = [];

// A token may come in the fragment (#token=…), which browsers never send to the server.
if (location.hash.startsWith("#token=")) {
  token = decodeURIComponent(location.hash.slice(7));
  sessionStorage.setItem("praas-token", token);
  window.history.replaceState(null, "", location.pathname + location.search);
}

class HttpError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function request(method, path) {
  const headers = token === "" ? {} : { authorization: `Bearer ${token}` };
  const res = await fetch(path, { method, headers, cache: "no-store" });
  const text = await res.text();
  const body = text === "" ? undefined : JSON.parse(text);
  if (!res.ok) {
    const e = body?.error ?? {};
    throw new HttpError(res.status, e.code ?? String(res.status), e.message ?? res.statusText);
  }
  return body;
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k === "onclick") node.addEventListener("click", v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
  return node;
}

function num(n, digits = 1) {
  if (n === undefined || n === null) return "–";
  if (n >= 1000) return Math.round(n).toLocaleString("en");
  return Number.isInteger(n) ? String(n) : n.toFixed(digits);
}

function age(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

function fill(tableId, rows) {
  const body = $(tableId).tBodies[0];
  body.replaceChildren(...rows);
}

function emptyRow(cols, text) {
  return el("tr", {}, el("td", { colspan: String(cols), class: "muted" }, text));
}

function setStatus(text, ok) {
  const s = $("status");
  s.textContent = text;
  s.className = `status ${ok ? "live" : "down"}`;
}

function render(snap) {
  const t = snap.totals;
  $("answered-by").textContent = `answered by ${snap.self} · membership v${snap.membershipVersion}`;
  $("t-silos").textContent = t.silosAnswering === t.silos ? String(t.silos) : `${t.silosAnswering}/${t.silos}`;
  $("t-activations").textContent = num(t.activations);
  $("t-calls").textContent = num(t.callsPerS);
  $("t-errors").textContent = num(t.errorsPerS);
  $("t-swapins").textContent = num(t.swapInsPerS);
  $("t-swapouts").textContent = num(t.swapOutsPerS);
  $("t-stuck").textContent = num(t.stuckTotal);
  $("t-reminders").textContent = num(t.reminders.scheduled);
  $("t-reminders-due").textContent = `${t.reminders.overdue} overdue · ${t.reminders.soon} due within 1 min`;

  spark.push(t.callsPerS);
  if (spark.length > SPARK_POINTS) spark.shift();
  const max = Math.max(1, ...spark);
  const points = spark.map((v, i) => `${(i * 120) / (SPARK_POINTS - 1)},${24 - (v / max) * 22}`).join(" ");
  $("spark").firstElementChild.setAttribute("points", points);

  const now = snap.at;
  fill(
    "silos",
    snap.silos.rows.map((s) =>
      el(
        "tr",
        { "data-silo": s.id },
        el("td", {}, s.id),
        el(
          "td",
          { class: s.status === "active" ? "" : "bad" },
          s.unavailable ? `${s.status} (${s.unavailable})` : s.status,
        ),
        el("td", {}, s.startedAt === undefined ? "–" : age(now - s.startedAt)),
        el("td", {}, s.address ?? "–"),
        el("td", { class: "num" }, num(s.activations)),
        el("td", { class: "num" }, num(s.callsPerS)),
        el("td", { class: s.errorsPerS > 0 ? "num bad" : "num" }, num(s.errorsPerS)),
        el("td", { class: "num" }, num(s.swapInsPerS)),
        el("td", { class: "num" }, num(s.swapOutsPerS)),
      ),
    ),
  );
  const pages = Math.max(1, Math.ceil(snap.silos.total / snap.silos.pageSize));
  $("silos-page").textContent = `page ${snap.silos.page + 1} of ${pages} (${snap.silos.total} silos)`;
  $("silos-prev").disabled = snap.silos.page === 0;
  $("silos-next").disabled = snap.silos.page + 1 >= pages;

  const types = Object.entries(snap.perType).sort((a, b) => b[1] - a[1]);
  fill(
    "types",
    types.length === 0
      ? [emptyRow(2, "no activations")]
      : types.map(([type, n]) =>
          el("tr", { "data-type": type }, el("td", {}, type), el("td", { class: "num" }, num(n))),
        ),
  );

  fill(
    "busiest",
    snap.busiest.length === 0
      ? [emptyRow(4, "no actor has work waiting")]
      : snap.busiest.map((a) =>
          el(
            "tr",
            { class: "clickable", title: "Inspect", onclick: () => inspect(a.type, a.key) },
            el("td", {}, `${a.type}/${a.key}`),
            el("td", {}, a.silo),
            el("td", { class: "num" }, num(a.load)),
            el("td", { class: "num" }, num(a.inbox)),
          ),
        ),
  );

  fill(
    "calls",
    snap.calls.length === 0
      ? [emptyRow(8, "no calls in the last few seconds")]
      : snap.calls.map((c) =>
          el(
            "tr",
            { "data-call": `${c.type}.${c.method}` },
            el("td", {}, c.type),
            el("td", {}, c.method),
            el("td", { class: "num" }, num(c.callsPerS)),
            el("td", { class: "num" }, num(c.p50Ms, 2)),
            el("td", { class: "num" }, num(c.p95Ms, 2)),
            el("td", { class: "num" }, num(c.p99Ms, 2)),
            el("td", { class: c.errorsPerS > 0 ? "num bad" : "num" }, num(c.errorsPerS)),
            el(
              "td",
              {},
              Object.entries(c.errors)
                .map(([code, n]) => `${code} ${num(n)}/s`)
                .join(", "),
            ),
          ),
        ),
  );
  $("calls-omitted").hidden = snap.callsOmitted === 0;
  $("calls-omitted").textContent = `${snap.callsOmitted} quieter type/method series not listed`;

  fill(
    "stuck",
    snap.stuck.length === 0
      ? [emptyRow(4, "none")]
      : snap.stuck.map((s) =>
          el(
            "tr",
            {},
            el("td", {}, new Date(s.at).toLocaleTimeString()),
            el("td", {}, s.actor),
            el("td", {}, s.silo),
            el("td", {}, s.message),
          ),
        ),
  );
}

function needToken() {
  $("main").hidden = true;
  $("login").hidden = false;
  $("login-error").hidden = token === "";
  setStatus("token needed", false);
}

// One request at a time: a refresh asked for meanwhile (page buttons, the tab shown again) follows it.
let polling = false;
let pollAgain = false;

async function poll() {
  if (polling) {
    pollAgain = true;
    return;
  }
  clearTimeout(timer);
  if (document.hidden) return;
  polling = true;
  let next = true;
  try {
    const snap = await request("GET", `/dashboard/api/cluster?page=${silosPage}&pageSize=${PAGE_SIZE}`);
    $("main").hidden = false;
    $("login").hidden = true;
    render(snap);
    setStatus(`live · ${new Date(snap.at).toLocaleTimeString()}`, true);
  } catch (err) {
    if (err instanceof HttpError && err.status === 401) {
      needToken();
      next = false;
    } else setStatus(`not updating: ${err.message}`, false);
  } finally {
    polling = false;
  }
  if (!next) return;
  if (pollAgain) {
    pollAgain = false;
    poll();
  } else timer = setTimeout(poll, POLL_MS);
}

async function loadTypes() {
  try {
    const { types } = await request("GET", "/v1/types");
    $("find-type").replaceChildren(
      ...types.filter((t) => !t.stateless).map((t) => el("option", { value: t.name }, t.name)),
    );
  } catch {
    // Polling reports the gateway's state; the select stays empty until the next load.
  }
}

let inspected;

function actorPath(type, key) {
  return `/v1/actors/${encodeURIComponent(type)}/${encodeURIComponent(key)}`;
}

async function inspect(type, key) {
  $("find-type").value = type;
  $("find-key").value = key;
  $("inspect-error").hidden = true;
  try {
    const q = new URLSearchParams({ type, key });
    const a = await request("GET", `/dashboard/api/actor?${q}`);
    inspected = a;
    $("actor").hidden = false;
    $("a-id").textContent = `${a.type}/${a.key}`;
    $("a-silo").textContent = a.silo;
    $("a-active").textContent = a.active ? "yes" : "no";
    $("a-status").textContent = a.status ?? (a.active ? "active" : "not in memory");
    $("a-running").textContent = num(a.running);
    $("a-queued").textContent = num(a.queued);
    $("a-inbox").textContent = num(a.inbox);
    $("a-idle").textContent = a.idleMs === undefined ? "–" : age(a.idleMs);
    $("a-stored").textContent = a.stored === undefined ? "(in memory)" : a.stored ? "yes" : "no";
    $("a-error").textContent = a.lastError
      ? `${a.lastError.kind} at ${new Date(a.lastError.at).toLocaleTimeString()}: ${a.lastError.message}`
      : "none recorded";
  } catch (err) {
    $("actor").hidden = true;
    $("inspect-error").hidden = false;
    $("inspect-error").textContent = `${err.code ?? "ERROR"}: ${err.message}`;
  }
}

async function act(method, suffix, done) {
  const { type, key } = inspected;
  try {
    const r = await request(method, `${actorPath(type, key)}/${suffix}`);
    $("action-result").textContent = done(r);
  } catch (err) {
    $("action-result").textContent = `${err.code ?? "ERROR"}: ${err.message}`;
  }
  await inspect(type, key);
}

function confirmDelete() {
  const dialog = $("confirm");
  $("confirm-text").textContent =
    `Delete the stored state of ${inspected.type}/${inspected.key}? It is deactivated first, without saving. This cannot be undone.`;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
  });
}

$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  token = $("token").value;
  sessionStorage.setItem("praas-token", token);
  loadTypes();
  poll();
});
$("find").addEventListener("submit", (e) => {
  e.preventDefault();
  inspect($("find-type").value, $("find-key").value);
});
$("deactivate").addEventListener("click", () =>
  act("POST", "deactivate", (r) => (r.deactivated ? "Deactivated (state saved)." : "It was not active.")),
);
$("delete-state").addEventListener("click", async () => {
  if (await confirmDelete()) await act("DELETE", "state", () => "State deleted.");
  else $("action-result").textContent = "Not deleted.";
});
$("silos-prev").addEventListener("click", () => {
  silosPage = Math.max(0, silosPage - 1);
  poll();
});
$("silos-next").addEventListener("click", () => {
  silosPage++;
  poll();
});
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) poll();
});

loadTypes();
poll();
