"""Engines: backends that turn a chat or text request into a stream of text deltas."""
