// Types of static/aichat/client.js, the typed browser client of an aichat gateway.

export interface ClientOptions {
  /** The gateway's origin, e.g. "https://chat.example.com". */
  gateway: string;
  /** The site's publishable key, "pk_…". */
  site: string;
  /** A signed-in user's token (a JWT or "hmac:<user id>:<hex>") that the site's backend signed. */
  userToken?: string | null;
  /** Where the anonymous session id is kept (default: localStorage; null: memory only). */
  storage?: Pick<Storage, "getItem" | "setItem" | "removeItem"> | null;
  fetch?: typeof fetch;
}

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

interface ChatCommon {
  model?: string;
  signal?: AbortSignal;
  suggestions?: boolean;
  temperature?: number;
  maxTokens?: number;
}

/** Either the whole history (anonymous use) or a stored conversation and the new message (signed in). */
export type ChatParams =
  | (ChatCommon & { messages: ChatMessage[]; conversationId?: undefined; message?: undefined })
  | (ChatCommon & { conversationId: string; message: string; messages?: undefined });

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface ChatResult {
  id: string;
  /** The whole answer. */
  content: string;
  model: string;
  provider: string;
  usage: Usage;
  suggestions: string[];
  finish_reason: string | null;
  /** Present for a conversation-bound turn. */
  conversation_id?: string;
  /** The stored assistant message, for a conversation-bound turn. */
  message_id?: string;
}

export declare class ChatStream implements AsyncIterable<string> {
  /** Resolves when the answer ended; rejects with a typed error (or the AbortError of the signal). */
  readonly result: Promise<ChatResult>;
  [Symbol.asyncIterator](): AsyncIterator<string>;
}

export interface Conversation {
  id: string;
  title: string;
  created_at: string;
  updated_at: string;
  message_count: number;
}

export interface Message {
  id: string;
  role: "user" | "assistant";
  content: string;
  created_at: string;
  status: "complete" | "partial" | "error" | "streaming";
}

export interface ConversationWithMessages extends Conversation {
  messages: Message[];
}

export interface ConversationSettings {
  /** "finish": the gateway finishes and stores a conversation's answer when its page goes; "stop": it stops. */
  on_disconnect: "stop" | "finish";
  /** Whether claimConversations() and importConversation() may give anonymous conversations to a signed-in user. */
  merge_anonymous: boolean;
  /** Idle conversations are deleted after this many days; null: kept until deleted. */
  retention_days: number | null;
}

interface CallOptions {
  signal?: AbortSignal;
}

export declare class Client {
  readonly gateway: string;
  readonly site: string;
  userToken: string | null;
  /** Where the session id is kept (null when localStorage is blocked). */
  readonly storage: Pick<Storage, "getItem" | "setItem" | "removeItem"> | null;
  /** This browser's anonymous session id (made once, kept in localStorage under `aichat:<pk>:session`). */
  readonly sessionId: string;
  resetSession(): string;
  setUserToken(token: string | null): void;
  chat(params: ChatParams): ChatStream;
  conversationSettings(options?: CallOptions): Promise<ConversationSettings>;
  listConversations(options?: CallOptions & { limit?: number; before?: string }):
    Promise<{ conversations: Conversation[]; next: string | null }>;
  createConversation(options?: CallOptions & { title?: string }): Promise<Conversation>;
  getConversation(id: string, options?: CallOptions): Promise<ConversationWithMessages>;
  renameConversation(id: string, title: string, options?: CallOptions): Promise<Conversation>;
  deleteConversation(id: string, options?: CallOptions): Promise<null>;
  claimConversations(options?: CallOptions): Promise<{ claimed: number }>;
  /** Store a transcript (oldest message first, at most 200 messages, 256 KB) as a conversation of the signed-in
   * user, when the site allows merging (else a BadRequestError with code "merge_disabled"). */
  importConversation(options: CallOptions & { title?: string; createdAt?: number | string | Date;
                                              messages: { role: "user" | "assistant"; content: string }[] }):
    Promise<Conversation>;
  exportConversations(options?: CallOptions): Promise<{ conversations: ConversationWithMessages[] }>;
  eraseConversations(options?: CallOptions): Promise<null>;
}

export declare function createClient(options: ClientOptions): Client;

export declare class AIChatError extends Error {
  /** The gateway's error code, e.g. "rate_limited", "invalid_user_token", "network_error". */
  readonly code: string;
  /** The HTTP status (0 when no answer came). */
  readonly status: number;
  readonly requestId: string | null;
  readonly details: Record<string, unknown> | null;
}
export declare class RateLimitedError extends AIChatError {
  /** Seconds until a request may pass again, from Retry-After. */
  readonly retryAfter: number | null;
}
export declare class BudgetExhaustedError extends RateLimitedError {}
export declare class AuthError extends AIChatError {}
export declare class NotFoundError extends AIChatError {}
export declare class BadRequestError extends AIChatError {}
export declare class UpstreamError extends AIChatError {}
export declare class NetworkError extends AIChatError {}
