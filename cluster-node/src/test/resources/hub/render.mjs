// Renders chat templates with @huggingface/jinja (Hugging Face's JS Jinja): the reference HubChatTemplateIT
// compares Troupe's Jinjava rendering with.
// usage: node render.mjs IN.json OUT.json
//   IN.json: {"cases": [{"template": "...", "context": {...}}]}; OUT.json: ["rendered" or {"error": "..."}]
import { readFileSync, writeFileSync } from "node:fs";
import { Template } from "@huggingface/jinja";

const { cases } = JSON.parse(readFileSync(inFile(), "utf8"));
function inFile() { return process.argv[2]; }
// strftime_now and raise_exception are built into @huggingface/jinja; pin the clock it reads to the one the
// Java side is given (2026-07-26 12:00 UTC).
const RealDate = Date;
const FIXED = RealDate.UTC(2026, 6, 26, 12, 0, 0);
globalThis.Date = class extends RealDate {
  constructor(...args) { if (args.length === 0) super(FIXED); else super(...args); }
  static now() { return FIXED; }
};
process.env.TZ = "UTC";
const out = [];
for (const c of cases) {
  try {
    out.push(new Template(c.template).render(c.context));
  } catch (e) {
    out.push({ error: String(e.message ?? e) });
  }
}
writeFileSync(process.argv[3], JSON.stringify(out));
