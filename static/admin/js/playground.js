// The playground: posts the conversation to /admin/playground/chat and reads the answer as server-sent events
// (fetch + ReadableStream: EventSource cannot POST). Model text only ever reaches the page as textContent.
const form = document.getElementById("playground");
const labels = JSON.parse(form.dataset.labels);
const transcript = document.getElementById("pg-transcript");
const message = document.getElementById("pg-message");
const send = document.getElementById("pg-send");
const stop = document.getElementById("pg-stop");
const errorBox = document.getElementById("pg-error");
const stats = document.getElementById("pg-stats");
const lang = document.documentElement.lang || "en";
let history = [];
let controller = null;

// Frames of a text/event-stream body, as the HTML standard parses them: {event, data} for each.
async function* readEvents(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let event = "";
  let data = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(buffer.startsWith("\r\n", end) ? end + 2 : end + 1);
        if (line === "") {
          if (data.length) yield { event: event || "message", data: data.join("\n") };
          event = "";
          data = [];
        } else if (line[0] !== ":") {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          let text = colon < 0 ? "" : line.slice(colon + 1);
          if (text[0] === " ") text = text.slice(1);
          if (field === "event") event = text;
          else if (field === "data") data.push(text);
        }
      }
      if (done) return;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

function bubble(role, text) {
  const item = document.createElement("div");
  item.className = `turn ${role}`;
  const who = document.createElement("strong");
  who.textContent = role === "user" ? labels.you : labels.assistant;
  const body = document.createElement("p");
  body.textContent = text;
  item.append(who, body);
  transcript.append(item);
  return body;
}

function showError(kind, detail) {
  errorBox.textContent = detail ? `${labels[kind]} ${detail}` : labels[kind];
  errorBox.hidden = false;
  errorBox.dataset.kind = kind;
}

// What kind of failure an error answer is, for a clear heading above the gateway's own message.
function kindOf(status, code) {
  if (code === "budget_exhausted") return "budget";
  if (status === 429 && code !== "upstream_rate_limited") return "limit";
  if (code === "preset_violation") return "preset";
  if (status >= 500 || (code || "").startsWith("upstream") || code === "no_provider_available") return "upstream";
  return "invalid";
}

const number = new Intl.NumberFormat(lang);
const fixed = new Intl.NumberFormat(lang, { maximumFractionDigits: 1 });

function money(amount, currency) {
  if (amount === null || amount === undefined) return labels.unpriced;
  if (!currency) return new Intl.NumberFormat(lang, { maximumFractionDigits: 10 }).format(Number(amount));
  return new Intl.NumberFormat(lang, { style: "currency", currency, maximumFractionDigits: 10 }).format(Number(amount));
}

function showStats(done) {
  const u = done.usage || {};
  const set = (id, text) => { document.getElementById(id).textContent = text; };
  set("pg-stat-upstream", done.upstream || "");
  set("pg-stat-model", done.model || "");
  set("pg-stat-tokens", [u.prompt_tokens, u.completion_tokens, u.total_tokens].map((n) => number.format(n || 0)).join(" / "));
  set("pg-stat-cost", money(done.cost, done.currency));
  set("pg-stat-latency", `${fixed.format(done.latency_ms)} ms`);
  set("pg-stat-ttft", `${fixed.format(done.ttft_ms)} ms`);
  set("pg-stat-id", done.id || "");
  stats.hidden = false;
}

function body(text) {
  const data = { site: form.elements.site.value, messages: [...history, { role: "user", content: text }] };
  const upstream = form.elements.upstream.value;
  const model = form.elements.model.value.trim();
  const temperature = form.elements.temperature.value;
  if (upstream) data.upstream = upstream;
  if (model) data.model = model;
  if (temperature !== "") data.temperature = Number(temperature);
  return data;
}

function busy(on) {
  send.disabled = on;
  stop.disabled = !on;
  form.setAttribute("aria-busy", on ? "true" : "false");
}

async function failed(response) {
  if (!(response.headers.get("content-type") || "").includes("application/json")) {
    showError(response.status === 403 ? "invalid" : "session", `(${response.status})`);
    return;
  }
  const error = (await response.json()).error || {};
  const retry = response.headers.get("Retry-After");
  const kind = kindOf(response.status, error.code);
  const wait = kind === "limit" || kind === "budget" ? (retry ? ` ${labels.retry.replace("{seconds}", retry)}` : "") : "";
  showError(kind, `${error.message || ""}${wait}`);
}

async function chat(text) {
  errorBox.hidden = true;
  const data = body(text);
  bubble("user", text);
  const answer = bubble("assistant", "");
  answer.parentElement.classList.add("streaming");
  controller = new AbortController();
  busy(true);
  let reply = "";
  let finished = false;
  try {
    const response = await fetch(form.action, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": form.elements.csrf_token.value,
                 Accept: "text/event-stream" },
      body: JSON.stringify(data),
      signal: controller.signal,
      credentials: "same-origin",
    });
    if (!response.ok || !(response.headers.get("content-type") || "").startsWith("text/event-stream")) {
      answer.parentElement.remove();
      await failed(response);
      return;
    }
    for await (const { event, data: raw } of readEvents(response.body)) {
      const payload = JSON.parse(raw);
      if (event === "delta") {
        reply += payload.content;
        answer.textContent = reply;
      } else if (event === "done") {
        finished = true;
        showStats(payload);
      } else if (event === "error") {
        const error = payload.error || {};
        showError(kindOf(502, error.code), error.message || "");
      }
    }
  } catch (err) {
    if (err.name === "AbortError") showError("stopped", "");
    else showError("network", "");
  } finally {
    answer.parentElement?.classList.remove("streaming");
    if (finished) history = [...data.messages, { role: "assistant", content: reply }];
    controller = null;
    busy(false);
    message.focus();
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = message.value.trim();
  if (!text || controller) return;
  message.value = "";
  chat(text);
});

message.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    form.requestSubmit();
  }
});

stop.addEventListener("click", () => controller?.abort());

document.getElementById("pg-clear").addEventListener("click", () => {
  controller?.abort();
  history = [];
  transcript.replaceChildren();
  errorBox.hidden = true;
  stats.hidden = true;
  message.focus();
});
