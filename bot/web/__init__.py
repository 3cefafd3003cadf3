"""The coordinators' dashboard (/admin) and JSON API (/api/v1): pages rendered on the server
with Jinja2, htmx for partial updates, charts drawn as SVG on the server, every asset served
from bot/web/static. It reads and writes through storage/ and the handlers' services, the same
code a coordinator's SMS runs. routes.setup() mounts it on the application."""
