"""Packaging beyond pyproject.toml: the report templates (``notebooks/reports``) and the example
run definitions (``params/monthly``) ship inside the wheel as ``casework/templates`` and
``casework/run_definitions`` (found by :mod:`casework.base.config` when not in a checkout)."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["casework", "casework.*"])
    + ["casework.templates", "casework.run_definitions"],
    package_dir={"casework.templates": "notebooks/reports",
                 "casework.run_definitions": "params/monthly"},
    package_data={"casework": ["resources/**/*"],
                  "casework.templates": ["*.ipynb", "*.yaml"],
                  "casework.run_definitions": ["*.yaml"]},
)
