// Mounts the example on <div id="root" data-gateway="https://chat.example.com" data-site="pk_…">.
import { createRoot } from "react-dom/client";

import { AIChatProvider } from "./AIChatContext";
import { App } from "./App";

const root = document.getElementById("root")!;
createRoot(root).render(
  <AIChatProvider gateway={root.dataset.gateway!} site={root.dataset.site!}>
    <App />
  </AIChatProvider>,
);
