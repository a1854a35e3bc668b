"""Citewise chat UI: ``python app.py [--host H] [--port P] [--listen-anywhere]``.

Thin launcher; the UI lives in :mod:`agent.ui`. Binds to 127.0.0.1:7860 by default.
"""

import sys

from agent.ui import main

if __name__ == "__main__":
    sys.exit(main())
