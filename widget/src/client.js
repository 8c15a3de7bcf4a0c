// The typed browser client of an aichat gateway: chat as a stream of deltas, conversations, typed errors.
// The widget is built on it; a site with its own UI imports it (static/aichat/client.js, an ES module).

import { AIChatError, NetworkError, UpstreamError, errorFor } from "./errors.js";
import { readEvents } from "./sse.js";

export * from "./errors.js";

const CHAT = "/api/v1/ai-proxy/chat";
const CONVERSATIONS = "/api/v1/conversations";
const SESSION_FORM = /^[A-Za-z0-9_-]{22,128}$/;

/** A client for one site of one gateway. */
export function createClient(options) {
  return new Client(options);
}

export class Client {
  constructor({ gateway, site, userToken = null, storage, fetch: fetchImpl } = {}) {
    if (!gateway) throw new TypeError("createClient: `gateway` is required, e.g. https://chat.example.com");
    if (!site) throw new TypeError("createClient: `site` is required: the site's publishable key (pk_…)");
    this.gateway = String(gateway).replace(/\/+$/, "");
    this.site = String(site);
    this.userToken = userToken || null;
    this.storage = storage === undefined ? localStorageOrNull() : storage;
    this._fetch = fetchImpl || ((...args) => globalThis.fetch(...args));
    this._session = null;
  }

  /** This browser's anonymous session id, made once and kept in localStorage under `aichat:<pk>:session`. */
  get sessionId() {
    if (this._session) return this._session;
    const key = `aichat:${this.site}:session`;
    let id = read(this.storage, key);
    if (!id || !SESSION_FORM.test(id)) {
      id = newSessionId();
      write(this.storage, key, id);
    }
    return (this._session = id);
  }

  /** Forget this browser's anonymous session: later calls use a new one (the old conversations are out of reach). */
  resetSession() {
    this._session = null;
    remove(this.storage, `aichat:${this.site}:session`);
    return this.sessionId;
  }

  /** Act for a signed-in user from now on (a token the site's backend signed), or anonymously with null. */
  setUserToken(token) {
    this.userToken = token || null;
  }

  /**
   * One chat turn, streamed: `for await (const text of client.chat({...}))` gives the text as it arrives and
   * `await stream.result` the final result (usage, suggestions, finish_reason, conversation_id, message_id).
   * The request starts at once; abort it with `signal`.
   */
  chat(params) {
    return new ChatStream((push) => this._chat(params || {}, push));
  }

  async _chat({ messages, conversationId, message, model, signal, suggestions, temperature, maxTokens }, push) {
    const body = conversationId ? { conversation_id: conversationId, message } : { messages };
    body.stream = true;
    if (model) body.model = model;
    if (suggestions != null) body.suggestions = !!suggestions;
    if (temperature != null) body.temperature = temperature;
    if (maxTokens != null) body.max_tokens = maxTokens;
    const response = await this._send("POST", CHAT, body, signal);
    if (!(response.headers.get("Content-Type") || "").includes("text/event-stream")) {
      const data = await response.json();  // a gateway that answered in JSON after all
      if (data.content) push(data.content);
      return { ...data };
    }
    let content = "";
    try {
      for await (const { event, data } of readEvents(response.body)) {
        if (event === "delta") {
          const text = JSON.parse(data).content || "";
          content += text;
          if (text) push(text);
        } else if (event === "done") {
          return { ...JSON.parse(data), content };
        } else if (event === "error") {
          const error = JSON.parse(data).error || {};
          throw new UpstreamError(error.message || "the answer failed", {
            code: error.code || "stream_error", status: 502, requestId: error.request_id || null, details: error,
          });
        }
      }
    } catch (err) {
      throw asClientError(err, signal);
    }
    throw new NetworkError("the answer was cut off before it ended", { code: "stream_cut" });
  }

  /** The site's conversation settings, the same for every visitor: `{on_disconnect, merge_anonymous,
   * retention_days}`. */
  conversationSettings({ signal } = {}) {
    return this._json("GET", `${CONVERSATIONS}/settings`, undefined, signal, false);
  }

  /** The caller's conversations, newest first: `{conversations, next}`. */
  listConversations({ limit, before, signal } = {}) {
    const query = new URLSearchParams();
    if (limit != null) query.set("limit", String(limit));
    if (before != null) query.set("before", String(before));
    const suffix = query.toString() ? `?${query}` : "";
    return this._json("GET", CONVERSATIONS + suffix, undefined, signal);
  }

  createConversation({ title, signal } = {}) {
    return this._json("POST", CONVERSATIONS, title == null ? {} : { title }, signal);
  }

  getConversation(id, { signal } = {}) {
    return this._json("GET", `${CONVERSATIONS}/${encodeURIComponent(id)}`, undefined, signal);
  }

