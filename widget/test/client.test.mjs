// The typed client against a scripted fetch: SSE frames cut anywhere, typed errors, the headers it sends.
// Run with `node --test widget/test/` (tests/widget/test_client_unit.py does).
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  AuthError, BudgetExhaustedError, NetworkError, RateLimitedError, UpstreamError, createClient,
} from "../src/client.js";
import { readEvents } from "../src/sse.js";

const FRAMES = 'event: delta\ndata: {"content":"Hel"}\n\n: a comment\r\nevent: delta\r\ndata: {"content":"lo ✓"}\r\n\r\n'
  + 'event: done\ndata: {"id":"r1","model":"m","provider":"p","usage":{"total_tokens":3},"suggestions":["Next?"],'
  + '"finish_reason":"stop","conversation_id":"c_1","message_id":"m_1"}\n\n';

function body(text, cut = 7) {
  const bytes = new TextEncoder().encode(text);
  return new ReadableStream({
    start(controller) {
      for (let i = 0; i < bytes.length; i += cut) controller.enqueue(bytes.slice(i, i + cut));
      controller.close();
    },
  });
}

function storage() {
  const map = new Map();
  return { getItem: (k) => map.get(k) ?? null, setItem: (k, v) => map.set(k, String(v)), removeItem: (k) => map.delete(k) };
}

function client(respond, options = {}) {
  const calls = [];
  const fetch = async (url, init) => {
    calls.push({ url, init });
    return respond(url, init);
  };
  return { calls, client: createClient({ gateway: "https://gw.test/", site: "pk_test", storage: storage(), fetch, ...options }) };
}

const sse = (text, cut) => new Response(body(text, cut), { headers: { "Content-Type": "text/event-stream" } });
const json = (status, data, headers = {}) =>
  new Response(JSON.stringify(data), { status, headers: { "Content-Type": "application/json", ...headers } });

test("frames cut at every byte boundary give the same events (multi-byte characters too)", async () => {
  for (const cut of [1, 2, 3, 5, 64, 4096]) {
    const events = [];
    for await (const event of readEvents(body(FRAMES, cut))) events.push(event);
    assert.deepEqual(events.map((e) => e.event), ["delta", "delta", "done"], `cut ${cut}`);
    assert.equal(JSON.parse(events[1].data).content, "lo ✓");
  }
});

test("chat yields the deltas, then the result with usage, suggestions and the conversation ids", async () => {
  const { client: c, calls } = client(() => sse(FRAMES, 3));
  const stream = c.chat({ messages: [{ role: "user", content: "Hi" }], model: "m" });
  const deltas = [];
  for await (const text of stream) deltas.push(text);
  assert.deepEqual(deltas, ["Hel", "lo ✓"]);
  const result = await stream.result;
  assert.equal(result.content, "Hello ✓");
  assert.deepEqual(result.suggestions, ["Next?"]);
  assert.equal(result.conversation_id, "c_1");
  assert.equal(result.message_id, "m_1");
  assert.equal(calls[0].url, "https://gw.test/api/v1/ai-proxy/chat");
  assert.deepEqual(JSON.parse(calls[0].init.body), { messages: [{ role: "user", content: "Hi" }], stream: true, model: "m" });
  assert.equal(calls[0].init.credentials, "omit");
});

test("the headers name the site and a stable anonymous session; the user token only when set", async () => {
  const { client: c, calls } = client(() => json(200, { conversations: [], next: null }));
  await c.listConversations({ limit: 5 });
  await c.listConversations();
  const [first, second] = calls.map((call) => call.init.headers);
  assert.equal(first["X-AIChat-Site"], "pk_test");
  assert.match(first["X-AIChat-Session"], /^[A-Za-z0-9_-]{32}$/);
  assert.equal(second["X-AIChat-Session"], first["X-AIChat-Session"]);
  assert.equal(first["X-AIChat-User"], undefined);
  assert.equal(calls[0].url, "https://gw.test/api/v1/conversations?limit=5");
  c.setUserToken("hmac:u1:abcd");
  await c.chat({ conversationId: "c_1", message: "Hi" }).result.catch(() => {});
  const last = calls.at(-1);
  assert.equal(last.init.headers["X-AIChat-User"], "hmac:u1:abcd");
  assert.deepEqual(JSON.parse(last.init.body), { conversation_id: "c_1", message: "Hi", stream: true });
  assert.notEqual(c.resetSession(), first["X-AIChat-Session"]);
});

test("errors are typed from the status and the code", async () => {
  const cases = [
    [json(429, { error: { code: "rate_limited", message: "slow down" } }, { "Retry-After": "7" }), RateLimitedError],
    [json(429, { error: { code: "budget_exhausted", message: "spent" } }, { "Retry-After": "60" }), BudgetExhaustedError],
    [json(401, { error: { code: "user_token_expired", message: "expired" } }), AuthError],
    [json(502, { error: { code: "upstream_error", message: "down" } }), UpstreamError],
    [new Response("<html>bad gateway</html>", { status: 503 }), UpstreamError],
    [sse('event: delta\ndata: {"content":"a"}\n\nevent: error\ndata: {"error":{"code":"upstream_timeout","message":"t"}}\n\n'), UpstreamError],
    [sse('event: delta\ndata: {"content":"cut"}\n\n'), NetworkError],
  ];
  for (const [response, Type] of cases) {
    const { client: c } = client(() => response);
    const stream = c.chat({ messages: [{ role: "user", content: "x" }] });
    await assert.rejects(stream.result, Type);
    const err = await stream.result.catch((e) => e);
    if (Type === RateLimitedError) assert.equal(err.retryAfter, 7);
    if (Type === BudgetExhaustedError) assert.equal(err.retryAfter, 60);
    if (Type === AuthError) assert.equal(err.code, "user_token_expired");
  }
  const { client: offline } = client(() => { throw new TypeError("Failed to fetch"); });
  await assert.rejects(offline.chat({ messages: [] }).result, NetworkError);
});

test("an aborted chat rejects with the AbortError, not a typed error", async () => {
  const controller = new AbortController();
  const { client: c } = client((url, init) => new Promise((resolve, reject) => {
    init.signal.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
  }));
  const stream = c.chat({ messages: [], signal: controller.signal });
  controller.abort();
  const err = await stream.result.catch((e) => e);
  assert.equal(err.name, "AbortError");
});

test("importConversation posts the transcript with its title and start as the gateway reads them", async () => {
  const { client: c, calls } = client(() => json(201, { id: "c_1" }));
  c.setUserToken("hmac:u1:abcd");
  const messages = [{ role: "user", content: "Hi" }, { role: "assistant", content: "Hello" }];
  assert.deepEqual(await c.importConversation({ title: "Hi", messages, createdAt: Date.UTC(2026, 11, 4, 9, 30) }),
                   { id: "c_1" });
  await c.importConversation({ messages });
  const [first, second] = calls;
  assert.equal(first.url, "https://gw.test/api/v1/conversations/import");
  assert.equal(first.init.method, "POST");
  assert.equal(first.init.headers["X-AIChat-User"], "hmac:u1:abcd");
  assert.deepEqual(JSON.parse(first.init.body), { title: "Hi", messages, created_at: "2026-12-04T09:30:00.000Z" });
  assert.deepEqual(JSON.parse(second.init.body), { title: "", messages });
});
