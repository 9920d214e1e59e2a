"""Shipped presets, one YAML file per data set (and per backbone where it needs its own).

A package so that the files are package data: ``raie.config`` finds them with
importlib.resources, in a wheel install as in a source checkout.
"""
