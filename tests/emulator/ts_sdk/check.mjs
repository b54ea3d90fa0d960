// The official TypeScript SDK against the emulator: streaming (thinking + tool), count_tokens, error
// classes, an SSE error event, and a batch round trip. Run with `make check-ts-sdk` (needs node and npm).
// Prints what the SDK saw; exits non-zero on any unexpected exception.
import Anthropic from '@anthropic-ai/sdk';
const client = new Anthropic({ baseURL: process.env.BASE, apiKey: 'test-key', maxRetries: 2 });
const out = {};
// streaming with a tool and thinking
const stream = client.messages.stream({
  model: 'claude-haiku-4-5', max_tokens: 2048,
  thinking: { type: 'adaptive' },
  tools: [{ name: 'get_weather', description: 'w', input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }],
  tool_choice: { type: 'auto' },
  messages: [{ role: 'user', content: 'Use get_weather for Paris.' }],
});
const types = new Set();
stream.on('streamEvent', (e) => types.add(e.type));
const final = await stream.finalMessage();
out.events = [...types];
out.blocks = final.content.map((b) => b.type);
out.tool_input = final.content.find((b) => b.type === 'tool_use')?.input;
out.stop = final.stop_reason;
// non-streaming equals?
const plain = await client.messages.create({ model: 'claude-haiku-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
out.plain = [plain.stop_reason, plain.usage.output_tokens];
const counted = await client.messages.countTokens({ model: 'claude-haiku-4-5', messages: [{ role: 'user', content: 'hi' }] });
out.count_matches = counted.input_tokens === plain.usage.input_tokens;
// errors
try { await client.messages.create({ model: 'claude-haiku-4-5', max_tokens: 5, messages: [] }); } catch (e) { out.bad = e.constructor.name + ' ' + e.status; }
try { await client.messages.create({ model: 'claude-haiku-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'x' }], metadata: { user_id: 'emu:status=529' } }); } catch (e) { out.overloaded = e.constructor.name + ' ' + e.status; }
try {
  const s = await client.messages.create({ model: 'claude-haiku-4-5', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'x' }], metadata: { user_id: 'emu:sse_error_after=3;error=overloaded_error' } });
  for await (const _ of s) {}
} catch (e) { out.sse_error = e.constructor.name + ' ' + (e.error?.error?.type ?? e.message); }
// batches
const batch = await client.messages.batches.create({ requests: [
  { custom_id: 'a', params: { model: 'claude-haiku-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] } },
  { custom_id: 'b', params: { model: 'claude-haiku-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }], metadata: { user_id: 'emu:batch=errored' } } },
] });
let b = batch;
while (b.processing_status !== 'ended') { await new Promise((r) => setTimeout(r, 50)); b = await client.messages.batches.retrieve(batch.id); }
const results = [];
for await (const r of await client.messages.batches.results(batch.id)) results.push([r.custom_id, r.result.type]);
out.batch = { counts: b.request_counts, results };
console.log(JSON.stringify(out, null, 1));
