"""Settings for the whole suite (the fixtures come from the socs_like.testing plugin)."""

from hypothesis import settings

# Derandomized and without an example database, so a run's examples do not depend on
# earlier runs (or on other runs sharing this tree); each test sets its own max_examples.
settings.register_profile("suite", derandomize=True, database=None, deadline=None)
settings.load_profile("suite")
