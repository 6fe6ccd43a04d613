"""Real-time serving (XP paper 3.3): item-XP lookups and live cart recommendations over HTTP.

Public surface::

    ServeConfig                      every setting of the service (limits, pool, reload, workers)
    create_app(config) -> FastAPI    the ASGI app (state loaded at start, swapped on reload)
    run_server(config)               uvicorn, one or several worker processes
    process.stop_process(proc)       stop a server subprocess (tests, benchmarks): terminate, wait, kill its group

Everything else (state loading, the layered candidate source, the request pipeline,
metrics) is private to this package.
"""

from xpollinate.serving.config import ServeConfig

__all__ = ["ServeConfig", "create_app", "run_server"]


def __getattr__(name: str):  # FastAPI and uvicorn are imported only when a server is wanted
    if name == "create_app":
        from xpollinate.serving.app import create_app

        return create_app
    if name == "run_server":
        from xpollinate.serving.server import run_server

        return run_server
    raise AttributeError(name)
