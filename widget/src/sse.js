// Server-sent events read from a fetch body (EventSource cannot POST or send headers): yields
// {event, data} for each frame, as the HTML standard parses them (CR, LF or CRLF line ends, comment lines,
// several data lines joined by a newline).

export async function* readEvents(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let event = "";
  let data = [];
  let finished = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      let end;
      while ((end = lineEnd(buffer, done)) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(buffer[end] === "\r" && buffer[end + 1] === "\n" ? end + 2 : end + 1);
        if (line === "") {
          if (data.length) yield { event: event || "message", data: data.join("\n") };
          event = "";
          data = [];
          continue;
        }
        if (line[0] === ":") continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value[0] === " ") value = value.slice(1);
        if (field === "event") event = value;
        else if (field === "data") data.push(value);
      }
      if (done) {
        finished = true;
        return;
      }
    }
  } finally {
    // A consumer that stops early (or an error) must not leave the connection open: the gateway then stops
    // the upstream call too.
    if (!finished) reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

// Where the first complete line of `buffer` ends; a lone CR at the very end waits for a possible LF.
function lineEnd(buffer, done) {
  for (let i = 0; i < buffer.length; i++) {
    const c = buffer[i];
    if (c === "\n") return i;
    if (c === "\r") return i + 1 < buffer.length || done ? i : -1;
  }
  return -1;
}
