// Drives a Troupe node with the official OpenAI client: completions and chat, streaming and not, embeddings with
// the client's defaults, a model by id, JSON mode, structured output and forced tool calls.
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

// Embeddings with the client's defaults (it asks for base64 and decodes it) equal the float vectors.
const embDefault = await client.embeddings.create({ model, input: "a cat" });
const embFloat = await client.embeddings.create({ model, input: "a cat", encoding_format: "float" });
results.embeddings = embDefault.data[0].embedding.length > 0
  && embDefault.data[0].embedding.every((x, i) => Math.fround(x) === Math.fround(embFloat.data[0].embedding[i]));

results.retrieved = (await client.models.retrieve(model)).id;

// JSON mode: an object, whole when the model ends it, else cut by max tokens inside it.
const jm = await client.chat.completions.create({ model, messages: [{ role: "user", content: "A cat as JSON." }],
  max_tokens: 60, temperature: 0, response_format: { type: "json_object" } });
const jmText = jm.choices[0].message.content;
results.jsonMode = jmText.trimStart().startsWith("{")
  && (jm.choices[0].finish_reason === "length" || typeof JSON.parse(jmText) === "object");

// Structured output: the reply parses and has the schema's fields and types.
const schema = { type: "object", additionalProperties: false, required: ["name", "age"],
  properties: { name: { type: "string", maxLength: 12 }, age: { type: "integer" } } };
const so = await client.chat.completions.create({ model, messages: [{ role: "user", content: "Name a pet." }],
  max_tokens: 60, temperature: 0, response_format: { type: "json_schema", json_schema: { name: "pet", strict: true, schema } } });
const pet = JSON.parse(so.choices[0].message.content);
results.structured = so.choices[0].finish_reason === "stop" && typeof pet.name === "string" && Number.isInteger(pet.age)
  && Object.keys(pet).length === 2;

// A forced tool call, plain and streamed: the same call, arguments matching the parameters.
const tools = [{ type: "function", function: { name: "get_weather", description: "The forecast",
  parameters: { type: "object", properties: { city: { type: "string", maxLength: 8 } }, required: ["city"] } } }];
const tc = await client.chat.completions.create({ model, messages: [{ role: "user", content: "Weather in Oslo?" }],
  max_tokens: 90, temperature: 0, tools, tool_choice: "required" });
const call = tc.choices[0].message.tool_calls?.[0];
let streamedArgs = "", streamedName = "", streamedFinish = null;
const tcs = await client.chat.completions.create({ model, messages: [{ role: "user", content: "Weather in Oslo?" }],
  max_tokens: 90, temperature: 0, tools, tool_choice: { type: "function", function: { name: "get_weather" } }, stream: true });
for await (const chunk of tcs) {
  for (const d of chunk.choices[0]?.delta?.tool_calls ?? []) {
    streamedName += d.function?.name ?? "";
    streamedArgs += d.function?.arguments ?? "";
  }
  streamedFinish = chunk.choices[0]?.finish_reason ?? streamedFinish;
}
results.toolCall = { finish: tc.choices[0].finish_reason, call, content: tc.choices[0].message.content, streamedName, streamedArgs, streamedFinish };
results.tools = tc.choices[0].finish_reason === "tool_calls" && call?.function?.name === "get_weather"
  && typeof JSON.parse(call.function.arguments).city === "string"
  && streamedName === "get_weather" && streamedArgs === call.function.arguments && streamedFinish === "tool_calls";

results.ok = results.completion === expected && results.completionStream === expected
  && results.chat === results.chatStream && results.chat.length > 0 && results.chatRole === "assistant"
  && results.chatStreamUsage && results.notFound === 404 && results.models.includes(model)
  && results.embeddings && results.retrieved === model && results.jsonMode && results.structured && results.tools;
console.log(JSON.stringify(results));
process.exit(results.ok ? 0 : 1);
