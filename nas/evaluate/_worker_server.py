"""What the process pool's fork server imports before it forks the first worker.

The pool's workers are forked from a server process (multiprocessing's ``forkserver``)
that imported this module, and with it TensorFlow, Keras and nas's trainer, but ran no
TensorFlow operation: TensorFlow starts its thread pools and devices at its first
operation, and those would not survive a fork; a module import leaves them unstarted.
So a worker starts in a fraction of a second instead of importing TensorFlow itself
(seconds), whether it is the first of a pool, the replacement of one that died or was
recycled, or a worker of the next search in the same Python session: the server lives
as long as the process that started it.

Importing this module is all the server does with it, in this order:

* it ignores SIGINT and SIGTERM, and every worker forked from it inherits that from its
  first instruction: stop signals are for the driver to handle (a batch scheduler sends
  SIGTERM to the whole process group, server included). The server is started with
  them blocked (see :func:`nas._stop.blocked_while_starting`), so none can end it
  before this line;
* it imports TensorFlow at the log level of the environment it was started with (see
  :func:`nas._imports.import_tensorflow`), then the trainer and the pool's worker loop;
* it leaves what the imports made out of Python's full garbage collections, so that
  the workers share those pages with the server rather than copying them on collection.
"""

from __future__ import annotations

import gc

from nas._stop import ignore_stop_signals

ignore_stop_signals()

from nas._imports import import_keras, import_tensorflow  # noqa: E402 - signals first

import_tensorflow()
import_keras()

import nas.evaluate._process_pool  # noqa: E402, F401 - the worker loop and the trainer

gc.collect()
gc.freeze()
