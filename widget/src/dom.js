// Tiny DOM helpers: elements built node by node (no HTML strings), the icons as SVG paths.

const SVG = "http://www.w3.org/2000/svg";

/** An element: h("button", {type: "button", class: "icon"}, child, "text"). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value == null) continue;
    el.setAttribute(name, value === true ? "" : String(value));
  }
  el.append(...children.filter((c) => c != null));
  return el;
}

const PATHS = {
  chat: "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z",
  close: "M6 6l12 12M18 6L6 18",
  plus: "M12 5v14M5 12h14",
  list: "M4 6h16M4 12h16M4 18h10",
  send: "M4 12l16-8-6 16-2-7-8-1z",
  stop: "M7 7h10v10H7z",
  edit: "M4 20h4L19 9l-4-4L4 16v4z",
  trash: "M5 7h14M10 7V4h4v3M7 7l1 13h8l1-13",
};

/** A decorative icon (its button carries the label). */
export function icon(name) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", PATHS[name]);
  svg.append(path);
  return svg;
}

/** The elements Tab reaches inside `root`, in order. */
export function focusables(root) {
  const candidates = root.querySelectorAll("button, textarea, input, a[href], [tabindex='0']");
  return Array.from(candidates).filter((el) => !el.disabled && !el.closest("[hidden]") && el.getClientRects().length);
}
