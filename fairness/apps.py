from django.apps import AppConfig
from django.db.models.signals import post_migrate, post_save


class FairnessConfig(AppConfig):
    name = "fairness"
    verbose_name = "Fair to artists"

    def ready(self) -> None:
        from access.roles import roles_ensure
        from fairness.services import job_training_record
        from generation.models import Job

        # The job row records the training preference in force when it was written, in the same
        # transaction, whoever wrote it (studio, API, tests): generation never imports fairness.
        post_save.connect(job_training_record, sender=Job, dispatch_uid="fairness.job_training")
        # Our permission exists only after our own migrations: give it to its roles then too.
        post_migrate.connect(roles_ensure, sender=self, dispatch_uid="fairness.roles")
