// The script tag's entry: <script src="https://GATEWAY/static/aichat/widget.js" data-site="pk_…" defer></script>
// reads its data- options, adds one <aichat-widget> to the page and puts the JS API on window.aichat.
// Events go to window as CustomEvents named aichat:ready, aichat:open, aichat:close, aichat:message and
// aichat:error (prefixed: window already has "message" and "error" events of its own).

import { createClient } from "./client.js";
import { AIChatElement } from "./element.js";

const TAG = "aichat-widget";

function thisScript() {
  return document.currentScript || document.querySelector("script[data-site][src*='/static/aichat/widget']");
}

function start(script) {
  const options = script.dataset;
  if (!options.site) {
    console.error('aichat: the widget\'s script tag needs data-site="pk_…", the site\'s publishable key');
    return;
  }
  const src = new URL(script.src, document.baseURI);
  const client = createClient({ gateway: options.gateway || src.origin, site: options.site,
                                userToken: options.userToken || null });
  if (!customElements.get(TAG)) customElements.define(TAG, AIChatElement);
  const element = document.createElement(TAG);
  element.configure({
    client,
    storage: client.storage,
    cssHref: new URL("widget.css" + src.search, src).href,
    styleNonce: script.nonce || script.getAttribute("nonce") || null,
    locale: options.locale,
    theme: options.theme,
    panelTitle: options.title,
    model: options.model,
    position: options.position,
    emit: (name, detail) => window.dispatchEvent(new CustomEvent(`aichat:${name}`, { detail })),
  });
  const queued = Array.isArray(window.aichat) ? window.aichat : [];
  window.aichat = api(element);
  document.body.append(element);
  // Calls a page queued before the script ran (window.aichat = [["open"], ["setLocale", "en"]]) run now.
  for (const [name, ...args] of queued) if (typeof window.aichat[name] === "function") window.aichat[name](...args);
  if (options.open === "true") element.open();
}

function api(element) {
  return Object.freeze({
    open: () => element.open(),
    close: () => element.close(),
    toggle: () => element.toggle(),
    send: (text) => element.send(text),
    newConversation: () => element.newConversation(),
    reset: () => element.reset(),
    setUser: (token) => element.setUser(token),
    logout: () => element.setUser(null),
    setLocale: (locale) => element.setLocale(locale),
    setTheme: (theme) => element.setTheme(theme),
    get isOpen() {
      return element.isOpen;
    },
    get locale() {
      return element.locale;
    },
  });
}

const script = thisScript();
if (!(window.aichat && typeof window.aichat.open === "function") && script) {
  if (document.body) start(script);
  else document.addEventListener("DOMContentLoaded", () => start(script), { once: true });
}
