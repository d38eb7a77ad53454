"""``python -m fastdrop.bench``."""
import sys

from . import main

sys.exit(main())
