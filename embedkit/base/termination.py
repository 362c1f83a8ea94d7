"""SIGTERM during training: finish the current optimizer step, save a checkpoint, then terminate.

A scheduler (Slurm, Kubernetes, a spot-instance reclaim, ``torchrun`` forwarding its own SIGTERM) asks a job to stop
with SIGTERM and kills it for good a little later. By default that loses every step since the last checkpoint.
While :meth:`BaseTrainer.train` runs, SIGTERM only sets a flag; at the end of the optimizer step the loop saves a
checkpoint at the current step (unless ``save_strategy="no"``, or one was just saved) and stops, and once ``train``
has cleaned up the signal is delivered again to the handler that was there before (by default: the process ends
with SIGTERM, exit status 143 / -15). ``resume_from_checkpoint=True`` then continues exactly.

Under ``torchrun`` the flag is combined over the ranks at every step end (one all-reduce of a scalar), so all ranks
stop after the same step and write the checkpoint together (rank 0 writes, the others wait at its barrier), even
when only some ranks got the signal; every rank then terminates. The save must finish before the launcher's grace
period ends (``torchrun`` sends SIGKILL some seconds after SIGTERM); a SIGKILL still leaves the previous checkpoint
intact (checkpoints are written atomically).

SIGINT (Ctrl-C) is not handled: it interrupts at once with ``KeyboardInterrupt``, as in transformers. The handler is
installed only from the main thread, and not when SIGTERM was set to be ignored.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType, TracebackType
from typing import Any

from embedkit import distributed as dist_utils

logger = logging.getLogger(__name__)


class TerminationRequest:
    """A context manager that turns SIGTERM into a request the training loop checks at each step end.

    Example:
        >>> import os, signal
        >>> calls = []
        >>> previous = signal.signal(signal.SIGTERM, lambda signum, frame: calls.append(signum))
        >>> with TerminationRequest() as request:
        ...     os.kill(os.getpid(), signal.SIGTERM)
        ...     request.requested()
        True
        >>> calls  # not delivered yet: the loop saves first
        []
        >>> request.deliver(); calls == [signal.SIGTERM]
        True
        >>> _ = signal.signal(signal.SIGTERM, previous)
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> TerminationRequest:
        if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) not in (
                signal.SIG_IGN, None):
            self._previous = signal.signal(signal.SIGTERM, self._on_signal)
            self._installed = True
        return self

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            logger.warning("received %s: finishing the current step, then saving a checkpoint and stopping",
                           signal.Signals(signum).name)
        self.received = signum

    def requested(self) -> bool:
        """Whether any rank received SIGTERM (a collective under ``torchrun``: call it on every rank at once)."""
        mine = 1.0 if self.received is not None else 0.0
        anywhere = dist_utils.mean_over_ranks(mine) > 0 if dist_utils.get_world_size() > 1 else mine > 0
        if anywhere and self.received is None:
            self.received = signal.SIGTERM  # another rank got it: this one terminates with the job as well
        return anywhere

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._installed:
            signal.signal(signal.SIGTERM, self._previous)
            self._installed = False

    def deliver(self) -> None:
        """Send the received signal again, now to the handler that was installed before (call after exit)."""
        if self.received is not None:
            signum, self.received = self.received, None
            signal.raise_signal(signum)
