"""``python -m api [flags]`` is ``talktime run [flags]``."""

import sys

from tracker.cli import main

sys.exit(main(["run", *sys.argv[1:]]))
