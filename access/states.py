"""The one state-machine guard every stateful model uses (`Job`, `Output`).

A model lists its moves in `TRANSITIONS` (state -> the states it may become) and uses
`TransitionQuerySet` as its manager; every state change is then `Model.objects.filter(...)
.transition(to, **changes)`: one conditional UPDATE that moves only rows whose state may become
`to`. It lives in the lowest layer so that every app's models can share it.
"""

from __future__ import annotations

from typing import ClassVar, cast

from django.db import models
from django.utils import timezone


class HasTransitions:
    """Mixin for a model with a `state` column and a `TRANSITIONS` table."""

    TRANSITIONS: ClassVar[dict[str, frozenset[str]]]

    @classmethod
    def sources_of(cls, to: str) -> list[str]:
        """The states a row may leave for `to`."""
        return [state for state, targets in cls.TRANSITIONS.items() if to in targets]


class TransitionQuerySet(models.QuerySet):
    def transition(self, to: str, **changes: object) -> int:
        """Move the rows of this queryset whose state may become `to` (per the model's
        `TRANSITIONS`), in one conditional UPDATE. Returns how many moved."""
        sources = cast(type[HasTransitions], self.model).sources_of(to)
        if not sources:
            raise ValueError(f"No {self.model._meta.verbose_name} may become {to!r}.")
        return self.filter(state__in=sources).update(state=to, updated_at=timezone.now(), **changes)
