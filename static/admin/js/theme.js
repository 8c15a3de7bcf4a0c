// Applies the theme chosen with the header's button (kept in this browser) before the page is drawn.
// "auto" (or nothing chosen) follows the system's light or dark setting through the stylesheet.
(function () {
  try {
    var theme = localStorage.getItem("aichat-theme");
    if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
  } catch (e) { /* storage refused: the system's setting applies */ }
})();
