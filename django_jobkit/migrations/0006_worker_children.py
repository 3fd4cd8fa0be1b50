from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("django_jobkit", "0005_gpu_device"),
    ]

    operations = [
        migrations.AddField(
            model_name="jobworker",
            name="children",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text=(
                    "What each pool child holds, by pool index: its pid, device and loaded "
                    "resources (written by the children themselves)."
                ),
                verbose_name="children",
            ),
        ),
    ]
