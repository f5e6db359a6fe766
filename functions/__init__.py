"""One package per Lambda function: ``functions/<name>/handler.py`` holds its handler.

Lambda imports this package first, before the handler module and everything it loads, so this
is where a cold start begins. It turns Python's cyclic garbage collector off while the handler
loads: the tens of thousands of objects loading makes (modules, classes, functions, schemas)
live as long as the container, and the collector walking them again and again while they are
made cost about 40 ms of a 370 ms handler import (``make bench``: cold_start). Each handler
module ends with ``shared.startup.loaded()``, which freezes what loading made (no later
collection walks it again) and turns the collector back on; ``tests/unit/test_startup.py``
checks every handler does.
"""

import gc

gc.disable()
