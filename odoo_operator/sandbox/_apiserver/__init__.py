"""Internals of the Kubernetes API emulator; the public entry point is ``sandbox.emulator``."""
