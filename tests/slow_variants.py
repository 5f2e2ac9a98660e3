"""A planted style whose every request first spends a fixed time off the CPU (as an
application waiting on another service would), then does the request as ``dbapi`` does: a
known service time, for the tests of workers and of requests on a schedule."""

from __future__ import annotations

import time

from implementations.contract import UserRecord, UserRequest
from implementations.dbapi import DbapiVariant

#: what every request waits before its unit of work, in seconds
SERVICE_SECONDS = 0.005


class SlowRequests(DbapiVariant):
    """dbapi whose every request first waits 5 ms"""

    def concurrent_requests(self, request: UserRequest) -> UserRecord:
        """wait 5 ms (outside the transaction), then the request as dbapi does it"""
        time.sleep(SERVICE_SECONDS)
        return super().concurrent_requests(request)
