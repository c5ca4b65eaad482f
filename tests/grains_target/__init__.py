"""A small compiled target with one of every grain the attribution must find."""