  renameConversation(id, title, { signal } = {}) {
    return this._json("PATCH", `${CONVERSATIONS}/${encodeURIComponent(id)}`, { title }, signal);
  }

  deleteConversation(id, { signal } = {}) {
    return this._json("DELETE", `${CONVERSATIONS}/${encodeURIComponent(id)}`, undefined, signal);
  }

  /** Move this browser's anonymous conversations to the signed-in user (when the site allows it): `{claimed}`. */
  claimConversations({ signal } = {}) {
    return this._json("POST", `${CONVERSATIONS}/claim`, {}, signal);
  }

  /** Store a transcript kept elsewhere (`messages`: `{role, content}`, oldest first) as a conversation of the
   * signed-in user, when the site allows merging: the new Conversation. */
  importConversation({ title, messages, createdAt, signal } = {}) {
    const body = { title: title || "", messages };
    if (createdAt != null) body.created_at = new Date(createdAt).toISOString();
    return this._json("POST", `${CONVERSATIONS}/import`, body, signal);
  }

  exportConversations({ signal } = {}) {
    return this._json("GET", `${CONVERSATIONS}/export`, undefined, signal);
  }

  /** Erase every conversation of the caller. */
  eraseConversations({ signal } = {}) {
    return this._json("DELETE", CONVERSATIONS, undefined, signal);
  }

  async _json(method, path, body, signal, visitor = true) {
    const response = await this._send(method, path, body, signal, visitor);
    if (response.status === 204) return null;
    try {
      return await response.json();
    } catch (err) {
      throw asClientError(err, signal);
    }
  }

  async _send(method, path, body, signal, visitor = true) {
    const headers = { "X-AIChat-Site": this.site };
    if (visitor) headers["X-AIChat-Session"] = this.sessionId;
    if (visitor && this.userToken) headers["X-AIChat-User"] = this.userToken;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await this._fetch(this.gateway + path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal,
        credentials: "omit", mode: "cors", cache: "no-store",
      });
    } catch (err) {
      throw asClientError(err, signal);
    }
    if (!response.ok) {
      let error = null;
      try {
        error = (await response.json()).error || null;
      } catch {
        // not our JSON (a proxy's error page): the status alone says enough
      }
      throw errorFor(response.status, error, response.headers.get("Retry-After"));
    }
    return response;
  }
}

/** The stream `chat()` returns: async-iterable text deltas, and `result`, a promise of the final result. */
export class ChatStream {
  constructor(run) {
    this._items = [];
    this._end = null;
    this._wake = null;
    this.result = new Promise((resolve, reject) => {
      this._resolve = resolve;
      this._reject = reject;
    });
    this.result.catch(() => {});  // awaited by whoever wants it; never an unhandled rejection
    const push = (text) => {
      this._items.push(text);
      this._notify();
    };
    run(push).then(
      (result) => this._finish({ result }), (error) => this._finish({ error }));
  }

  _finish(end) {
    this._end = end;
    if (end.error) this._reject(end.error);
    else this._resolve(end.result);
    this._notify();
  }

  _notify() {
    const wake = this._wake;
    this._wake = null;
    if (wake) wake();
  }

  async *[Symbol.asyncIterator]() {
    for (;;) {
      if (this._items.length) {
        yield this._items.shift();
      } else if (this._end) {
        if (this._end.error) throw this._end.error;
        return;
      } else {
        await new Promise((resolve) => (this._wake = resolve));
      }
    }
  }
}

function asClientError(err, signal) {
  if (err instanceof AIChatError) return err;
  if ((signal && signal.aborted) || (err && err.name === "AbortError")) return err;
  const offline = typeof navigator !== "undefined" && navigator.onLine === false;
  return new NetworkError(offline ? "the browser is offline" : "the gateway could not be reached",
                          { code: offline ? "offline" : "network_error", details: { cause: String(err) } });
}

function newSessionId() {
  const bytes = new Uint8Array(24);
  crypto.getRandomValues(bytes);
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function localStorageOrNull() {
  try {
    const storage = globalThis.localStorage;
    storage.getItem("aichat:probe");
    return storage;
  } catch {
    return null;  // blocked (a sandboxed frame, some private modes): the session lives as long as the page
  }
}

function read(storage, key) {
  try {
    return storage ? storage.getItem(key) : null;
  } catch {
    return null;
  }
}

function write(storage, key, value) {
  try {
    if (storage) storage.setItem(key, value);
  } catch {
    // full or blocked: keep it in memory only
  }
}

function remove(storage, key) {
  try {
    if (storage) storage.removeItem(key);
  } catch {
    // blocked: nothing was stored
  }
}
