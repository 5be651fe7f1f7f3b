"""HTTP routes, one module per resource; :func:`api.app.create_app` includes them all.

Each router carries its full path (``API_PREFIX`` + resource), so the route a request matched
names the same template in the OpenAPI document, the metrics and the logs.
"""

API_PREFIX = "/api/v1"
