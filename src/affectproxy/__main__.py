"""``python -m affectproxy``: the command line."""

from affectproxy.cli import main

if __name__ == "__main__":
    main()
