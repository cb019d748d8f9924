"""``python -m approxhil`` runs the console script."""

from approxhil.cli import main

main()
