"""policywatch: watch privacy policies and tell people when they change in a way that matters.

The library reads like the pipeline it runs::

    from policywatch import load_watchlist, Store, check

    watchlist = load_watchlist("watchlist.yaml")
    with Store.open("data/policywatch.db") as store:
        report = check(watchlist, store)            # fetch, store, judge, notify
        print(report.counts)
        backfill(watchlist, store, ids=["acme"], since="2018")   # history from the Wayback Machine
"""

from policywatch.errors import ConfigError, LockedError, PolicywatchError

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "LockedError",
    "PolicywatchError",
    "Store",
    "backfill",
    "check",
    "load_watchlist",
    "normalize_html",
    "__version__",
]


def __getattr__(name: str):
    # Lazy so that `import policywatch` stays cheap for the CLI's --help and for cron.
    if name == "load_watchlist":
        from policywatch.watchlist import load_watchlist

        return load_watchlist
    if name == "Store":
        from policywatch.store import Store

        return Store
    if name == "check":
        from policywatch.monitor import check

        return check
    if name == "backfill":
        from policywatch.history_import import backfill

        return backfill
    if name == "normalize_html":
        from policywatch.normalize import normalize_html

        return normalize_html
    raise AttributeError(name)
