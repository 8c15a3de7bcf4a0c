// The widget's words in English and Simplified Chinese; `{n}` stands for a number.

const STRINGS = {
  en: {
    title: "Chat",
    open: "Open chat",
    close: "Close chat",
    history: "Conversations",
    newConversation: "New conversation",
    message: "Message",
    placeholder: "Ask a question…",
    send: "Send",
    stop: "Stop",
    retry: "Retry",
    rename: "Rename",
    delete: "Delete",
    save: "Save",
    untitled: "New conversation",
    empty: "Ask anything. Answers come from an AI model and can be wrong.",
    you: "You",
    assistant: "Assistant",
    stopped: "Stopped.",
    suggestions: "Suggestions",
    noConversations: "No conversations yet.",
    rateLimited: "Too many messages for now. Try again in {n} s.",
    rateLimitedSoon: "Too many messages for now. Try again shortly.",
    budget: "The assistant has reached its budget for now. Please come back later.",
    offline: "You are offline. Your message will be ready to retry when you are back online.",
    online: "You are back online.",
    upstream: "The assistant is unavailable right now. Please try again.",
    auth: "This chat is not available on this page.",
    signedOut: "Your sign-in is no longer valid here; you are chatting anonymously.",
    badRequest: "The message could not be sent.",
    network: "The connection was lost.",
    finishing: "The answer is being finished…",
    unfinished: "The answer could not be recovered. Try again.",
  },
  "zh-CN": {
    title: "聊天",
    open: "打开聊天",
    close: "关闭聊天",
    history: "会话列表",
    newConversation: "新建会话",
    message: "消息",
    placeholder: "请输入问题…",
    send: "发送",
    stop: "停止",
    retry: "重试",
    rename: "重命名",
    delete: "删除",
    save: "保存",
    untitled: "新会话",
    empty: "有问题尽管问。回答由 AI 模型生成，可能有误。",
    you: "你",
    assistant: "助手",
    stopped: "已停止。",
    suggestions: "推荐问题",
    noConversations: "还没有会话。",
    rateLimited: "消息太多了，请 {n} 秒后再试。",
    rateLimitedSoon: "消息太多了，请稍后再试。",
    budget: "助手本期的额度已用完，请稍后再来。",
    offline: "你已离线。恢复联网后可以重试这条消息。",
    online: "已恢复联网。",
    upstream: "助手暂时不可用，请重试。",
    auth: "此页面无法使用该聊天。",
    signedOut: "登录已失效，你现在以匿名身份聊天。",
    badRequest: "消息无法发送。",
    network: "连接已中断。",
    finishing: "回答正在生成中，请稍候…",
    unfinished: "未能取回回答，请重试。",
  },
};

export const LOCALES = Object.keys(STRINGS);

/** The supported locale closest to `wanted` (a BCP 47 tag such as "zh", "zh-Hans-CN", "en-GB"). */
export function pickLocale(...wanted) {
  for (const tag of wanted) {
    const lower = String(tag || "").toLowerCase();
    if (!lower) continue;
    if (lower.startsWith("zh")) return "zh-CN";
    if (lower.startsWith("en")) return "en";
  }
  return "en";
}

/** A translator for `locale`: t("rateLimited", {n: 5}). */
export function translator(locale) {
  const table = STRINGS[locale] || STRINGS.en;
  return (key, values) => {
    const text = table[key] ?? STRINGS.en[key] ?? key;
    return values ? text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? "")) : text;
  };
}
