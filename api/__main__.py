"""``python -m api [flags]`` is ``talktime run [flags]``."""

import sys

from cli.main import main

sys.exit(main(["run", *sys.argv[1:]]))
