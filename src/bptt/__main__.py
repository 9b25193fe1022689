"""``python -m bptt`` is the ``bptt`` command."""

from .cli import main

raise SystemExit(main())
