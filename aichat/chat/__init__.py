"""End users' conversations: who the end user is (signed tokens, anonymous sessions), their stored
conversations and messages, and how long a site keeps them. Plain Python over a session; the blueprint
is aichat/api/conversations.py."""
