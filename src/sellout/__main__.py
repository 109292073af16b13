"""``python -m sellout``: the project's command line (``sellout --help``)."""

from sellout.command_line import main

if __name__ == "__main__":
    main()
