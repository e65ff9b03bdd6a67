// Tokenizes a corpus with the JS tokenizer of an @lenml/tokenizer-* package (transformers.js code over the
// model's real tokenizer.json): the reference HubTokenizerIT compares Troupe's GGUF tokenizers with.
// usage: node tokenize.mjs PACKAGE VARIANT IN.json OUT.json
//   VARIANT "as-is", or "gpt2" (the same vocabulary with GPT-2's ByteLevel regex split and no ignore_merges)
//   IN.json: {"texts": [...]}
//   OUT.json: {"plain": [[ids]...], "special": [[ids]...], "withBos": [[ids]...], "decoded": ["..."...]}
//     plain: no added-token splitting (user text); special: added tokens recognised (template text);
//     withBos: special + add_special_tokens; decoded: plain ids decoded back
import { readFileSync, writeFileSync } from "node:fs";

const [pkg, variant, inFile, outFile] = process.argv.slice(2);
const mod = await import(pkg);
let json = mod.tokenizerJSON;
if (variant === "gpt2") {
  json = { ...json, pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
           model: { ...json.model, ignore_merges: false } };
}
const tok = mod.TokenizerLoader.fromPreTrained({ tokenizerJSON: json, tokenizerConfig: mod.tokenizerConfig });

// What _encode_text does for a section between added tokens, applied to the whole text.
function plainIds(text) {
  if (text.length === 0) return [];
  let t = tok.normalizer ? tok.normalizer(text) : text;
  const words = tok.pre_tokenizer ? tok.pre_tokenizer(t, { section_index: 0 }) : [t];
  return tok.model.convert_tokens_to_ids(tok.model(words));
}

const { texts } = JSON.parse(readFileSync(inFile, "utf8"));
const out = { plain: [], special: [], withBos: [], decoded: [] };
for (const text of texts) {
  const p = plainIds(text);
  out.plain.push(p);
  out.special.push(tok.encode(text, { add_special_tokens: false }));
  out.withBos.push(tok.encode(text, { add_special_tokens: true }));
  out.decoded.push(tok.decode(p, { skip_special_tokens: false, clean_up_tokenization_spaces: false }));
}
writeFileSync(outFile, JSON.stringify(out));
