// <aichat-widget>: a launcher and a chat panel in a shadow root. Styles come from the gateway's widget.css
// through a <link> in the shadow root, so a host page's strict CSP needs no 'unsafe-inline' and neither
// side's CSS reaches the other. Model text goes through render.js only.

import { AuthError, BudgetExhaustedError, NetworkError, NotFoundError, RateLimitedError, UpstreamError } from "./errors.js";
import { focusables, h, icon } from "./dom.js";
import { PendingTurns, awaitStored, holds, storedCount } from "./finishing.js";
import { ConversationList } from "./history.js";
import { pickLocale, translator } from "./i18n.js";
import { mergeAnonymous } from "./merge.js";
import { renderMarkdown } from "./render.js";
import { LocalStore, RemoteStore, fromGateway } from "./store.js";

const THEMES = ["light", "dark", "auto"];
const SIGNED_OUT = new Set(["invalid_user_token", "user_token_expired"]);

export class AIChatElement extends HTMLElement {
  /** Settings from the script tag: client, storage, cssHref, styleNonce, locale, theme, panelTitle, model, position,
   * emit. (Not `title` or `nonce`: an HTMLElement has those properties and would reflect them as attributes.) */
  configure(options) {
    Object.assign(this, { emit: () => {}, ...options });
    this.local = new LocalStore(options.storage, this.client.site);
    // An anonymous visitor's conversations on a site that finishes answers: on the gateway, under the session.
    this.shared = new RemoteStore(this.client);
    this.pending = new PendingTurns(options.storage, this.client.site);
    this.settings = null;
    // Signed in from the start (data-user-token): the gateway holds the conversations.
    this.store = this.client.userToken ? new RemoteStore(this.client) : this.local;
    this.locale = pickLocale(options.locale, document.documentElement.lang, ...(navigator.languages || []));
    this.t = translator(this.locale);
    this.labels = [];
    this.conversation = null;
    this.streaming = null;
    this.frame = 0;
  }

  connectedCallback() {
    if (this.shadowRoot) return;
    const shadow = this.attachShadow({ mode: "open" });
    const sheet = h("link", { rel: "stylesheet", href: this.cssHref, nonce: this.styleNonce || null });
    this.build();
    const show = () => this.root.removeAttribute("hidden");
    sheet.addEventListener("load", show);
    sheet.addEventListener("error", show);
    shadow.append(sheet, this.root);
    this.setTheme(this.theme);
    this.applyLocale();
    this.listen();
    // Signed in from the start (data-user-token): this browser's anonymous conversations go to the user first.
    this.ready = this.learn().then(() => this.client.userToken && this.merge()).then(() => this.restore())
      .then(() => this.emit("ready", {}), (err) => this.fail(err));
  }

  build() {
    const label = (el, attr, key) => (this.labels.push([el, attr, key]), el);
    const button = (name, cls, key, attrs = {}) =>
      label(h("button", { type: "button", class: `icon ${cls}`, ...attrs }, icon(name)), "aria-label", key);
    this.launcher = button("chat", "launcher", "open", { "aria-expanded": "false", "aria-controls": "aichat-panel" });
    this.titleEl = h("h2", { id: "aichat-title" });
    this.historyButton = button("list", "history-toggle", "history", { "aria-expanded": "false" });
    this.newButton = button("plus", "new", "newConversation");
    this.closeButton = button("close", "close", "close");
    this.history = new ConversationList(this);
    label(this.history.nav, "aria-label", "history");
    this.log = h("div", { class: "log", role: "log", "aria-live": "polite", tabindex: "0" });
    label(this.log, "aria-label", "title");
    this.statusText = h("span");
    this.retryButton = label(h("button", { type: "button", class: "retry", hidden: true }), "textContent", "retry");
    this.status = h("div", { class: "status", role: "status", hidden: true }, this.statusText, this.retryButton);
    this.suggestions = h("div", { class: "suggestions", role: "group" });
    label(this.suggestions, "aria-label", "suggestions");
    this.input = h("textarea", { rows: "1", maxlength: "8000", enterkeyhint: "send" });
    label(this.input, "aria-label", "message");
    label(this.input, "placeholder", "placeholder");
    this.sendButton = button("send", "send", "send", { type: "submit" });
    this.stopButton = button("stop", "stop", "stop", { hidden: true });
    this.form = h("form", { class: "composer" }, this.input, this.sendButton, this.stopButton);
    this.panel = h("section", { class: "panel", id: "aichat-panel", role: "dialog", "aria-modal": "true",
                                "aria-labelledby": "aichat-title", hidden: true },
      h("header", {}, this.historyButton, this.titleEl, this.newButton, this.closeButton),
      this.history.nav, this.log, this.status, this.suggestions, this.form);
    this.root = h("div", { class: `root ${this.position === "left" ? "left" : "right"}`, hidden: true },
                  this.panel, this.launcher);
  }

