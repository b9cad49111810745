from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ReviewConfig(AppConfig):
    name = "review"
    verbose_name = "Review"

    def ready(self) -> None:
        from review.roles import reviewers_group_ensure

        # After auth's own post_migrate handler has created the permission rows.
        post_migrate.connect(reviewers_group_ensure, sender=self)
