// A conversation's prompt ids as Hugging Face's JS stack gives them: the model's own chat template rendered
// with @huggingface/jinja (as transformers.js apply_chat_template does; the package's bundled renderer is
// older), then its tokenizer with added tokens recognised and no extra specials: what HubServeIT's /tokenize
// answers are compared with.
// usage: node chat-tokens.mjs PACKAGE IN.json OUT.json
//   IN.json: {"conversations": [{"messages": [...], "tools": [...]?, "kwargs": {...}?}]}; OUT.json: [[ids]...]
//   (kwargs: extra template variables, as vLLM's chat_template_kwargs)
import { readFileSync, writeFileSync } from "node:fs";
import { Template } from "@huggingface/jinja";

const [pkg, inFile, outFile] = process.argv.slice(2);
const mod = await import(pkg);
const tok = mod.fromPreTrained();
const cfg = mod.tokenizerConfig;
const template = new Template(cfg.chat_template);
const { conversations } = JSON.parse(readFileSync(inFile, "utf8"));
const out = conversations.map((c) => {
  const text = template.render({ ...(c.kwargs ?? {}), messages: c.messages, tools: c.tools, add_generation_prompt: true,
    bos_token: cfg.bos_token ?? "", eos_token: cfg.eos_token ?? "" });
  return tok.encode(text, { add_special_tokens: false });
});
writeFileSync(outFile, JSON.stringify(out));
