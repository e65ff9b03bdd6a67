// The official OpenAI client (openai@6) sending chat requests with tools to a Troupe node: a tool-offering
// request, plain and streamed, a conversation carrying earlier tool calls and results, and tool_choice
// "required" (a call forced by constrained decoding).
// usage: node openai-tools.mjs BASE_URL MODEL OUT.json
import { writeFileSync } from "node:fs";
import OpenAI from "openai";

const [baseURL, model, outFile] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "unused-on-loopback", maxRetries: 0 });
const tools = [{ type: "function", function: { name: "get_weather", description: "Weather for a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } }];
const results = {};

const r = await client.chat.completions.create({ model, max_tokens: 4, temperature: 0, tools, tool_choice: "auto",
  messages: [{ role: "user", content: "Weather in Paris?" }] });
results.finish = r.choices[0].finish_reason;
results.role = r.choices[0].message.role;
results.promptTokens = r.usage.prompt_tokens;

let streamedFinish = null;
const s = await client.chat.completions.create({ model, max_tokens: 4, temperature: 0, tools, stream: true,
  messages: [{ role: "user", content: "Weather in Paris?" }] });
for await (const chunk of s) streamedFinish = chunk.choices[0]?.finish_reason ?? streamedFinish;
results.streamedFinish = streamedFinish;

const followUp = await client.chat.completions.create({ model, max_tokens: 2, temperature: 0, tools, messages: [
  { role: "user", content: "Weather in Paris?" },
  { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function",
    function: { name: "get_weather", arguments: "{\"city\": \"Paris\"}" } }] },
  { role: "tool", tool_call_id: "call_1", content: "{\"temp\": 21}" }] });
results.followUpPromptTokens = followUp.usage.prompt_tokens;

// A bounded argument, so that a model with random weights ends its call within max_tokens.
const bounded = [{ type: "function", function: { name: "get_weather", description: "Weather for a city",
  parameters: { type: "object", properties: { city: { type: "string", maxLength: 12 } }, required: ["city"] } } }];
const forced = await client.chat.completions.create({ model, max_tokens: 100, temperature: 0, tools: bounded, tool_choice: "required",
  messages: [{ role: "user", content: "x" }] });
const call = forced.choices[0].message.tool_calls?.[0]?.function;
results.required = { finish: forced.choices[0].finish_reason, name: call?.name, arguments: call?.arguments };
writeFileSync(outFile, JSON.stringify(results));
