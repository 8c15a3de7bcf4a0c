// Signing in where the site merges: this browser's anonymous conversations are uploaded one by one and removed
// here only once stored; a failed one stays for the next sign-in; a finish site claims instead.
import assert from "node:assert/strict";
import { test } from "node:test";

import { BadRequestError, NetworkError } from "../src/errors.js";
import { mergeAnonymous, transcript } from "../src/merge.js";
import { LocalStore } from "../src/store.js";

function storage() {
  const map = new Map();
  return { getItem: (k) => map.get(k) ?? null, setItem: (k, v) => map.set(k, String(v)), removeItem: (k) => map.delete(k) };
}

async function kept(questions) {
  const local = new LocalStore(storage(), "pk_a");
  for (const question of questions) {
    const conversation = await local.create();
    conversation.messages.push({ role: "user", content: question, status: "complete" },
                               { role: "assistant", content: `answer to ${question}`, status: "partial" },
                               { role: "assistant", content: "", status: "error" });
    await local.save(conversation);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return local;
}

function gateway(fail = () => null) {
  const calls = [];
  return {
    calls,
    claimConversations: async () => calls.push("claim"),
    importConversation: async (body) => {
      calls.push(body);
      const error = fail(body);
      if (error) throw error;
      return { id: "c_" + "a".repeat(22) };
    },
  };
}

const STOP = { on_disconnect: "stop", merge_anonymous: true };
const shared = { cleared: 0, clear: async () => shared.cleared++ };

test("each conversation is uploaded, oldest first, with its messages that have text, then removed here", async () => {
  const local = await kept(["first", "second"]);
  const client = gateway();
  await mergeAnonymous(client, { local, shared }, STOP);
  assert.deepEqual(client.calls.map((c) => c.title), ["first", "second"]);
  assert.deepEqual(client.calls[0].messages, [{ role: "user", content: "first" },
                                              { role: "assistant", content: "answer to first" }]);
  assert.equal(typeof client.calls[0].createdAt, "number");
  assert.deepEqual(await local.list(), []);
});

test("a failed upload stays here and the others go on; a token or setting refused stops them all", async () => {
  const local = await kept(["first", "second", "third"]);
  const failing = gateway((body) => body.title === "second" ? new NetworkError("down") : null);
  await mergeAnonymous(failing, { local, shared }, STOP);
  assert.deepEqual((await local.list()).map((c) => c.title), ["second"]);

  const again = await kept(["one", "two"]);
  const refused = gateway(() => new BadRequestError("apart", { status: 409, code: "merge_disabled" }));
  await mergeAnonymous(refused, { local: again, shared }, STOP);
  assert.equal(refused.calls.length, 1);
  assert.equal((await again.list()).length, 2);
});

test("nothing moves where the site keeps them apart; a finish site claims", async () => {
  const local = await kept(["first"]);
  const client = gateway();
  await mergeAnonymous(client, { local, shared }, { ...STOP, merge_anonymous: false });
  await mergeAnonymous(client, { local, shared }, null);
  assert.deepEqual(client.calls, []);
  await mergeAnonymous(client, { local, shared }, { on_disconnect: "finish", merge_anonymous: true });
  assert.deepEqual(client.calls, ["claim"]);
  assert.equal(shared.cleared, 1, "the session's conversation shown before is no longer the session's");
  assert.equal((await local.list()).length, 1, "on a finish site the browser's store is not the anonymous one");
});

test("a conversation too large for one upload sends its newest messages", () => {
  const messages = Array.from({ length: 200 }, (_, i) => ({ role: i % 2 ? "assistant" : "user",
                                                            content: `${i} ` + "字".repeat(1000) }));
  const body = transcript({ title: "long\ttitle", createdAt: 1, messages });
  assert.ok(new TextEncoder().encode(JSON.stringify(body)).length <= 250_000);
  assert.ok(body.messages.length < 200 && body.messages.length > 40);
  assert.equal(body.messages.at(-1).content, messages.at(-1).content);
  assert.equal(body.title, "long title");
});
