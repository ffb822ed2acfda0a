from rest_framework.pagination import LimitOffsetPagination


class ApiPagination(LimitOffsetPagination):
    """`?limit=&offset=` on every paginated list; a `limit` above 100 is served as 100."""

    default_limit = 50
    max_limit = 100
