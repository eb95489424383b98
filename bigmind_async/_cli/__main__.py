"""``python -m bigmind_async._cli``: the ``bigmind`` command without the console script."""

from bigmind_async._cli import main

main()
