"""Settings shared by every test."""

from __future__ import annotations

import os

from featurejit.settings import settings

# Tests compile every kernel, as their checks of compile stages expect, and write nothing to
# the user's cache folder. Tests of the disk cache turn it on with a folder of their own.
# Child processes inherit the variable.
os.environ["FEATUREJIT_CACHE"] = "0"
settings.cache_enabled = False

# Every compile verifies the IR before the first pass and after each pass, so a pass that
# breaks the IR is reported by name instead of failing later in code generation.
os.environ["FEATUREJIT_VERIFY_IR"] = "1"
settings.verify_ir = True
