"""The API's pager: ``?page=N&page_size=M`` (50 a page unless asked, at most 1000).

A page size or number that is not a whole number in range is a 400 naming it: quietly
answering 50 rows to ``page_size=5000`` or ``page_size=abc`` would have a client that
trusts its own size miss rows or page for ever. A page past the last is DRF's 404
("Invalid page."), which is how a client knows it has read everything.
"""

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination

from ecomops.api.filters import whole_number


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 1000

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        size = whole_number(raw)
        if size is None or not 1 <= size <= self.max_page_size:
            raise ValidationError(
                {self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}, not {raw[:20]!r}."]}
            )
        return size

    def get_page_number(self, request, paginator):
        raw = request.query_params.get(self.page_query_param, "1")
        if raw not in self.last_page_strings and whole_number(raw) is None:
            raise ValidationError({self.page_query_param: [f"A page number (1, 2, ...) or 'last', not {raw[:20]!r}."]})
        return super().get_page_number(request, paginator)
