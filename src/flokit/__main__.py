"""``python -m flokit`` runs the CLI."""

from flokit.cli import main

main()
