// The Troupe web console: one page, five views, plain ES modules. Every action is a call to the node's own
// admin API (the same checks as bin/troupe admin); errors shown are the server's messages.
import { session, admin, v1, stream, parseMetrics, ApiError } from "./api.js";
import { lineChart, barChart, color } from "./charts.js";

const $ = id => document.getElementById(id);
const enc = encodeURIComponent;

// ------------------------------------------------------------------ small helpers

function cell(content, cls) {
  const td = document.createElement("td");
  if (content instanceof Node) td.append(content); else td.textContent = content == null ? "" : String(content);
  if (cls) td.className = cls;
  return td;
}

function row(cells, attrs) {
  const tr = document.createElement("tr");
  for (const c of cells) tr.append(c instanceof HTMLTableCellElement ? c : cell(c));
  for (const [k, v] of Object.entries(attrs || {})) tr.setAttribute(k, v);
  return tr;
}

function fillTable(id, rows, empty) {
  const body = $(id).tBodies[0];
  body.replaceChildren(...rows);
  if (!rows.length && empty) {
    const td = cell(empty, "empty");
    td.colSpan = $(id).tHead.rows[0].cells.length;
    body.append(row([td]));
  }
}

function mib(bytes) {
  return bytes == null ? "" : (bytes / 1048576).toFixed(bytes < 10485760 ? 2 : 0) + " MiB";
}

function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString();
}

/** Keeps a select's options in step with values, without losing the user's choice while they stay valid. */
function setOptions(select, values, labels) {
  const keep = select.value;
  const same = select.options.length === values.length && values.every((v, i) => select.options[i].value === v);
  if (!same) {
    select.replaceChildren(...values.map((v, i) => new Option(labels ? labels[i] : v, v)));
    if (values.includes(keep)) select.value = keep;
  }
}

function showError(e) {
  const box = $("error");
  box.textContent = e instanceof ApiError ? `${e.message} (HTTP ${e.status})` : String(e.message || e);
  box.hidden = false;
  $("notice").hidden = true;
}

function notice(text) {
  $("error").hidden = true;
  const n = $("notice");
  n.textContent = text;
  n.hidden = false;
}

function clearMessages() {
  $("error").hidden = true;
  $("notice").hidden = true;
}

/** Runs an action; its failure is shown as the server's message. */
async function act(fn) {
  try {
    await fn();
  } catch (e) {
    showError(e);
  }
}

const hasToken = () => session.token !== "";

/** Asks to confirm; with needsReason the user must give one. Resolves to the reason ("" without), or null if cancelled. */
function confirmAction(title, text, needsReason) {
  const dlg = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  const reason = $("confirm-reason");
  reason.value = "";
  reason.required = needsReason;
  $("confirm-reason-row").hidden = !needsReason;
  return new Promise(resolve => {
    const done = value => {
      $("confirm-form").onsubmit = null;
      $("confirm-cancel").onclick = null;
      dlg.oncancel = null;
      dlg.close();
      resolve(value);
    };
    $("confirm-form").onsubmit = ev => { ev.preventDefault(); done(reason.value.trim()); };
    $("confirm-cancel").onclick = () => done(null);
    dlg.oncancel = () => done(null);
    dlg.showModal();
    (needsReason ? reason : $("confirm-ok")).focus();
  });
}

// ------------------------------------------------------------------ token and mode

function renderMode() {
  const admin = hasToken();
  document.body.classList.toggle("readonly", !admin);
  $("mode").textContent = admin
    ? `Admin token set for this tab (session storage only)${session.actor ? `; actions are recorded as "${session.actor}"` : ""}.`
    : "Read-only: no admin token. The cluster, model and tenant details and every action need the admin token; "
      + "the playground and the metrics work without it.";
  $("token-forget").disabled = !admin;
}

