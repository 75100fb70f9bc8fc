"""Workspaces partition experiments; single-tenant servers keep everything in the default one."""

DEFAULT_WORKSPACE = "default"
