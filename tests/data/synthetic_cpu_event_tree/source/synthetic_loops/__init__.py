"""A synthetic target whose loops have known relative costs (attribution is checked on it).

Target: ``python:synthetic_loops.target:factory`` (the farm's target protocol).
"""
