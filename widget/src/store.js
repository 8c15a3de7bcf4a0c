// Where the widget keeps conversations: this browser's localStorage for anonymous visitors (bounded, the
// least recently used conversation evicted first), or the gateway's conversation API for a signed-in user.
// Both answer the same calls, so the widget does not care which one it holds.

export const LIMITS = { conversations: 30, messages: 200, bytes: 400_000, contextMessages: 40, contextChars: 24_000 };
const TITLE_CHARS = 60;

/** A title from the first user message. */
export function titleFrom(text) {
  const line = String(text || "").replace(/\s+/g, " ").trim();
  return line.length > TITLE_CHARS ? line.slice(0, TITLE_CHARS - 1) + "…" : line;
}

/** The history sent with an anonymous turn: the latest complete messages within the limits, oldest first. */
export function context(messages, limits = LIMITS) {
  const usable = messages.filter((m) => m.content && (m.role === "user" || m.status !== "error"));
  const picked = [];
  let chars = 0;
  for (let i = usable.length - 1; i >= 0 && picked.length < limits.contextMessages; i--) {
    chars += usable[i].content.length;
    if (chars > limits.contextChars && picked.length) break;
    picked.unshift({ role: usable[i].role, content: usable[i].content });
  }
  while (picked.length && picked[0].role !== "user") picked.shift();
  return picked;
}

export class LocalStore {
  constructor(storage, site, limits = LIMITS) {
    this.storage = storage;
    this.key = `aichat:${site}:conversations`;
    this.limits = limits;
    this.remote = false;
  }

  async list() {
    return this._read().conversations
      .map(({ id, title, updatedAt, messages }) => ({ id, title, updatedAt, messageCount: messages.length }))
      .sort((a, b) => b.updatedAt - a.updatedAt);
  }

  async get(id) {
    const found = this._read().conversations.find((c) => c.id === id);
    return found ? { ...found, messages: found.messages.map((m) => ({ ...m })) } : null;
  }

  /** Every conversation kept here, messages and all, the least recently used first. */
  async all() {
    return this._read().conversations.sort((a, b) => a.updatedAt - b.updatedAt);
  }

  async current() {
    const state = this._read();
    return state.current ? this.get(state.current) : null;
  }

  /** A new conversation; stored once it has a message. */
  async create() {
    return { id: "l_" + randomId(), title: "", createdAt: Date.now(), updatedAt: Date.now(), messages: [] };
  }

  /** Store `conversation` (messages and all) as the current one, evicting the oldest others to stay in bounds. */
  async save(conversation) {
    const state = this._read();
    const messages = conversation.messages.slice(-this.limits.messages);
    const stored = { ...conversation, messages, updatedAt: Date.now() };
    if (!stored.title) stored.title = titleFrom((messages.find((m) => m.role === "user") || {}).content);
    state.conversations = [stored, ...state.conversations.filter((c) => c.id !== conversation.id)];
    state.current = stored.id;
    this._write(state);
    conversation.title = stored.title;
    return stored;
  }

  async select(id) {
    const state = this._read();
    state.current = id;
    this._write(state);
  }

  async rename(id, title) {
    const state = this._read();
    const found = state.conversations.find((c) => c.id === id);
    if (found) found.title = String(title).slice(0, 200);
    this._write(state);
  }

  async remove(id) {
    const state = this._read();
    state.conversations = state.conversations.filter((c) => c.id !== id);
    if (state.current === id) state.current = null;
    this._write(state);
  }

  /** Forget every conversation of this browser. */
  async clear() {
    try {
      this.storage && this.storage.removeItem(this.key);
    } catch {
      // blocked storage held nothing
    }
  }

  chatParams(conversation) {
    return { messages: context(conversation.messages, this.limits) };
  }

  _read() {
    try {
      const raw = this.storage && this.storage.getItem(this.key);
      const state = raw ? JSON.parse(raw) : null;
      if (state && Array.isArray(state.conversations)) return state;
    } catch {
      // unreadable (blocked, or edited by hand): start again
    }
    return { version: 1, current: null, conversations: [] };
  }

  _write(state) {
    if (!this.storage) return;
    // Least recently used last, so eviction takes from the end; the current conversation goes last of all.
    state.conversations.sort((a, b) => (b.id === state.current) - (a.id === state.current) || b.updatedAt - a.updatedAt);
    state.conversations = state.conversations.slice(0, this.limits.conversations);
    for (;;) {
      const text = JSON.stringify(state);
      if (text.length <= this.limits.bytes || !this._evict(state)) {
        try {
          this.storage.setItem(this.key, text);
          return;
        } catch {
          if (!this._evict(state)) return;  // the storage is full of others' data: keep it in memory only
        }
      }
    }
  }

  // Make room: drop the least recently used conversation, or the oldest messages of the last one left.
  _evict(state) {
    if (state.conversations.length > 1) {
      state.conversations.pop();
      return true;
    }
    const only = state.conversations[0];
    if (only && only.messages.length > 2) {
      only.messages = only.messages.slice(Math.ceil(only.messages.length / 4));
      return true;
    }
    return false;
  }
}

/** A conversation as the gateway sends it, as the widget holds it. */
export function fromGateway(c) {
  return { id: c.id, title: c.title, messages: c.messages.map((m) => ({ role: m.role, content: m.content,
                                                                       status: m.status })) };
}

/** Conversations on the gateway (the source of truth): a signed-in user's, or on a site that finishes answers
 * (on_disconnect = finish) an anonymous session's. */
export class RemoteStore {
  constructor(client) {
    this.client = client;
    this.remote = true;
    this._current = null;
  }

  async list() {
    const { conversations } = await this.client.listConversations({ limit: 50 });
    return conversations.map((c) => ({ id: c.id, title: c.title, updatedAt: Date.parse(c.updated_at),
                                       messageCount: c.message_count }));
  }

  async get(id) {
    return fromGateway(await this.client.getConversation(id));
  }

  async current() {
    if (this._current) return this.get(this._current);
    const [latest] = await this.list();
    return latest ? this.get(latest.id) : null;
  }

  async create() {
    return { id: null, title: "", messages: [] };
  }

  /** The gateway stores the messages of a turn itself; a draft becomes a conversation before its first turn. */
  async save(conversation) {
    if (!conversation.id) {
      const first = conversation.messages.find((m) => m.role === "user");
      const made = await this.client.createConversation({ title: titleFrom(first && first.content) || undefined });
      conversation.id = made.id;
      conversation.title = made.title;
    }
    this._current = conversation.id;
    return conversation;
  }

  async select(id) {
    this._current = id;
  }

  async rename(id, title) {
    await this.client.renameConversation(id, String(title).slice(0, 200));
  }

  async remove(id) {
    await this.client.deleteConversation(id);
    if (this._current === id) this._current = null;
  }

  async clear() {
    this._current = null;
  }

  chatParams(conversation) {
    const last = conversation.messages.filter((m) => m.role === "user").pop();
    return { conversationId: conversation.id, message: last ? last.content : "" };
  }
}

function randomId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
