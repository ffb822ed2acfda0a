"""The ground under every app: the API's shared vocabulary (the error shape and its
exceptions, the JSON parser, shared serializer fields, pagination, the OpenAPI helpers).
It imports Django and DRF only, never one of our apps."""
