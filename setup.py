"""The one part of the build that pyproject.toml cannot say: where the templates come from.

The templates live in the top-level `templates/` directory of the repository (the project's
layout), but an installed wheel must carry them inside the package, where
`resource_centre.web.app` looks first. Mapping the package `resource_centre.templates` onto that
directory ships it as `resource_centre/templates/**` in the wheel (and in the sdist), without
copying or moving anything in the source tree. Everything else is in pyproject.toml.
"""

from setuptools import find_namespace_packages, setup

TEMPLATES = "resource_centre.templates"

setup(
    packages=[
        *find_namespace_packages(include=["resource_centre", "resource_centre.*"]),
        TEMPLATES,
        *(f"{TEMPLATES}.{name}" for name in find_namespace_packages(where="templates")),
    ],
    package_dir={TEMPLATES: "templates"},
)
