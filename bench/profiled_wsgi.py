"""The provider's WSGI app under cProfile, for `python -m bench.profile` only.

`gunicorn bench.profiled_wsgi:app` serves idp.wsgi:app with the profiler (timer: the
process's CPU time) enabled during each request, including the iteration of the
response body. `GET /__profile/dump` writes the statistics gathered so far to
BENCH_PROFILE_OUT and resets them; it is answered by this wrapper, never by the
application.
"""

from __future__ import annotations

import cProfile
import os
import time

from idp.wsgi import app as _app

# CPU time, not wall time: the benchmarks count the worker's CPU.
_profiler = cProfile.Profile(time.process_time)


def app(environ, start_response):
    """Profile one request of the provider."""
    if environ.get("PATH_INFO") == "/__profile/dump":
        _profiler.dump_stats(os.environ["BENCH_PROFILE_OUT"])
        _profiler.clear()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"dumped\n"]
    _profiler.enable()
    try:
        result = _app(environ, start_response)
        try:
            body = [chunk for chunk in result]
        finally:
            if hasattr(result, "close"):
                result.close()
    finally:
        _profiler.disable()
    return body