$("token-form").addEventListener("submit", ev => {
  ev.preventDefault();
  const token = $("token").value.trim();
  const actor = $("actor").value.trim();
  act(async () => {
    if (token) {
      const before = session.token;
      session.token = token;
      try {
        await admin("GET", "/admin/models");   // the node says whether it takes this token
      } catch (e) {
        session.token = before;
        throw e;
      }
    }
    session.actor = actor;
    $("token").value = "";
    renderMode();
    notice(token ? "Admin token accepted." : "Name saved.");
    refreshView();
  });
});

$("token-forget").addEventListener("click", () => {
  session.token = "";
  renderMode();
  notice("Admin token forgotten.");
  refreshView();
});

// ------------------------------------------------------------------ cluster

async function refreshCluster() {
  try {
    const r = await fetch("/health/ready");
    $("cluster-health").textContent = `This node: ${r.ok ? "ready" : "not ready (HTTP " + r.status + ")"}.`;
  } catch (e) {
    $("cluster-health").textContent = "This node does not answer.";
  }
  if (!hasToken()) {
    for (const t of ["members", "slices", "replicas"]) fillTable(t, [], "The admin token is needed to see the cluster (GET /admin/cluster).");
    return;
  }
  const c = await admin("GET", "/admin/cluster");
  fillTable("members", c.members.map(m => row([m.node + (m.node === c.self ? " (this node)" : ""), m.status,
    m.reachable ? "yes" : "NO", (m.roles || []).join(", ")], { "data-node": m.node })), "no members");
  fillTable("slices", c.slices.map(s => {
    const used = s.memory_placed_bytes, total = s.memory_total_bytes;
    const meter = document.createElement("meter");
    meter.min = 0; meter.max = total || 1; meter.value = used;
    meter.setAttribute("aria-label", `memory used on ${s.id}`);
    const usedCell = cell(meter);
    usedCell.append(" " + mib(used));
    return row([s.id, s.node, usedCell, mib(s.memory_free_bytes), mib(total), s.threads, (s.replicas || []).join(", ")]);
  }), "no slices");
  fillTable("replicas", c.replicas.map(r => row([r.model, r.version, r.node, r.slice || "", cell(r.state, "state " + r.state),
    r.running, r.queued, `${r.kv_blocks_free} / ${r.kv_blocks_total}`],
  { "data-replica": `${r.model}@${r.version}`, "data-state": r.state })), "no replicas");
  const why = Object.entries((c.placement && c.placement.unplaceable) || {});
  $("unplaceable").hidden = !why.length;
  $("unplaceable").textContent = why.map(([k, v]) => `${k} cannot be placed: ${v}`).join("; ");
}

// ------------------------------------------------------------------ models

let modelShape = "";   // the versions the forms were built for: rebuilt only when they change

async function refreshModelList() {
  let names;
  if (hasToken()) {
    names = (await admin("GET", "/admin/models")).data.map(m => m.name);
  } else {
    names = (await v1("GET", "/v1/models")).data.map(m => m.id);
  }
  setOptions($("model-pick"), names);
  return names;
}

