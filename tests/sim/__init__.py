"""Tests of the synthetic city and its device simulator."""