  listen() {
    this.launcher.addEventListener("click", () => this.toggle());
    this.closeButton.addEventListener("click", () => this.close());
    this.newButton.addEventListener("click", () => this.newConversation());
    this.historyButton.addEventListener("click", () => this.history.show(this.history.hidden));
    this.retryButton.addEventListener("click", () => this.retry());
    this.stopButton.addEventListener("click", () => this.stop(true));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send(this.input.value);
    });
    this.input.addEventListener("keydown", (event) => {
      // Enter sends; Shift+Enter is a new line; Enter that ends an IME composition (Chinese input) is not a send.
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.send(this.input.value);
      }
    });
    this.panel.addEventListener("keydown", (event) => this.onKey(event));
    window.addEventListener("online", () => {
      const last = this.conversation && this.conversation.messages.at(-1);
      if (this.state === "offline") this.showState(last && last.role === "user" ? "online" : null);
    });
    window.addEventListener("offline", () => this.streaming || this.showState("offline", { retry: false }));
    // A page left mid-answer keeps what arrived, marked as cut short.
    // The load cut short as the page goes then fails like a lost connection: it stays "partial".
    window.addEventListener("pageshow", () => (this.leaving = false));
    window.addEventListener("pagehide", () => {
      this.leaving = true;
      if (!this.streaming || this.store.remote) return;
      this.streaming.answer.status = "partial";
      this.store.save(this.conversation);
    });
    if (window.visualViewport) {
      // On a phone the panel follows the on-screen keyboard: its height is the visible viewport's.
      const fit = () => this.root.style.setProperty("--aichat-viewport", `${window.visualViewport.height}px`);
      window.visualViewport.addEventListener("resize", fit);
      fit();
    }
  }

  onKey(event) {
    if (event.key === "Escape") {
      event.preventDefault();
      if (this.history.renaming) this.history.renaming();
      else if (!this.history.hidden) {
        this.history.show(false);
        this.historyButton.focus();
      } else this.close();
    } else if (event.key === "Tab") {
      // Focus stays in the open panel: Tab from the last control goes to the first, Shift+Tab the other way.
      const items = focusables(this.panel);
      const active = this.shadowRoot.activeElement;
      const edge = event.shiftKey ? items[0] : items[items.length - 1];
      if (items.length && (active === edge || !items.includes(active))) {
        event.preventDefault();
        (event.shiftKey ? items[items.length - 1] : items[0]).focus();
      }
    }
  }

  get isOpen() {
    return !this.panel.hidden;
  }

  open() {
    if (this.isOpen) return;
    this.panel.hidden = false;
    this.root.classList.add("open");
    this.launcher.setAttribute("aria-expanded", "true");
    this.launcher.setAttribute("aria-label", this.t("close"));
    this.scrollToEnd();
    this.input.focus();
    this.emit("open", {});
  }

  close() {
    if (!this.isOpen) return;
    this.panel.hidden = true;
    this.root.classList.remove("open");
    this.launcher.setAttribute("aria-expanded", "false");
    this.launcher.setAttribute("aria-label", this.t("open"));
    this.launcher.focus();
    this.emit("close", {});
  }

  toggle() {
    return this.isOpen ? this.close() : this.open();
  }

  setLocale(locale) {
    this.locale = pickLocale(locale, document.documentElement.lang, ...(navigator.languages || []));
    this.t = translator(this.locale);
    this.applyLocale();
    if (this.conversation) this.renderConversation();
  }

  applyLocale() {
    this.root.setAttribute("lang", this.locale);
    for (const [el, attr, key] of this.labels) {
      if (attr === "textContent") el.textContent = this.t(key);
      else el.setAttribute(attr, this.t(key));
    }
    this.launcher.setAttribute("aria-label", this.t(this.isOpen ? "close" : "open"));
    this.titleEl.textContent = this.panelTitle || this.t("title");
    if (this.state) this.showState(this.state, this.stateOptions);
  }

  setTheme(theme) {
    this.theme = THEMES.includes(theme) ? theme : "auto";
    this.root.setAttribute("data-theme", this.theme);
  }

  // ---- conversations -------------------------------------------------------------------------
  /** The site's settings, asked once a page (again after a failure); anonymous visitors follow on_disconnect. */
  async learn() {
    if (!this.settings) {
      try {
        this.settings = await this.client.conversationSettings();
      } catch {
        // an older gateway, or unreachable: the browser keeps anonymous conversations, as on a `stop` site
      }
    }
    if (!this.client.userToken && this.store === this.local) this.store = this.anonymous();
  }

  /** Where an anonymous visitor's conversations live: on the gateway when it finishes answers, else here. */
  anonymous() {
    return this.finishes ? this.shared : this.local;
  }

  get finishes() {
    return !!this.settings && this.settings.on_disconnect === "finish";
  }

  async restore() {
    try {
      this.conversation = (await this.inFlight()) || (await this.store.current()) || (await this.store.create());
    } catch (err) {
      if (!this.store.remote) throw err;
      // A refused token: fail() drops it and switches. Anything else: this browser's own conversations for now.
      const switching = this.fail(err);
      if (switching) return switching;
      this.store = this.local;
      return this.restore();
    }
    for (const m of this.conversation.messages) if (m.status === "streaming") m.status = "partial";
    this.renderConversation();
    this.resume();
  }

  /** The conversation of the latest turn still being finished (a reload mid-answer), when it is the caller's. */
  async inFlight() {
    const turn = this.store.remote && this.finishes ? this.pending.latest() : null;
    if (!turn) return null;
    try {
      const conversation = await this.store.get(turn.id);
      await this.store.select(turn.id);
      return conversation;
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      this.pending.remove(turn.id);  // deleted, or someone else's (another visitor of this browser)
      return null;
    }
  }

  /** Show the question of a turn of this conversation that the gateway is still finishing, and wait for it. */
  resume() {
    const conversation = this.conversation;
    const turn = this.store.remote && this.finishes && conversation.id ? this.pending.get(conversation.id) : null;
    if (!turn || this.streaming) return;
    if (holds(conversation.messages, turn)) return this.pending.remove(turn.id);
    conversation.messages.push({ role: "user", content: turn.question, status: "complete" });
    this.renderConversation();
    return this.awaitAnswer(conversation, turn);
  }

  /** Read the conversation until the gateway has stored `turn`, then show it; give up after a while. */
  async awaitAnswer(conversation, turn) {
    const controller = new AbortController();
    const waiting = (this.streaming = { controller, answer: null });
    this.setBusy(true);
    this.showState("finishing", { retry: false });
    let state = "unfinished";
    try {
      const stored = await awaitStored(this.client, turn, controller.signal);
      if (stored && conversation === this.conversation) {
        this.conversation = fromGateway(stored);
        this.renderConversation();
        const answer = this.conversation.messages.at(-1);
        this.emit("message", { role: "assistant", content: answer.content, conversationId: stored.id });
        state = null;
      }
    } catch (err) {
      state = err && err.name === "AbortError" ? (waiting.stopped ? "unfinished" : undefined) : err;
    } finally {
      this.pending.remove(turn.id);
      if (this.streaming === waiting) {
        this.streaming = null;
        this.setBusy(false);
      }
    }
    // Not over another conversation shown meanwhile (the stored one replaced `conversation` on purpose).
    if (state === undefined || (state && conversation !== this.conversation)) return;
    if (state && typeof state !== "string") this.fail(state);
    else this.showState(state);
  }

  /** Switch to `store` (or the store a promise gives): the panel is cleared at once, so a state shown after this
   * call (a refused token's) stays while the store is made ready. */
  async useStore(store) {
    this.stop();
    this.showState(null);
    this.history.show(false);
    this.store = await store;
    await this.restore();
  }

  /** Act for a signed-in user (the gateway's conversations), or with null for this browser's own again. Where the
   * site merges, this browser's anonymous conversations become the user's first; elsewhere they stay where they are
   * (its localStorage, or on a site that finishes answers the gateway, under its session), back after logout(). */
  async setUser(token) {
    this.client.setUserToken(token || null);
    return this.useStore(this.storeFor(token));
  }

  async storeFor(token) {
    await this.learn();
    if (!token) return this.anonymous();
    await this.merge();
    return new RemoteStore(this.client);
  }

  /** Give this browser's anonymous conversations to the user signing in, where the site allows it; one at a time. */
  merge() {
    if (!this.merging) {
      const stores = { local: this.local, shared: this.shared };
      this.merging = mergeAnonymous(this.client, stores, this.settings).finally(() => (this.merging = null));
    }
    return this.merging;
  }

  async newConversation() {
    this.stop();
    this.conversation = await this.store.create();
    this.showState(null);
    this.history.show(false);
    this.renderConversation();
    if (this.isOpen) this.input.focus();
  }

  /** Forget this browser's anonymous conversations and session. */
  async reset() {
    this.stop();
    const anonymous = !this.client.userToken;
    // On the gateway (a site that finishes answers), the session's conversations are erased before it goes.
    if (anonymous && this.store === this.shared) await this.act(() => this.client.eraseConversations());
    await this.local.clear();
    await this.shared.clear();
    this.pending.clear();
    this.client.resetSession();
    if (anonymous) await this.newConversation();
  }

  select(id) {
    return this.act(async () => {
      this.stop();
      await this.store.select(id);
      this.conversation = (await this.store.get(id)) || (await this.store.create());
      this.history.show(false);
      this.renderConversation();
      this.input.focus();
      this.resume();
    });
  }

  async act(work) {
    try {
      await work();
    } catch (err) {
      this.fail(err);
    }
  }

  // ---- a turn ---------------------------------------------------------------------------------
  async send(text) {
    text = String(text || "").trim();
    await this.ready;
    if (!text || this.streaming) return;
    this.open();
    this.input.value = "";
    this.conversation.messages.push({ role: "user", content: text, status: "complete" });
    this.log.append(this.messageView(this.conversation.messages.at(-1)));
    this.emit("message", { role: "user", content: text, conversationId: this.conversation.id });
    await this.turn();
  }

  /** Answer the last user message again, after an error or a stop. */
  async retry() {
    const messages = this.conversation.messages;
    while (messages.length && messages.at(-1).role === "assistant" && messages.at(-1).status !== "complete") {
      messages.pop();
    }
    if (!messages.length || messages.at(-1).role !== "user" || this.streaming) return;
    this.renderConversation();
    await this.turn();
  }

  /** Stop the answer (or the wait for one); `byVisitor` when the stop button asked. */
  stop(byVisitor = false) {
    if (!this.streaming) return;
    this.streaming.stopped = byVisitor;
    this.streaming.controller.abort();
  }

  async turn() {
    const conversation = this.conversation;
    const store = this.store;
    this.showState(null);
    this.showSuggestions([]);
    const answer = { role: "assistant", content: "", status: "streaming" };
    const controller = new AbortController();
    this.streaming = { controller, answer };
    this.setBusy(true);
    let view = null;
    let failure = null;
    // The gateway finishes this answer even if the page goes: remember the turn until it ends here.
    const finishing = store.remote && this.finishes;
    let turn = null;
    let wait = false;
    try {
      await store.save(conversation);
      if (finishing) {
        let asked = conversation.messages.length - 1;
        while (asked > 0 && conversation.messages[asked].role !== "user") asked--;
        this.pending.add(conversation.id, conversation.messages[asked].content,
                         storedCount(conversation.messages.slice(0, asked)));
        turn = this.pending.get(conversation.id);
      }
      const params = { ...store.chatParams(conversation), model: this.model, signal: controller.signal };
      conversation.messages.push(answer);
      view = this.messageView(answer);
      this.log.append(view);
      const stream = this.client.chat(params);
      for await (const text of stream) {
        answer.content += text;
        this.scheduleRender(view, answer);
      }
      const result = await stream.result;
      answer.status = "complete";
      if (result.conversation_id) conversation.id = result.conversation_id;
      this.showSuggestions(result.suggestions || []);
      this.emit("message", { role: "assistant", content: answer.content, conversationId: conversation.id,
                             usage: result.usage });
    } catch (err) {
      answer.status = (err && err.name === "AbortError") || this.leaving ? "partial" : "error";
      if (answer.status === "error") failure = err;
      // The connection broke (or the page is going), not the gateway: it is finishing the answer; wait for it.
      wait = !!turn && !controller.signal.aborted && (err instanceof NetworkError || answer.status === "partial");
    } finally {
      cancelAnimationFrame(this.frame);
      this.frame = 0;
      this.streaming = null;
      this.setBusy(false);
      if (turn && !wait) this.pending.remove(turn.id);
      if (answer.status === "error" && !answer.content) {
        conversation.messages = conversation.messages.filter((m) => m !== answer);
        if (view) view.remove();
      } else if (view) {
        this.renderMessage(view, answer);
      }
    }
    if (wait) {
      conversation.messages = conversation.messages.filter((m) => m !== answer);
      if (view) view.remove();
      return conversation === this.conversation ? this.awaitAnswer(conversation, turn) : undefined;
    }
    // Shown once the failed answer is gone: the retry button is offered for a question left unanswered.
    const switching = failure ? this.fail(failure) : null;
    if (switching) {
      // A refused token ended the signed-in conversation: the question waits in the composer, to send anonymously.
      await switching;
      const asked = conversation.messages.filter((m) => m.role === "user").at(-1);
      if (asked && !this.input.value) this.input.value = asked.content;
      return;
    }
    // Not after a switch of store (sign-in, logout): a user's conversation is never copied into this browser's.
    if (conversation === this.conversation && store === this.store) await this.act(() => store.save(conversation));
  }

  setBusy(busy) {
    this.sendButton.hidden = busy;
    this.stopButton.hidden = !busy;
    if (busy && this.shadowRoot.activeElement === this.sendButton) this.stopButton.focus();
    if (!busy && this.shadowRoot.activeElement === this.stopButton) this.input.focus();
  }

  /** Show what went wrong; a refused user token is dropped, and the promise of the switch to this browser's
   * own conversations returned. */
  fail(err) {
    const code = (err && err.code) || "error";
    let kind = "upstream";
    let options = {};
    let switching = null;
    if (err instanceof AuthError && SIGNED_OUT.has(code) && this.client.userToken) {
      // The site's token for this user is bad, stale or another site's: go on anonymously rather than not at all.
      kind = "signedOut";
      options = { retry: false };
      switching = this.setUser(null);
    } else if (err instanceof BudgetExhaustedError) kind = "budget";
    else if (err instanceof RateLimitedError) {
      kind = "rateLimited";
      options = { until: err.retryAfter == null ? null : Date.now() + err.retryAfter * 1000 };
    } else if (err instanceof NetworkError) kind = navigator.onLine === false ? "offline" : "network";
    else if (err instanceof AuthError) kind = "auth";
    else if (!(err instanceof UpstreamError) && err && err.status >= 400 && err.status < 500) kind = "badRequest";
    this.showState(kind, { retry: kind !== "auth", ...options });
    this.emit("error", { kind, code, message: err && err.message, status: err && err.status,
                         retryAfter: err && err.retryAfter });
    return switching;
  }

  showState(kind, options = {}) {
    clearInterval(this.countdown);
    this.state = kind;
    this.stateOptions = options;
    this.status.hidden = !kind;
    this.status.setAttribute("data-kind", kind || "");
    if (!kind) return;
    const text = () => {
      const left = options.until ? Math.ceil((options.until - Date.now()) / 1000) : 0;
      if (kind === "rateLimited") return left > 0 ? this.t("rateLimited", { n: left }) : this.t("rateLimitedSoon");
      return this.t(kind);
    };
    this.statusText.textContent = text();
    if (options.until) this.countdown = setInterval(() => (this.statusText.textContent = text()), 1000);
    const last = this.conversation && this.conversation.messages.at(-1);
    this.retryButton.hidden = !(options.retry !== false && last && last.role === "user");
  }

  showSuggestions(items) {
    this.suggestions.replaceChildren(...items.slice(0, 4).map((text) => {
      const button = h("button", { type: "button", class: "suggestion" }, text);
      button.addEventListener("click", () => this.send(text));
      return button;
    }));
  }

  // ---- the transcript -------------------------------------------------------------------------
  renderConversation() {
    const messages = this.conversation.messages;
    this.log.replaceChildren(...(messages.length ? messages.map((m) => this.messageView(m))
      : [h("p", { class: "empty" }, this.t("empty"))]));
    this.showSuggestions([]);
    this.scrollToEnd();
  }

  messageView(message) {
    const view = h("div", { class: `message ${message.role}` });
    this.renderMessage(view, message);
    const empty = this.log.querySelector(".empty");
    if (empty) empty.remove();
    return view;
  }

  scheduleRender(view, message) {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.renderMessage(view, message);
    });
  }

  renderMessage(view, message) {
    const speaker = h("span", { class: "speaker" }, this.t(message.role === "user" ? "you" : "assistant") + ": ");
    // A user's text is shown as text; a model's as sanitised Markdown.
    const body = h("div", { class: "body" });
    if (message.role === "user") body.textContent = message.content;
    else body.append(renderMarkdown(message.content));
    const note = message.status === "partial" ? h("p", { class: "note" }, this.t("stopped")) : null;
    // A screen reader hears an answer once it is whole, not every delta of it.
    view.setAttribute("aria-busy", String(message.status === "streaming"));
    view.replaceChildren(speaker, body, ...(note ? [note] : []));
    this.scrollToEnd();
  }

  scrollToEnd() {
    this.log.scrollTop = this.log.scrollHeight;
  }
}