async function refreshModels() {
  await refreshModelList();
  const name = $("model-pick").value;
  if (!hasToken() || !name) {
    fillTable("versions", [], hasToken() ? "no models" : "The admin token is needed to see versions, deployments and history.");
    $("history").replaceChildren();
    return;
  }
  const [s, h] = await Promise.all([admin("GET", `/admin/models/${enc(name)}`), admin("GET", `/admin/models/${enc(name)}/history`)]);
  const versions = Object.keys(s.versions);
  fillTable("versions", versions.map(v => {
    const info = s.versions[v], dep = s.deployments[v], here = info.node || {};
    const phase = cell(here.phase || "-", "phase");
    if (here.detail) phase.title = here.detail;
    return row([v + (info.retired ? " (retired)" : ""), v === s.live ? "live" : (v === s.previous ? "previous" : ""),
      s.traffic[v] != null ? s.traffic[v] + "%" : "", s.serving && s.serving[v] != null ? s.serving[v] + "%" : "",
      dep ? `${dep.replicas} × ${dep.tensor_parallel ? dep.tensor_parallel + " slices" : "auto"}` : "-",
      phase, info.architecture, `${when(info.registered_at)} by ${info.registered_by}`],
    { "data-version": v, "data-phase": here.phase || "" });
  }), "no versions");

  const active = versions.filter(v => !s.versions[v].retired);
  const deployed = active.filter(v => s.deployments[v]);
  const shape = name + "|" + active.join(",") + "|" + deployed.join(",");
  if (shape !== modelShape) {
    modelShape = shape;
    setOptions($("deploy-version"), active);
    setOptions($("promote-version"), deployed);
    setOptions($("rollback-to"), ["", ...deployed], ["the version live before", ...deployed]);
    const fields = $("traffic-fields");
    fields.replaceChildren();
    for (const v of deployed) {
      const id = "traffic-" + v.replace(/[^A-Za-z0-9_-]/g, "_");
      const label = document.createElement("label");
      label.htmlFor = id;
      label.textContent = `${v} (%)`;
      const input = document.createElement("input");
      Object.assign(input, { id, type: "number", min: 0, max: 100 });
      input.dataset.version = v;
      input.value = s.traffic[v] || 0;
      fields.append(label, input);
    }
  }
  renderHistory(h.events || []);
}

function renderHistory(events) {
  const items = [...events].reverse().map(e => {
    const li = document.createElement("li");
    li.dataset.type = e.type;
    li.dataset.seq = e.seq;
    const t = document.createElement("time");
    t.dateTime = e.at;
    t.textContent = when(e.at);
    const who = document.createElement("strong");
    who.textContent = e.actor;
    const what = document.createElement("span");
    what.className = "type";
    what.textContent = e.type;
    const fields = Object.entries(e).filter(([k]) => !["seq", "at", "actor", "type", "reason"].includes(k));
    const detail = document.createElement("span");
    detail.textContent = fields.map(([k, v]) => `${k} ${v}`).join(", ");
    li.append(t, " ", who, " ", what, " ", detail);
    if (e.reason) {
      const why = document.createElement("q");
      why.className = "reason";
      why.textContent = e.reason;
      li.append(" because ", why);
    }
    return li;
  });
  $("history").replaceChildren(...items);
}

const modelPath = suffix => `/admin/models/${enc($("model-pick").value)}${suffix}`;

async function afterChange(text) {
  modelShape = "";
  await refreshModels();
  notice(text);
}

$("model-pick").addEventListener("change", () => { modelShape = ""; act(refreshModels); });

$("deploy-form").addEventListener("submit", ev => {
  ev.preventDefault();
  act(async () => {
    const version = $("deploy-version").value;
    await admin("POST", modelPath("/deployments"), { version, replicas: Number($("deploy-replicas").value) || 1 });
    await afterChange(`Deploying ${version}: it loads in the background and gets traffic once you send it some.`);
  });
});

$("traffic-form").addEventListener("submit", ev => {
  ev.preventDefault();
  act(async () => {
    const weights = {};
    for (const input of $("traffic-fields").querySelectorAll("input")) weights[input.dataset.version] = Number(input.value) || 0;
    await admin("PUT", modelPath("/traffic"), { weights });
    await afterChange("Traffic set: " + Object.entries(weights).map(([v, w]) => `${v} ${w}%`).join(", ") + ".");
  });
});

$("promote-form").addEventListener("submit", ev => {
  ev.preventDefault();
  act(async () => {
    const version = $("promote-version").value;
    if (await confirmAction(`Promote ${version}?`, `${version} becomes the live version of ${$("model-pick").value} and takes all its traffic.`, false) == null) return;
    await admin("POST", modelPath("/promote"), { version });
    await afterChange(`${version} is live.`);
  });
});

$("rollback-form").addEventListener("submit", ev => {
  ev.preventDefault();
  act(async () => {
    const to = $("rollback-to").value;
    const reason = await confirmAction(`Roll back ${$("model-pick").value}?`,
      `All traffic goes back to ${to || "the version live before (or, during a canary, the live version)"}.`, true);
    if (reason == null) return;
    const body = { reason };
    if (to) body.to = to;
    const s = await admin("POST", modelPath("/rollback"), body);
    await afterChange(`Rolled back: ${s.live} is live.`);
  });
});

