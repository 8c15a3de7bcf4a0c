// Model output reaches the DOM only through here: Markdown with raw HTML off (any HTML in the text is shown
// as text), then DOMPurify on what Markdown made, with a short list of tags and attributes and only http(s)
// and mailto links. Images are shown as links: an image the model names would be fetched by the visitor's
// browser, a way to carry the conversation off to any server.

import createDOMPurify from "dompurify";
import { Marked } from "marked";

const TAGS = ["a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "li",
              "ol", "p", "pre", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul"];
const PURIFY = {
  ALLOWED_TAGS: TAGS,
  ALLOWED_ATTR: ["href", "title", "start", "align"],
  ALLOWED_URI_REGEXP: /^(?:https?:|mailto:)/i,
  ALLOW_DATA_ATTR: false,
  ALLOW_ARIA_ATTR: false,
  RETURN_DOM_FRAGMENT: true,
};

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const escape = (text) => String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);

const marked = new Marked({
  gfm: true,
  breaks: true,
  async: false,
  renderer: {
    html: ({ text }) => escape(text),
    image: ({ href, text }) => `<a href="${escape(href || "")}">${escape(text || href || "")}</a>`,
    checkbox: ({ checked }) => (checked ? "[x] " : "[ ] "),
  },
});

let purify = null;

function purifier() {
  if (purify) return purify;
  purify = createDOMPurify(window);
  purify.addHook("afterSanitizeAttributes", (node) => {
    if (node.nodeName !== "A") return;
    if (node.hasAttribute("href")) {
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer");
    }
  });
  return purify;
}

/** A fragment of safe DOM for Markdown `text` from a model. */
export function renderMarkdown(text) {
  const html = marked.parse(String(text || ""));
  return purifier().sanitize(html, PURIFY);
}
