// The node's HTTP API as the console uses it: the same endpoints and checks as bin/troupe admin.
// The admin token lives in sessionStorage only (gone when the tab closes); it is never logged or sent elsewhere.

const TOKEN_KEY = "troupe.adminToken";
const ACTOR_KEY = "troupe.actor";

export const session = {
  get token() { return sessionStorage.getItem(TOKEN_KEY) || ""; },
  set token(v) { v ? sessionStorage.setItem(TOKEN_KEY, v) : sessionStorage.removeItem(TOKEN_KEY); },
  get actor() { return sessionStorage.getItem(ACTOR_KEY) || ""; },
  set actor(v) { v ? sessionStorage.setItem(ACTOR_KEY, v) : sessionStorage.removeItem(ACTOR_KEY); },
};

/** An answer other than 2xx: the server's own message (OpenAI error body) and status. */
export class ApiError extends Error {
  constructor(status, message, param) {
    super(message);
    this.status = status;
    this.param = param;
  }
}

async function failure(res) {
  let message = `${res.status} ${res.statusText}`;
  let param = null;
  try {
    const body = await res.json();
    if (body && body.error && body.error.message) {
      message = body.error.message;
      param = body.error.param || null;
    }
  } catch (e) { /* not JSON: keep the status line */ }
  return new ApiError(res.status, message, param);
}

/** An admin call (GET/POST/PUT/DELETE on /admin/...) with the session's token; resolves to the JSON answer. */
export async function admin(method, path, body) {
  const headers = { "Authorization": "Bearer " + session.token };
  // The audit trail's "who": the name the user gave, else the server's default.
  if (session.actor) headers["X-Troupe-Actor"] = session.actor;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!res.ok) throw await failure(res);
  return res.json();
}

/** A /v1 call; apiKey: a tenant key when the node requires one (kept in memory only). */
export async function v1(method, path, body, apiKey) {
  const headers = {};
  if (apiKey) headers["Authorization"] = "Bearer " + apiKey;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!res.ok) throw await failure(res);
  return res.json();
}

/**
 * Streams a completion or chat completion (SSE). onText(text) for each piece of text as it arrives; resolves to
 * {version, usage, finish} at the end. signal aborts it (the server cancels the sequence).
 */
export async function stream(path, body, apiKey, onText, signal) {
  const headers = { "Content-Type": "application/json" };
  if (apiKey) headers["Authorization"] = "Bearer " + apiKey;
  const res = await fetch(path, { method: "POST", headers, body: JSON.stringify(body), signal });
  if (!res.ok) throw await failure(res);
  const out = { version: res.headers.get("X-Troupe-Version"), usage: null, finish: null };
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += value;
    let end;
    // Events end with a blank line; a chunk may hold several events or part of one.
    while ((end = buffered.indexOf("\n\n")) >= 0) {
      const event = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      for (const line of event.split("\n")) {
        if (!line.startsWith("data:")) continue;
        const data = line.slice(5).trim();
        if (data === "[DONE]") return out;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new ApiError(500, chunk.error.message || "the stream ended with an error");
        if (chunk.usage) out.usage = chunk.usage;
        for (const c of chunk.choices || []) {
          const text = c.delta ? c.delta.content : c.text;
          if (text) onText(text);
          if (c.finish_reason) out.finish = c.finish_reason;
        }
      }
    }
  }
  return out;
}

/** Prometheus text → [{name, labels, value}] (comments and blank lines skipped). */
export function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[2]) for (const l of m[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}