$("register-form").addEventListener("submit", ev => {
  ev.preventDefault();
  act(async () => {
    const version = $("register-version").value.trim();
    await admin("POST", modelPath("/versions"), { version, path: $("register-path").value.trim(), sha256: $("register-sha").value.trim() });
    $("register-form").reset();
    await afterChange(`Registered ${version}.`);
  });
});

// ------------------------------------------------------------------ tenants

let tenants = [];
let quotaFor = "";   // the tenant the quota form was filled for

function hideNewKey() {
  $("new-key-value").value = "";
  $("new-key").hidden = true;
}

async function refreshTenants() {
  if (!hasToken()) {
    fillTable("tenants", [], "The admin token is needed to see tenants (GET /admin/tenants).");
    $("tenant-detail").hidden = true;
    return;
  }
  tenants = (await admin("GET", "/admin/tenants")).data;
  fillTable("tenants", tenants.map(t => row([t.id, t.weight, t.quotas.requests_per_minute || "∞", t.quotas.tokens_per_minute || "∞",
    t.quotas.max_concurrent || "∞", t.models.length ? t.models.join(", ") : "all", t.keys.filter(k => !k.revoked).length,
    t.suspended ? "yes: " + (t.suspend_reason || "") : ""], { "data-tenant": t.id })), "No tenants: the node serves /v1 without keys on loopback.");
  setOptions($("tenant-pick"), tenants.map(t => t.id));
  $("tenant-detail").hidden = !tenants.length;
  if (tenants.length) await refreshTenant();
}

async function refreshTenant() {
  const id = $("tenant-pick").value;
  const t = tenants.find(x => x.id === id);
  if (!t) return;
  fillTable("keys", t.keys.map(k => {
    const revoke = document.createElement("button");
    revoke.type = "button";
    revoke.textContent = "Revoke…";
    revoke.setAttribute("aria-label", `Revoke key ${k.keyId}`);
    revoke.disabled = k.revoked;
    revoke.addEventListener("click", () => act(async () => {
      if (await confirmAction(`Revoke key ${k.keyId}?`, `Every node refuses this key of ${id} within a second.`, false) == null) return;
      await admin("DELETE", `/admin/tenants/${enc(id)}/keys/${enc(k.keyId)}`);
      await refreshTenants();
      notice(`Key ${k.keyId} revoked.`);
    }));
    return row([k.keyId, `${when(k.issued_at)} by ${k.issued_by}`, k.revoked ? `revoked ${when(k.revoked_at)}` : "live", cell(revoke)],
      { "data-key": k.keyId });
  }), "no keys");
  if (quotaFor !== id) {
    quotaFor = id;
    $("q-rpm").value = t.quotas.requests_per_minute;
    $("q-tpm").value = t.quotas.tokens_per_minute;
    $("q-conc").value = t.quotas.max_concurrent;
    $("q-weight").value = t.weight;
  }
  const u = await admin("GET", `/admin/tenants/${enc(id)}/usage`);
  const byDay = new Map();
  for (const d of u.data) byDay.set(d.day, (byDay.get(d.day) || 0) + d.total_tokens);
  barChart($("usage-chart"), [...byDay.entries()].sort().map(([day, v]) => ({ label: day, value: v })), { unit: "tokens" });
  fillTable("usage", u.data.map(d => row([d.day, d.model, d.requests, d.prompt_tokens, d.completion_tokens, d.total_tokens])), "no usage yet");
}

$("tenant-pick").addEventListener("change", () => { hideNewKey(); act(refreshTenant); });

