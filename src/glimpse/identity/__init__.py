"""Built-in identity (``auth_mode = "builtin"``): glimpse's own Keystone-v3-compatible
users, projects, roles and Fernet tokens, served under ``/identity``.

``authenticator`` validates the image API's tokens, ``service`` issues and validates
them, ``directory`` manages users, projects and roles, ``bootstrap`` makes the first
admin, ``repository`` holds their SQL.
"""
