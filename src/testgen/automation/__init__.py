"""Automation skeletons: feature files read with gherkin-official, their steps unified into one
definition per distinct step, written as step definitions for a test framework, and merged with the
definitions a folder already has. Pure: no I/O but what the caller passes in."""
