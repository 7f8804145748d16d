"""Fixtures of the account page tests: those of the recovery tests (a family with active
accounts, the outbox, a back-channel receiver)."""

from tests.recovery.conftest import backchannel  # noqa: F401 - fixture
from tests.recovery.conftest import family  # noqa: F401 - fixture
from tests.recovery.conftest import make_parent  # noqa: F401 - fixture
from tests.recovery.conftest import make_pupil  # noqa: F401 - fixture
from tests.recovery.conftest import outbox  # noqa: F401 - fixture
