"""Logging helpers: a tqdm-friendly handler, a one-call logger setup and warn-once logging."""

from __future__ import annotations

import logging
import threading
from typing import Any

__all__ = ["LoggingHandler", "install_logger", "warning_once"]

_NOTICE = 25
_seen_lock = threading.Lock()
_seen: set[tuple[str, str]] = set()


class LoggingHandler(logging.Handler):
    """Logging handler that prints through ``tqdm.write`` so records do not break running progress bars.

    Example:
        >>> import logging
        >>> handler = LoggingHandler(level=logging.INFO)
        >>> handler.level == logging.INFO
        True
    """

    def __init__(self, level: int = logging.NOTSET) -> None:
        super().__init__(level)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            import tqdm

            tqdm.tqdm.write(self.format(record))
            self.flush()
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception:
            self.handleError(record)


def install_logger(
    given_logger: logging.Logger, level: int = logging.WARNING, fmt: str = "%(levelname)s:%(name)s:%(message)s"
) -> None:
    """Configure ``given_logger``: level, message format and a stream handler; adds a ``NOTICE`` level (25).

    Uses ``coloredlogs`` for coloured output when it is installed, a plain :class:`logging.StreamHandler`
    otherwise.

    Example:
        >>> import logging
        >>> log = logging.getLogger("embedkit.doc.install_logger")
        >>> install_logger(log, level=logging.INFO)
        >>> log.level == logging.INFO, logging.getLevelName(25)
        (True, 'NOTICE')
    """
    logging.addLevelName(_NOTICE, "NOTICE")
    if not hasattr(logging.Logger, "notice"):

        def notice(self: logging.Logger, message: Any, *args: Any, **kwargs: Any) -> None:
            if self.isEnabledFor(_NOTICE):
                self._log(_NOTICE, message, args, **kwargs)

        logging.Logger.notice = notice  # type: ignore[attr-defined]
    try:
        import coloredlogs  # type: ignore[import-not-found]
    except ImportError:
        coloredlogs = None
    if coloredlogs is not None:
        level_styles = dict(coloredlogs.DEFAULT_LEVEL_STYLES)
        level_styles["debug"] = {"color": "white", "faint": True}
        level_styles["notice"] = {"color": "cyan", "bold": True}
        field_styles = dict(coloredlogs.DEFAULT_FIELD_STYLES)
        field_styles["asctime"] = {}
        coloredlogs.install(
            logger=given_logger, level=level, use_chroot=False, fmt=fmt,
            level_styles=level_styles, field_styles=field_styles,
        )
        return
    given_logger.setLevel(level)
    if not any(getattr(h, "_embedkit_installed", False) for h in given_logger.handlers):
        handler = logging.StreamHandler()
        handler._embedkit_installed = True  # type: ignore[attr-defined]
        given_logger.addHandler(handler)
    for handler in given_logger.handlers:
        if getattr(handler, "_embedkit_installed", False):
            handler.setFormatter(logging.Formatter(fmt))
            handler.setLevel(level)


def warning_once(logger: logging.Logger, message: str) -> None:
    """Log ``message`` at WARNING level on ``logger`` the first time this exact (logger, message) pair is seen.

    When ``transformers`` has installed its ``Logger.warning_once`` registry, that one is used, so clearing it
    (as its test suites do) re-enables embedkit's warnings too.

    Example:
        >>> import logging
        >>> log = logging.getLogger("embedkit.doc.warning_once")
        >>> warning_once(log, "shown once"); warning_once(log, "shown once")
    """
    shared = getattr(logging.Logger, "warning_once", None)
    if shared is not None:  # transformers installs a process-wide warn-once registry; share it when present
        shared(logger, message)
        return
    key = (logger.name, message)
    with _seen_lock:
        if key in _seen:
            return
        _seen.add(key)
    logger.warning(message)