$("tenant-create").addEventListener("submit", ev => {
  ev.preventDefault();
  act(async () => {
    const id = $("tc-id").value.trim();
    await admin("POST", "/admin/tenants", { id, weight: Number($("tc-weight").value) || 1 });
    $("tenant-create").reset();
    tenants = (await admin("GET", "/admin/tenants")).data;
    // The node's tenant list follows the entity by pub-sub: wait briefly for the new one to show.
    for (let i = 0; i < 20 && !tenants.some(t => t.id === id); i++) {
      await new Promise(r => setTimeout(r, 100));
      tenants = (await admin("GET", "/admin/tenants")).data;
    }
    setOptions($("tenant-pick"), tenants.map(t => t.id));
    $("tenant-pick").value = id;
    await refreshTenants();
    notice(`Tenant ${id} created. Issue it a key: from then on this node needs keys on /v1.`);
  });
});

$("key-issue").addEventListener("click", () => act(async () => {
  const id = $("tenant-pick").value;
  const k = await admin("POST", `/admin/tenants/${enc(id)}/keys`);
  // Shown once: kept only in this field until the user dismisses it or leaves the view; never stored.
  $("new-key-value").value = k.key;
  $("new-key").hidden = false;
  $("new-key-value").focus();
  $("new-key-value").select();
  notice(`Key ${k.keyId} issued to ${id}.`);
  await refreshTenants();
}));

$("new-key-copy").addEventListener("click", () => act(async () => {
  await navigator.clipboard.writeText($("new-key-value").value);
  notice("Key copied.");
}));
$("new-key-done").addEventListener("click", hideNewKey);

$("quota-form").addEventListener("submit", ev => {
  ev.preventDefault();
  act(async () => {
    const id = $("tenant-pick").value;
    await admin("PUT", `/admin/tenants/${enc(id)}`, {
      weight: Number($("q-weight").value) || 1,
      quotas: { requests_per_minute: Number($("q-rpm").value) || 0, tokens_per_minute: Number($("q-tpm").value) || 0,
        max_concurrent: Number($("q-conc").value) || 0 },
    });
    quotaFor = "";
    await refreshTenants();
    notice(`Quotas of ${id} saved.`);
  });
});

// ------------------------------------------------------------------ playground

let chat = [];            // the conversation so far (chat kind)
let running = null;       // the AbortController of the stream in flight

const kind = () => $("pg-kind-chat").checked ? "chat" : "completion";

function renderKind() {
  $("view-playground").classList.toggle("is-chat", kind() === "chat");
  $("pg-prompt-label").textContent = kind() === "chat" ? "Your message" : "Prompt";
}

async function refreshPlayground() {
  let ids;
  try {
    ids = (await v1("GET", "/v1/models", undefined, $("pg-key").value.trim())).data.map(m => m.id);
  } catch (e) {
    // A node with tenants lists models only to a key; the admin token still names them.
    if (!(e instanceof ApiError && e.status === 401 && hasToken())) throw e;
    ids = (await admin("GET", "/admin/models")).data.map(m => m.name);
  }
  setOptions($("pg-model"), ids);
}

function renderChat() {
  $("pg-chat").replaceChildren(...chat.map(m => {
    const li = document.createElement("li");
    li.className = m.role;
    const who = document.createElement("strong");
    who.textContent = m.role === "user" ? "You" : "Model";
    li.append(who, " ", m.content);
    return li;
  }));
}

$("pg-kind-completion").addEventListener("change", renderKind);
$("pg-kind-chat").addEventListener("change", renderKind);
$("pg-key").addEventListener("change", () => act(refreshPlayground));
$("pg-clear").addEventListener("click", () => { chat = []; renderChat(); $("pg-output").textContent = ""; });
$("pg-stop").addEventListener("click", () => { if (running) running.abort(); });

