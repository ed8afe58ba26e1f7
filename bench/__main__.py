"""`python -m bench`: the same as `featurejit bench`."""

import sys

from bench.run import main

sys.exit(main())
