"""Progress of long calls: a callable the engine calls with (done, total), or a tqdm bar."""

__all__ = ["_Bar", "_progress"]


class _Bar:
    """A tqdm bar fed by the engine's progress callback: tqdm.auto picks the notebook widget or
    the terminal bar, and tqdm stays silent when stderr is not a terminal (pipes, CI)."""

    def __init__(self, label):
        self.label, self.bar = label, None

    def __call__(self, done, total):
        if self.bar is None:
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tqdm.auto warns in notebooks without ipywidgets
                from tqdm.auto import tqdm
                self.bar = tqdm(total=total, desc=self.label, unit="item", disable=None, leave=False)
        self.bar.total = total
        self.bar.update(done - self.bar.n)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _progress(progress, label):
    """progress: a callable fn(done, total), False for none, or None/True for a tqdm bar when
    tqdm is installed."""
    if callable(progress):
        return progress
    if progress is False:
        return None
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return None
    return _Bar(label)
