"""Tests of safecity.alerts."""
