// The demo page's buttons call the widget's JS API; its events are listed as they come.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-call]");
  if (button && window.aichat && typeof window.aichat[button.dataset.call] === "function") {
    window.aichat[button.dataset.call](button.dataset.arg);
  }
});
for (const name of ["ready", "open", "close", "message", "error"]) {
  window.addEventListener(`aichat:${name}`, (event) => {
    const item = document.createElement("li");
    const detail = event.detail && Object.keys(event.detail).length ? " " + JSON.stringify(event.detail) : "";
    item.textContent = `aichat:${name}${detail}`.slice(0, 300);
    document.getElementById("events").prepend(item);
  });
}