$("pg-form").addEventListener("submit", ev => {
  ev.preventDefault();
  if (running) return;
  const out = $("pg-output"), stats = $("pg-stats");
  const prompt = $("pg-prompt").value;
  const body = {
    model: $("pg-model").value,
    max_tokens: Number($("pg-max-tokens").value) || 16,
    temperature: Number($("pg-temperature").value),
    stream: true,
    stream_options: { include_usage: true },
  };
  let path;
  if (kind() === "chat") {
    const system = $("pg-system").value.trim();
    body.messages = [...(system ? [{ role: "system", content: system }] : []), ...chat, { role: "user", content: prompt }];
    path = "/v1/chat/completions";
  } else {
    body.prompt = prompt;
    path = "/v1/completions";
  }
  out.textContent = "";
  out.dataset.state = "streaming";
  out.dataset.pieces = 0;
  stats.textContent = "waiting for the first token…";
  clearMessages();
  running = new AbortController();
  $("pg-send").disabled = true;
  $("pg-stop").disabled = false;
  const start = performance.now();
  let first = 0, pieces = 0;
  const text = [];
  stream(path, body, $("pg-key").value.trim(), piece => {
    if (!first) first = performance.now();
    pieces++;
    text.push(piece);
    out.append(piece);   // token by token, as it arrives
    out.dataset.pieces = pieces;
    stats.textContent = `TTFT ${Math.round(first - start)} ms · ${pieces} chunks…`;
  }, running.signal).then(r => {
    const end = performance.now();
    const tokens = r.usage ? r.usage.completion_tokens : pieces;
    const seconds = (end - start) / 1000;
    // Whole-request rate: with a tiny model the tokens after the first can all land in one network read.
    stats.textContent = `TTFT ${first ? Math.round(first - start) + " ms" : "-"} · ${tokens} tokens in ${seconds.toFixed(2)} s · `
      + `${seconds > 0 ? (tokens / seconds).toFixed(1) : "-"} tokens/s`
      + (r.version ? ` · version ${r.version}` : "") + (r.finish ? ` · finish ${r.finish}` : "");
    out.dataset.state = "done";
    if (kind() === "chat") {
      chat.push({ role: "user", content: prompt }, { role: "assistant", content: text.join("") });
      renderChat();
      $("pg-prompt").value = "";
    }
  }).catch(e => {
    out.dataset.state = e.name === "AbortError" ? "stopped" : "error";
    stats.textContent = e.name === "AbortError" ? "stopped" : "";
    if (e.name !== "AbortError") showError(e);
  }).finally(() => {
    running = null;
    $("pg-send").disabled = false;
    $("pg-stop").disabled = true;
  });
});

// ------------------------------------------------------------------ metrics (polled from page load)

const WINDOW_MS = 180000;
const samples = new Map();   // model -> {tps: [[t, v]], ttft: [...], queue: [...]}
let lastScrape = null;       // {t, byModel}
let metricsNow = new Map();
const firstSample = Date.now();

function sumBy(metrics, name) {
  const out = new Map();
  for (const m of metrics) {
    if (m.name !== name || !m.labels.model || m.labels.model === "none") continue;
    out.set(m.labels.model, (out.get(m.labels.model) || 0) + m.value);
  }
  return out;
}

async function scrapeMetrics() {
  const res = await fetch("/metrics");
  if (!res.ok) return;
  const t = Date.now();
  const all = parseMetrics(await res.text());
  const byModel = {
    gen: sumBy(all, "troupe_engine_generated_tokens_total"),
    ttftSum: sumBy(all, "troupe_time_to_first_token_seconds_sum"),
    ttftCount: sumBy(all, "troupe_time_to_first_token_seconds_count"),
    waiting: sumBy(all, "troupe_waiting_requests"),
    running: sumBy(all, "troupe_running_sequences"),
    kv: new Map(),
  };
  for (const m of all) {
    if (m.name === "troupe_kv_cache_usage_ratio" && m.labels.model) byModel.kv.set(m.labels.model, Math.max(byModel.kv.get(m.labels.model) || 0, m.value));
  }
  const models = new Set([...byModel.gen.keys(), ...byModel.waiting.keys(), ...byModel.ttftCount.keys()]);
  metricsNow = new Map();
  for (const model of models) {
    let s = samples.get(model);
    if (!s) samples.set(model, s = { tps: [], ttft: [], queue: [] });
    let tps = null, ttft = null;
    if (lastScrape) {
      const dt = (t - lastScrape.t) / 1000;
      const dGen = (byModel.gen.get(model) || 0) - (lastScrape.byModel.gen.get(model) || 0);
      tps = dt > 0 && dGen >= 0 ? dGen / dt : null;
      const dCount = (byModel.ttftCount.get(model) || 0) - (lastScrape.byModel.ttftCount.get(model) || 0);
      const dSum = (byModel.ttftSum.get(model) || 0) - (lastScrape.byModel.ttftSum.get(model) || 0);
      ttft = dCount > 0 ? dSum / dCount : null;   // no request started its stream: a gap, not a zero
    }
    const queue = byModel.waiting.get(model) || 0;
    for (const [k, v] of [["tps", tps], ["ttft", ttft], ["queue", queue]]) {
      s[k].push([t, v]);
      while (s[k].length && s[k][0][0] < t - WINDOW_MS) s[k].shift();
    }
    metricsNow.set(model, { tps, ttft, queue, running: byModel.running.get(model) || 0, kv: byModel.kv.get(model) });
  }
  lastScrape = { t, byModel };
}

