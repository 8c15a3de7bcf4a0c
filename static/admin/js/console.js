// Every console page: the theme button cycles automatic → light → dark, remembered in this browser.
const ORDER = ["auto", "light", "dark"];
const button = document.getElementById("theme-toggle");

function current() {
  return document.documentElement.dataset.theme || "auto";
}

function show(theme) {
  const labels = JSON.parse(button.dataset.labels);
  button.title = labels[theme];
  button.setAttribute("aria-label", labels[theme]);
}

if (button) {
  show(current());
  button.addEventListener("click", () => {
    const next = ORDER[(ORDER.indexOf(current()) + 1) % ORDER.length];
    if (next === "auto") delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = next;
    try {
      localStorage.setItem("aichat-theme", next);
    } catch (e) { /* private mode: the choice lasts for this page */ }
    show(next);
  });
}

// The period picker: choosing dates means a custom range.
const period = document.getElementById("period");
for (const id of ["from", "to"]) {
  document.getElementById(id)?.addEventListener("change", () => {
    if (period) period.value = "custom";
  });
}

// The menu is open on wide screens and folds behind its button on a phone.
const menu = document.getElementById("menu");
if (menu) {
  const wide = window.matchMedia("(min-width: 56rem)");
  const fit = () => { menu.open = wide.matches; };
  fit();
  wide.addEventListener("change", fit);
}
