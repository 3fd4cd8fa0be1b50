"""Create (or reset) the demo superuser `demo` / `demo`: for a local demo only."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

USERNAME = PASSWORD = "demo"


class Command(BaseCommand):
    help = "Create or reset the local-only demo superuser (demo / demo). Refused unless DEBUG."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("refusing to create a superuser with a known password: DEBUG is off")
        user, created = get_user_model().objects.get_or_create(
            username=USERNAME, defaults={"email": "demo@example.com"}
        )
        user.is_staff = user.is_superuser = True
        user.set_password(PASSWORD)
        user.save()
        verb = "Created" if created else "Reset"
        self.stdout.write(
            f"{verb} the demo superuser {USERNAME} / {PASSWORD}: for this local demo only, "
            "never on a reachable server."
        )