function renderMetrics() {
  const models = [...samples.keys()].sort();
  const series = key => models.map(m => ({ name: m, points: samples.get(m)[key] }));
  // The last 3 minutes, or as long as the page has been polling (at least 30 s).
  const windowMs = Math.min(WINDOW_MS, Math.max(30000, Date.now() - firstSample));
  lineChart($("chart-tps"), series("tps"), { windowMs, unit: "tokens/s" });
  lineChart($("chart-ttft"), series("ttft"), { windowMs, unit: "s" });
  lineChart($("chart-queue"), series("queue"), { windowMs, unit: "requests" });
  $("legend").replaceChildren(...models.map((m, i) => {
    const span = document.createElement("span");
    span.className = "key";
    const swatch = document.createElement("i");
    swatch.style.background = color(i);
    span.append(swatch, m);
    return span;
  }));
  const fmt = (v, d) => v == null ? "-" : v.toFixed(d);
  fillTable("metrics-now", models.map(m => {
    const n = metricsNow.get(m) || {};
    return row([m, fmt(n.tps, 1), fmt(n.ttft, 3), n.queue ?? "-", n.running ?? "-", n.kv == null ? "-" : (n.kv * 100).toFixed(1) + "%"], { "data-model": m });
  }), "no models yet");
}

// ------------------------------------------------------------------ views and polling

const VIEWS = {
  cluster: { refresh: refreshCluster, every: 2000 },
  models: { refresh: refreshModels, every: 2000 },
  tenants: { refresh: refreshTenants, every: 5000 },
  playground: { refresh: refreshPlayground, every: 0 },
  metrics: { refresh: async () => renderMetrics(), every: 2000 },
};
let current = null;
let timer = null;

function viewName() {
  const v = location.hash.replace(/^#/, "");
  return VIEWS[v] ? v : "cluster";
}

/** Refreshes the visible view now and then on its own period; a failed refresh shows the server's message. */
async function refreshView() {
  clearTimeout(timer);
  const name = current;
  try {
    await VIEWS[name].refresh();
  } catch (e) {
    showError(e);
  }
  if (name === current && VIEWS[name].every) timer = setTimeout(refreshView, VIEWS[name].every);
}

function showView() {
  const name = viewName();
  if (name !== current) {
    hideNewKey();   // a new key is shown once: leaving the view drops it
    clearMessages();
  }
  current = name;
  for (const v of Object.keys(VIEWS)) $("view-" + v).hidden = v !== name;
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.view === name) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  refreshView();
}

async function metricsLoop() {
  try {
    await scrapeMetrics();
    if (current === "metrics") renderMetrics();
  } catch (e) { /* the next poll tries again */ }
  setTimeout(metricsLoop, 2000);
}

$("actor").value = session.actor;
renderMode();
renderKind();
window.addEventListener("hashchange", showView);
showView();
metricsLoop();
