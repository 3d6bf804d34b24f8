"""OpenAPI descriptions of our authentication schemes (drf-spectacular extensions)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "batchwatch.core.authentication.BearerTokenAuthentication"
    name = "bearerAuth"
    priority = 1  # over spectacular's own TokenAuthentication extension, which matches subclasses

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "An API token from admin."}
