"""What every HTTP surface shares: JSON responses, OpenAI-shaped errors, strict JSON
bodies, the guards in front of every route, the OpenAPI document; and the pages'
templates and static files."""
