// Turns in flight on a site whose gateway finishes an answer after its page goes (on_disconnect = finish). The
// gateway stores the question and the answer only when the call ends, so the widget remembers each turn it
// sends (conversation id, question, when) until it ends here; after a reload, or in another tab, the question
// is shown and the conversation read again until the stored answer is there.
import { NetworkError } from "./errors.js";

export const POLL_MS = 1500;
// Longer than the gateway lets a stream run (AICHAT_TOTAL_TIMEOUT, 120 s by default), then given up.
export const WAIT_MS = 150_000;

export class PendingTurns {
  constructor(storage, site) {
    this.storage = storage;
    this.key = `aichat:${site}:pending`;
  }

  /** Remember a turn of conversation `id` asking `question`, sent after `base` stored messages. */
  add(id, question, base) {
    const turns = this._read();
    turns[id] = { id, question, base, at: Date.now() };
    this._write(turns);
  }

  get(id) {
    return this._read()[id] || null;
  }

  /** The turn sent last, of any conversation. */
  latest() {
    return Object.values(this._read()).sort((a, b) => b.at - a.at)[0] || null;
  }

  remove(id) {
    const turns = this._read();
    if (!(id in turns)) return;
    delete turns[id];
    this._write(turns);
  }

  clear() {
    this._write({});
  }

  // Turns older than the wait are dropped as they are read: nothing is left behind for long.
  _read() {
    let turns = {};
    try {
      turns = JSON.parse((this.storage && this.storage.getItem(this.key)) || "{}") || {};
    } catch {
      // unreadable: nothing in flight
    }
    const now = Date.now();
    return Object.fromEntries(Object.entries(turns).filter(([, t]) => t && typeof t.question === "string"
                                                             && now - t.at < WAIT_MS));
  }

  _write(turns) {
    try {
      if (!this.storage) return;
      if (Object.keys(turns).length) this.storage.setItem(this.key, JSON.stringify(turns));
      else this.storage.removeItem(this.key);
    } catch {
      // full or blocked: a reload then shows the conversation as the gateway has it
    }
  }
}

/** How many of `messages` (as the widget shows them) the gateway has stored: a question left without an answer
 * (a call that failed before any text) was not. */
export function storedCount(messages) {
  return messages.filter((m, i) => m.role !== "user" || (messages[i + 1] || {}).role === "assistant").length;
}

/** Whether `messages`, as the gateway stored them, hold `turn`'s question and its answer. */
export function holds(messages, turn) {
  for (let i = turn.base || 0; i < messages.length - 1; i++) {
    if (messages[i].role === "user" && messages[i].content === turn.question
        && messages[i + 1].role === "assistant") return true;
  }
  return false;
}

/** The conversation once the gateway has stored `turn`, read every POLL_MS; null when the wait is over. */
export async function awaitStored(client, turn, signal) {
  while (Date.now() - turn.at < WAIT_MS) {
    await sleep(POLL_MS, signal);
    try {
      const conversation = await client.getConversation(turn.id, { signal });
      if (holds(conversation.messages, turn)) return conversation;
    } catch (err) {
      if (!(err instanceof NetworkError)) throw err;  // offline for a moment: ask again
    }
  }
  return null;
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new DOMException("stopped", "AbortError"));
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(new DOMException("stopped", "AbortError"));
    }, { once: true });
  });
}
