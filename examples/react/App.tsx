// A minimal chat on the context: React renders the text as text, so no HTML from the model reaches the page.
import { useState, type FormEvent } from "react";

import { useAIChat } from "./AIChatContext";

export function App() {
  const { messages, streaming, error, suggestions, send, stop, clear } = useAIChat();
  const [draft, setDraft] = useState("");

  function submit(event: FormEvent) {
    event.preventDefault();
    const text = draft;
    setDraft("");
    void send(text);
  }

  return (
    <main>
      <ol aria-live="polite" className="messages">
        {messages.map((message, index) => (
          <li key={index} className={message.role}>{message.content}</li>
        ))}
      </ol>
      {error && <p role="alert" className="error">{error}</p>}
      <div className="suggestions">
        {suggestions.map((text) => <button key={text} type="button" onClick={() => void send(text)}>{text}</button>)}
      </div>
      <form onSubmit={submit}>
        <input aria-label="Message" value={draft} onChange={(event) => setDraft(event.target.value)} />
        {streaming ? <button type="button" onClick={stop}>Stop</button> : <button type="submit">Send</button>}
        <button type="button" onClick={clear}>Clear</button>
      </form>
    </main>
  );
}
