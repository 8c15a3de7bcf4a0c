// The conversation list of the panel: pick one, rename it in place, delete it.

import { h, icon } from "./dom.js";

export class ConversationList {
  constructor(widget) {
    this.widget = widget;
    this.list = h("ul");
    this.nav = h("nav", { class: "history", hidden: true }, this.list);
    this.renaming = null;  // while a title is edited: cancels the edit (Esc)
    this.shown = 0;  // counts show() calls: only the latest fills the list
  }

  get hidden() {
    return this.nav.hidden;
  }

  async show(show) {
    const widget = this.widget;
    this.nav.hidden = !show;
    widget.log.hidden = show;
    widget.historyButton.setAttribute("aria-expanded", String(!!show));
    // A closed list keeps nothing: after a sign-in or logout, no one's titles show while the new list loads.
    const shown = ++this.shown;
    if (!show) return this.list.replaceChildren();
    let items = [];
    try {
      items = await widget.store.list();
    } catch (err) {
      widget.fail(err);
    }
    if (shown !== this.shown) return;  // closed or shown again meanwhile
    this.list.replaceChildren(...(items.length ? items.map((c) => this.row(c))
      : [h("li", { class: "none" }, widget.t("noConversations"))]));
    const first = this.list.querySelector("button");
    if (first) first.focus();
  }

  row(c) {
    const widget = this.widget;
    const title = c.title || widget.t("untitled");
    const pick = h("button", { type: "button", class: "pick", "aria-current":
                                 widget.conversation && c.id === widget.conversation.id ? "true" : null }, title);
    const rename = h("button", { type: "button", class: "icon", "aria-label": `${widget.t("rename")}: ${title}` },
                     icon("edit"));
    const remove = h("button", { type: "button", class: "icon", "aria-label": `${widget.t("delete")}: ${title}` },
                     icon("trash"));
    const row = h("li", {}, pick, rename, remove);
    pick.addEventListener("click", () => widget.select(c.id));
    rename.addEventListener("click", () => this.rename(row, c));
    remove.addEventListener("click", () => widget.act(async () => {
      await widget.store.remove(c.id);
      if (widget.conversation && widget.conversation.id === c.id) widget.conversation = await widget.store.create();
      widget.renderConversation();
      await this.show(true);
    }));
    return row;
  }

  rename(row, c) {
    const widget = this.widget;
    const input = h("input", { type: "text", maxlength: "200", value: c.title || "", "aria-label": widget.t("rename") });
    const save = h("button", { type: "submit" }, widget.t("save"));
    const form = h("form", { class: "rename" }, input, save);
    row.replaceChildren(form);
    input.focus();
    this.renaming = () => {
      this.renaming = null;
      this.show(true);
    };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.renaming = null;
      const title = input.value.trim();
      widget.act(async () => {
        if (title) await widget.store.rename(c.id, title);
        if (title && widget.conversation && widget.conversation.id === c.id) widget.conversation.title = title;
        await this.show(true);
      });
    });
  }
}
