"""Django's ASGI handler, with the whole request handled in one trip to a sync thread.

Every middleware of ours is synchronous, and so are the views. Django's `ASGIHandler` builds its
chain for an async innermost handler: under the first sync middleware it hops back to the event
loop (`async_to_sync`), which hops to a sync thread again for the view (`sync_to_async`); each
crossing is a future, a lock and a thread wake-up, paid on every request and fought over with
the GIL. Built as Django's WSGI handler builds it, the chain runs from the first middleware to
the view in the request's own sync thread, entered once. Async views would still work
(`BaseHandler._get_response` runs them with `async_to_sync`); there are none.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler


class OneHopASGIHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)
        # The request's thread (thread_sensitive, one per request under ASGI): where Django's
        # handler would have run the sync middleware and the view anyway.
        chain: Any = self._middleware_chain  # type: ignore[has-type]
        self._middleware_chain = sync_to_async(chain, thread_sensitive=True)
