"""Tests of modelarena.rating."""
