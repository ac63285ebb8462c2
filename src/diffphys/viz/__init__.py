"""Plots, animations and the HTML report."""
