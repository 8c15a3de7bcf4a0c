// Signing in on a site that merges anonymous conversations into its users' (merge_anonymous): this browser's own
// conversations become the user's. On a site that finishes answers they are on the gateway already, under the
// browser's session, and are claimed; elsewhere each is uploaded from localStorage and removed here once the
// gateway has stored it. One that fails stays here, and goes at the next sign-in.

import { AuthError } from "./errors.js";

const IMPORT_BYTES = 250_000;  // one upload, under the gateway's 256 KB
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;  // never in a title the gateway takes

/** Give this browser's anonymous conversations (in `local`, a LocalStore, or `shared`, the session's RemoteStore)
 * to the signed-in user of `client`. */
export async function mergeAnonymous(client, { local, shared }, settings) {
  if (!settings || !settings.merge_anonymous) return;
  if (settings.on_disconnect === "finish") {
    try {
      await client.claimConversations();
      await shared.clear();  // the one it showed is the user's now: after logout the session starts afresh
    } catch {
      // a refused token is met again as the conversations load; otherwise they stay with the session
    }
    return;
  }
  // The least recently used first: the newest ends first in the user's list.
  for (const conversation of await local.all()) {
    const body = transcript(conversation);
    try {
      if (body.messages.length) await client.importConversation(body);
      await local.remove(conversation.id);
    } catch (err) {
      if (err instanceof AuthError || (err && err.status === 409)) return;  // the token or the setting: all wait
    }
  }
}

/** What is uploaded of a conversation kept here: its messages with text, the newest that fit one upload. */
export function transcript({ title, createdAt, messages }) {
  let kept = messages.filter((m) => m.content && (m.role === "user" || m.role === "assistant"))
    .map(({ role, content }) => ({ role, content }));
  const body = () => ({ title: String(title || "").replace(CONTROL, " ").slice(0, 200),
                        createdAt: Number.isFinite(createdAt) ? createdAt : undefined, messages: kept });
  const size = () => new TextEncoder().encode(JSON.stringify(body())).length;
  while (kept.length > 1 && size() > IMPORT_BYTES) kept = kept.slice(Math.ceil(kept.length / 4));
  return body();
}
