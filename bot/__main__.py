import sys

from bot import worker
from bot.app import StartupError
from bot.log import configure_logging
from bot.settings import SettingsError, load_settings


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as error:
        for problem in error.problems:
            print(f"configuration error: {problem}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.secrets())
    try:
        return worker.run(settings)
    except StartupError as error:
        print(f"cannot start: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
