// widget/src/errors.js
var AIChatError = class extends Error {
  constructor(message, { code = "error", status = 0, requestId = null, details = null } = {}) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    this.requestId = requestId;
    this.details = details;
  }
};
var RateLimitedError = class extends AIChatError {
  constructor(message, init = {}) {
    super(message, init);
    this.retryAfter = init.retryAfter ?? null;
  }
};
var BudgetExhaustedError = class extends RateLimitedError {
};
var AuthError = class extends AIChatError {
};
var NotFoundError = class extends AIChatError {
};
var BadRequestError = class extends AIChatError {
};
var UpstreamError = class extends AIChatError {
};
var NetworkError = class extends AIChatError {
};
var BUDGET_CODES = /* @__PURE__ */ new Set(["budget_exhausted"]);
function errorFor(status, error, retryAfterHeader = null) {
  const code = error && error.code || "http_" + status;
  const message = error && error.message || `the gateway answered ${status}`;
  const init = { code, status, requestId: error && error.request_id || null, details: error || null };
  if (status === 429) {
    const retryAfter = parseRetryAfter(retryAfterHeader);
    const Type = BUDGET_CODES.has(code) ? BudgetExhaustedError : RateLimitedError;
    return new Type(message, { ...init, retryAfter });
  }
  if (status === 401 || status === 403) return new AuthError(message, init);
  if (status === 404) return new NotFoundError(message, init);
  if (status >= 400 && status < 500) return new BadRequestError(message, init);
  return new UpstreamError(message, init);
}
function parseRetryAfter(value) {
  if (value == null || value === "") return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, Math.ceil(seconds));
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - Date.now()) / 1e3));
}

// widget/src/sse.js
async function* readEvents(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let event = "";
  let data = [];
  let finished = false;
  try {
    for (; ; ) {
      const { value, done } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      let end;
      while ((end = lineEnd(buffer, done)) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(buffer[end] === "\r" && buffer[end + 1] === "\n" ? end + 2 : end + 1);
        if (line === "") {
          if (data.length) yield { event: event || "message", data: data.join("\n") };
          event = "";
          data = [];
          continue;
        }
        if (line[0] === ":") continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value2 = colon < 0 ? "" : line.slice(colon + 1);
        if (value2[0] === " ") value2 = value2.slice(1);
        if (field === "event") event = value2;
        else if (field === "data") data.push(value2);
      }
      if (done) {
        finished = true;
        return;
      }
    }
  } finally {
    if (!finished) reader.cancel().catch(() => {
    });
    reader.releaseLock();
  }
}
function lineEnd(buffer, done) {
  for (let i = 0; i < buffer.length; i++) {
    const c = buffer[i];
    if (c === "\n") return i;
    if (c === "\r") return i + 1 < buffer.length || done ? i : -1;
  }
  return -1;
}

// widget/src/client.js
var CHAT = "/api/v1/ai-proxy/chat";
var CONVERSATIONS = "/api/v1/conversations";
var SESSION_FORM = /^[A-Za-z0-9_-]{22,128}$/;
function createClient(options) {
  return new Client(options);
}
var Client = class {
  constructor({ gateway, site, userToken = null, storage, fetch: fetchImpl } = {}) {
    if (!gateway) throw new TypeError("createClient: `gateway` is required, e.g. https://chat.example.com");
    if (!site) throw new TypeError("createClient: `site` is required: the site's publishable key (pk_…)");
    this.gateway = String(gateway).replace(/\/+$/, "");
    this.site = String(site);
    this.userToken = userToken || null;
    this.storage = storage === void 0 ? localStorageOrNull() : storage;
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
    return this._session = id;
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
      const data = await response.json();
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
            code: error.code || "stream_error",
            status: 502,
            requestId: error.request_id || null,
            details: error
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
    return this._json("GET", `${CONVERSATIONS}/settings`, void 0, signal, false);
  }
  /** The caller's conversations, newest first: `{conversations, next}`. */
  listConversations({ limit, before, signal } = {}) {
    const query = new URLSearchParams();
    if (limit != null) query.set("limit", String(limit));
    if (before != null) query.set("before", String(before));
    const suffix = query.toString() ? `?${query}` : "";
    return this._json("GET", CONVERSATIONS + suffix, void 0, signal);
  }
  createConversation({ title, signal } = {}) {
    return this._json("POST", CONVERSATIONS, title == null ? {} : { title }, signal);
  }
  getConversation(id, { signal } = {}) {
    return this._json("GET", `${CONVERSATIONS}/${encodeURIComponent(id)}`, void 0, signal);
  }
  renameConversation(id, title, { signal } = {}) {
    return this._json("PATCH", `${CONVERSATIONS}/${encodeURIComponent(id)}`, { title }, signal);
  }
  deleteConversation(id, { signal } = {}) {
    return this._json("DELETE", `${CONVERSATIONS}/${encodeURIComponent(id)}`, void 0, signal);
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
    return this._json("GET", `${CONVERSATIONS}/export`, void 0, signal);
  }
  /** Erase every conversation of the caller. */
  eraseConversations({ signal } = {}) {
    return this._json("DELETE", CONVERSATIONS, void 0, signal);
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
    if (body !== void 0) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await this._fetch(this.gateway + path, {
        method,
        headers,
        body: body === void 0 ? void 0 : JSON.stringify(body),
        signal,
        credentials: "omit",
        mode: "cors",
        cache: "no-store"
      });
    } catch (err) {
      throw asClientError(err, signal);
    }
    if (!response.ok) {
      let error = null;
      try {
        error = (await response.json()).error || null;
      } catch {
      }
      throw errorFor(response.status, error, response.headers.get("Retry-After"));
    }
    return response;
  }
};
var ChatStream = class {
  constructor(run) {
    this._items = [];
    this._end = null;
    this._wake = null;
    this.result = new Promise((resolve, reject) => {
      this._resolve = resolve;
      this._reject = reject;
    });
    this.result.catch(() => {
    });
    const push = (text) => {
      this._items.push(text);
      this._notify();
    };
    run(push).then(
      (result) => this._finish({ result }),
      (error) => this._finish({ error })
    );
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
    for (; ; ) {
      if (this._items.length) {
        yield this._items.shift();
      } else if (this._end) {
        if (this._end.error) throw this._end.error;
        return;
      } else {
        await new Promise((resolve) => this._wake = resolve);
      }
    }
  }
};
function asClientError(err, signal) {
  if (err instanceof AIChatError) return err;
  if (signal && signal.aborted || err && err.name === "AbortError") return err;
  const offline = typeof navigator !== "undefined" && navigator.onLine === false;
  return new NetworkError(
    offline ? "the browser is offline" : "the gateway could not be reached",
    { code: offline ? "offline" : "network_error", details: { cause: String(err) } }
  );
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
    return null;
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
  }
}
function remove(storage, key) {
  try {
    if (storage) storage.removeItem(key);
  } catch {
  }
}
export {
  AIChatError,
  AuthError,
  BadRequestError,
  BudgetExhaustedError,
  ChatStream,
  Client,
  NetworkError,
  NotFoundError,
  RateLimitedError,
  UpstreamError,
  createClient,
  errorFor,
  parseRetryAfter
};
