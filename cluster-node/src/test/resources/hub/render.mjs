// Renders chat templates with @huggingface/jinja (Hugging Face's JS Jinja): the reference HubChatTemplateIT
// compares Troupe's Jinjava rendering with.
// usage: node render.mjs IN.json OUT.json
//   IN.json: {"cases": [{"template": "...", "context": {...}}]}; OUT.json: ["rendered" or {"error": "..."}]
import { readFileSync, writeFileSync } from "node:fs";
import { Template } from "@huggingface/jinja";

const { cases } = JSON.parse(readFileSync(inFile(), "utf8"));
function inFile() { return process.argv[2]; }
const out = [];
for (const c of cases) {
  try {
    const context = {
      ...c.context,
      raise_exception: (msg) => { throw new Error(msg); },
      // a fixed clock, the same one the Java side is given
      strftime_now: (fmt) => strftime(fmt, new Date(Date.UTC(2026, 6, 26, 12, 0, 0))),
    };
    out.push(new Template(c.template).render(context));
  } catch (e) {
    out.push({ error: String(e.message ?? e) });
  }
}
writeFileSync(process.argv[3], JSON.stringify(out));

function strftime(fmt, d) {
  const months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
  const p = (n) => String(n).padStart(2, "0");
  return fmt.replace(/%([dbBYmHMS%])/g, (_, k) => ({
    d: p(d.getUTCDate()), b: months[d.getUTCMonth()].slice(0, 3), B: months[d.getUTCMonth()], Y: String(d.getUTCFullYear()),
    m: p(d.getUTCMonth() + 1), H: p(d.getUTCHours()), M: p(d.getUTCMinutes()), S: p(d.getUTCSeconds()), "%": "%" })[k]);
}
