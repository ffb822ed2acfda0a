"""Pages of at most MAX_LIMIT items, and a 400 for a limit or offset that is not one.

DRF's LimitOffsetPagination quietly replaces a bad `limit` with the default and clamps
a large one; a client then gets a page it did not ask for, and the schema (which says
what is valid) would not be telling the truth.
"""

from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination

MAX_LIMIT = 100
DEFAULT_LIMIT = 50


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    default_limit = DEFAULT_LIMIT
    max_limit = MAX_LIMIT

    def _parameter(self, request, name: str, field: serializers.IntegerField, default: int) -> int:
        raw = request.query_params.get(name)
        if raw is None:
            return default
        try:
            return field.run_validation(raw)
        except serializers.ValidationError as error:
            raise serializers.ValidationError({name: error.detail}) from None

    def get_limit(self, request) -> int:
        field = serializers.IntegerField(min_value=1, max_value=self.max_limit)
        return self._parameter(request, self.limit_query_param, field, self.default_limit)

    def get_offset(self, request) -> int:
        field = serializers.IntegerField(min_value=0, max_value=2**63 - 1)
        return self._parameter(request, self.offset_query_param, field, 0)

    def get_schema_operation_parameters(self, view):
        bounds = {
            self.limit_query_param: {"minimum": 1, "maximum": self.max_limit},
            self.offset_query_param: {"minimum": 0, "maximum": 2**63 - 1},
        }
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters
