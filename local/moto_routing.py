"""moto's server, finding each request's service once per host instead of once per request.

moto 5.2.5's server looks up the service of every request by its host name: it lists moto's own
package directory (a `stat` of each of its ~170 folders) and then matches the host against every
service's URL patterns, 0.3–0.8 ms of CPU a request for the same answer each time. `install()`
keeps the answer per host. The local stack's moto and the integration tests' install it.
"""

from __future__ import annotations

import functools

from moto.moto_server.werkzeug_app import DomainDispatcherApplication


def install() -> None:
    if getattr(DomainDispatcherApplication, "_warmline_routes_kept", False):
        return
    DomainDispatcherApplication.get_backend_for_host = functools.cache(
        DomainDispatcherApplication.get_backend_for_host
    )
    DomainDispatcherApplication._warmline_routes_kept = True
