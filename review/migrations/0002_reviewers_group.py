from django.db import migrations

REVIEWERS = "Reviewers"


def create_reviewers_group(apps, schema_editor):
    content_type_model = apps.get_model("contenttypes", "ContentType")
    permission_model = apps.get_model("auth", "Permission")
    group_model = apps.get_model("auth", "Group")
    content_type, _ = content_type_model.objects.get_or_create(app_label="review", model="output")
    permission, _ = permission_model.objects.get_or_create(
        content_type=content_type,
        codename="moderate_output",
        defaults={"name": "Can approve or reject outputs"},
    )
    group, _ = group_model.objects.get_or_create(name=REVIEWERS)
    group.permissions.add(permission)


class Migration(migrations.Migration):
    dependencies = [
        ("review", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_reviewers_group, migrations.RunPython.noop)]
