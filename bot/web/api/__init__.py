"""The JSON API at /api/v1: the dashboard's data and actions for programs, with bearer tokens
made by an admin, errors as application/problem+json (RFC 9457), cursor pagination, and an
OpenAPI 3.1 document generated from the same pydantic models that check every request and
response."""
