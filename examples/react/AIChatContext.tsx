// A chat context for a React site, on aichat's typed client.
//
// This file used to hold provider keys in the bundle (an OpenAI key and a Gemini key, "hidden" in build-time
// environment variables that ship to every visitor) and called the providers from the browser. Now the browser
// holds only the site's publishable key, and the gateway calls the providers with keys the browser never sees,
// under the site's origins, preset and limits.
import { createContext, useCallback, useContext, useMemo, useRef, useState, type ReactNode } from "react";

import {
  AIChatError, BudgetExhaustedError, NetworkError, RateLimitedError, createClient, type ChatMessage,
} from "../../static/aichat/client.js";

export interface AIChatValue {
  messages: ChatMessage[];
  streaming: boolean;
  error: string | null;
  suggestions: string[];
  send(text: string): Promise<void>;
  stop(): void;
  clear(): void;
}

const AIChatContext = createContext<AIChatValue | null>(null);

export function AIChatProvider({ gateway, site, children }: { gateway: string; site: string; children: ReactNode }) {
  const client = useMemo(() => createClient({ gateway, site }), [gateway, site]);
  const [messages, setMessages] = useState<ChatMessage[]>([]);
  const [streaming, setStreaming] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [suggestions, setSuggestions] = useState<string[]>([]);
  const controller = useRef<AbortController | null>(null);

  const send = useCallback(async (text: string) => {
    if (!text.trim() || controller.current) return;
    const history: ChatMessage[] = [...messages, { role: "user", content: text }];
    const abort = (controller.current = new AbortController());
    setMessages([...history, { role: "assistant", content: "" }]);
    setStreaming(true);
    setError(null);
    setSuggestions([]);
    let answer = "";
    try {
      const stream = client.chat({ messages: history, signal: abort.signal });
      for await (const delta of stream) {
        answer += delta;
        setMessages([...history, { role: "assistant", content: answer }]);
      }
      setSuggestions((await stream.result).suggestions);
    } catch (err) {
      if ((err as Error).name !== "AbortError") {
        setError(describe(err));
        if (!answer) setMessages(history);
      }
    } finally {
      controller.current = null;
      setStreaming(false);
    }
  }, [client, messages]);

  const stop = useCallback(() => controller.current?.abort(), []);
  const clear = useCallback(() => {
    controller.current?.abort();
    setMessages([]);
    setSuggestions([]);
    setError(null);
  }, []);

  const value = useMemo(() => ({ messages, streaming, error, suggestions, send, stop, clear }),
                        [messages, streaming, error, suggestions, send, stop, clear]);
  return <AIChatContext.Provider value={value}>{children}</AIChatContext.Provider>;
}

export function useAIChat(): AIChatValue {
  const value = useContext(AIChatContext);
  if (!value) throw new Error("useAIChat() needs an <AIChatProvider> above it");
  return value;
}

function describe(err: unknown): string {
  if (err instanceof BudgetExhaustedError) return "The assistant has used its budget for now.";
  if (err instanceof RateLimitedError) {
    return err.retryAfter == null ? "Too many messages; try again shortly." : `Too many messages; try again in ${err.retryAfter} s.`;
  }
  if (err instanceof NetworkError) return "The connection was lost.";
  if (err instanceof AIChatError) return `The assistant is unavailable (${err.code}).`;
  return "Something went wrong.";
}
