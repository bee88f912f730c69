"""Running reports: the papermill runner, the monthly batch and its index (:mod:`report`),
and the ``casework`` command line (:mod:`cli`)."""
