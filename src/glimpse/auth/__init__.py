"""Who is asking and what they may do: the authenticator seam, the ``noauth`` and
``keystone`` identity modes, validated-token caching and oslo.policy rules. (The
``builtin`` mode is a capability of its own: ``glimpse.identity``.)"""
