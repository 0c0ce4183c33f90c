"""`python -m safecity.cli`: the same command as the `safecity` script."""

from safecity.cli import main

main()
