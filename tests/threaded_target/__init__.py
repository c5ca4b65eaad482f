"""A target that renders its blocks on two threads (see target.py)."""
