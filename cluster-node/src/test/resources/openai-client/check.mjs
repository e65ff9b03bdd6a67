// Drives a Troupe node with the official OpenAI client: completions and chat, streaming and not.
// usage: node check.mjs BASE_URL MODEL PROMPT EXPECTED_COMPLETION
import OpenAI from "openai";

const [baseURL, model, prompt, expected] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "unused-on-loopback", maxRetries: 0 });
const results = {};

const c = await client.completions.create({ model, prompt, max_tokens: 80, temperature: 0 });
results.completion = c.choices[0].text;
results.completionFinish = c.choices[0].finish_reason;
results.usage = c.usage;

let streamed = "";
const cs = await client.completions.create({ model, prompt, max_tokens: 80, temperature: 0, stream: true });
for await (const chunk of cs) streamed += chunk.choices[0]?.text ?? "";
results.completionStream = streamed;

const chat = await client.chat.completions.create({
  model, messages: [{ role: "user", content: "Tell me about a dog." }], max_tokens: 24, temperature: 0 });
results.chat = chat.choices[0].message.content;
results.chatRole = chat.choices[0].message.role;

let chatStreamed = "";
const chs = await client.chat.completions.create({
  model, messages: [{ role: "user", content: "Tell me about a dog." }], max_tokens: 24, temperature: 0, stream: true,
  stream_options: { include_usage: true } });
let usageSeen = false;
for await (const chunk of chs) {
  chatStreamed += chunk.choices[0]?.delta?.content ?? "";
  if (chunk.usage) usageSeen = true;
}
results.chatStream = chatStreamed;
results.chatStreamUsage = usageSeen;

try {
  await client.completions.create({ model: "no-such-model", prompt, max_tokens: 5 });
  results.notFound = "no error";
} catch (e) {
  results.notFound = e.status;
}

const models = await client.models.list();
results.models = models.data.map((m) => m.id);

results.ok = results.completion === expected && results.completionStream === expected
  && results.chat === results.chatStream && results.chat.length > 0 && results.chatRole === "assistant"
  && results.chatStreamUsage && results.notFound === 404 && results.models.includes(model);
console.log(JSON.stringify(results));
process.exit(results.ok ? 0 : 1);
