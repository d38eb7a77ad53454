import sys

from fastdrop.demo import main

sys.exit(main())
