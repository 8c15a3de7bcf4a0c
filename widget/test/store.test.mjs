// Where the widget keeps conversations: bounded localStorage, the context a turn sends, and the signed-in path
// on the conversation API (coded to the contract; the gateway's side is scripted here).
import assert from "node:assert/strict";
import { test } from "node:test";

import { LocalStore, RemoteStore, context } from "../src/store.js";

function storage(quota = Infinity) {
  const map = new Map();
  return {
    map,
    getItem: (k) => map.get(k) ?? null,
    setItem: (k, v) => {
      if (String(v).length > quota) throw new DOMException("full", "QuotaExceededError");
      map.set(k, String(v));
    },
    removeItem: (k) => map.delete(k),
  };
}

const turn = (n) => [{ role: "user", content: `question ${n}`, status: "complete" },
                     { role: "assistant", content: `answer ${n}`, status: "complete" }];

test("conversations are kept per site and restored, newest first, with a title from the first question", async () => {
  const shared = storage();
  const store = new LocalStore(shared, "pk_a");
  const first = await store.create();
  first.messages.push(...turn(1));
  await store.save(first);
  const second = await store.create();
  second.messages.push(...turn(2));
  await store.save(second);
  const again = new LocalStore(shared, "pk_a");
  assert.deepEqual((await again.list()).map((c) => c.title), ["question 2", "question 1"]);
  assert.equal((await again.current()).id, second.id);
  assert.deepEqual(await new LocalStore(shared, "pk_b").list(), [], "another site's widget sees none of them");
  await again.rename(first.id, "Renamed");
  await again.remove(second.id);
  assert.deepEqual((await again.list()).map((c) => c.title), ["Renamed"]);
  assert.equal(await again.current(), null);
});

test("storage stays bounded: the least recently used conversation goes first, the current one last", async () => {
  const limits = { conversations: 3, messages: 6, bytes: 2_000, contextMessages: 40, contextChars: 24_000 };
  const store = new LocalStore(storage(), "pk_a", limits);
  const ids = [];
  for (let n = 0; n < 5; n++) {
    const c = await store.create();
    c.messages.push(...turn(n), ...turn(n), ...turn(n), ...turn(n));
    ids.push((await store.save(c)).id);
  }
  const kept = await store.list();
  assert.deepEqual(kept.map((c) => c.id), ids.slice(2).reverse(), "the three most recent stay");
  assert.ok(kept.every((c) => c.messageCount <= 6));
  const big = await store.create();
  big.messages.push(...Array.from({ length: 6 }, (_, i) => ({ role: "user", content: "x".repeat(600) + i })));
  await store.save(big);
  const text = store.storage.getItem(store.key);
  assert.ok(text.length <= 2_000, text.length);
  assert.equal((await store.current()).id, big.id, "the current conversation is the last to lose anything");
});

test("a full storage evicts instead of failing", async () => {
  const store = new LocalStore(storage(1_500), "pk_a");
  for (let n = 0; n < 20; n++) {
    const c = await store.create();
    c.messages.push(...turn(n));
    await store.save(c);
  }
  const list = await store.list();
  assert.ok(list.length >= 1 && list.length < 20);
  assert.equal(list[0].title, "question 19");
});

test("the context sent with a turn is the latest messages within the limits, starting with a question", () => {
  const messages = [...turn(1), ...turn(2), { role: "assistant", content: "failed", status: "error" }, ...turn(3)];
  assert.deepEqual(context(messages, { contextMessages: 3, contextChars: 1_000 }).map((m) => m.content),
                   ["question 3", "answer 3"], "an answer without its question is dropped");
  assert.deepEqual(context(messages, { contextMessages: 40, contextChars: 1_000 }).map((m) => m.content),
                   ["question 1", "answer 1", "question 2", "answer 2", "question 3", "answer 3"]);
  assert.deepEqual(context(messages, { contextMessages: 40, contextChars: 20 }).map((m) => m.content),
                   ["question 3", "answer 3"]);
});

test("signed in, conversations live on the gateway: a draft is created before its first turn", async () => {
  const calls = [];
  const client = {
    listConversations: async () => (calls.push(["list"]), {
      conversations: [{ id: "c_2", title: "Later", created_at: "2026-12-01T00:00:00Z",
                        updated_at: "2026-12-02T00:00:00Z", message_count: 2 }], next: null }),
    getConversation: async (id) => (calls.push(["get", id]), {
      id, title: "Later", messages: [{ id: "m_1", role: "user", content: "hi", status: "complete" }] }),
    createConversation: async ({ title }) => (calls.push(["create", title]), { id: "c_new", title }),
    renameConversation: async (id, title) => calls.push(["rename", id, title]),
    deleteConversation: async (id) => calls.push(["delete", id]),
  };
  const store = new RemoteStore(client);
  assert.equal((await store.current()).id, "c_2");
  const draft = await store.create();
  draft.messages.push({ role: "user", content: "A new question", status: "complete" });
  await store.save(draft);
  assert.equal(draft.id, "c_new");
  assert.deepEqual(store.chatParams(draft), { conversationId: "c_new", message: "A new question" });
  await store.rename("c_new", "Mine");
  await store.remove("c_new");
  assert.deepEqual(calls, [["list"], ["get", "c_2"], ["create", "A new question"], ["rename", "c_new", "Mine"],
                           ["delete", "c_new"]]);
});
