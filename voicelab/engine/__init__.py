"""Framework-free core of the Voice Lab pipeline.

Nothing under this package imports Django: it is usable from a notebook, the CLI
or a Celery worker alike. One module per concept of the pipeline.
"""

from voicelab.engine import numba_cache

# Before anything imports librosa (and so numba): see numba_cache.
numba_cache.claim()
