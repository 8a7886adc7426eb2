"""Serving: the router over engines and the OpenAI-compatible gateway around it."""
