"""Durable background work: the jobs table as a queue, the worker loop, periodic services."""
