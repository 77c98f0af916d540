"""A device's secrets never show where its credentials are printed (a log line, a traceback)."""

from drivers.base import Credentials


def test_credentials_print_without_their_secrets():
    credentials = Credentials("192.0.2.1", 22, "noc", "s3cret-pass", secret="en4ble-secret")
    for shown in (repr(credentials), str(credentials), f"{credentials}"):
        assert "s3cret-pass" not in shown and "en4ble-secret" not in shown
        assert "noc" in shown and "192.0.2.1" in shown
