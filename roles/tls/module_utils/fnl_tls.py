"""What role tls's modules share: reading a certificate's names and expiry."""

from __future__ import annotations

import datetime
import ssl


def certificate_facts(path):
    """(names, not_after) of a PEM certificate, or (None, None) when absent or unreadable.

    ssl._ssl._test_decode_cert parses in-process (CPython has shipped it since 2.7): a
    thousand certificates are read in a fraction of a second, where one openssl process
    each would take seconds on every apply.
    """
    try:
        decoded = ssl._ssl._test_decode_cert(path)
    except (OSError, ssl.SSLError):
        return None, None
    names = {value.lower() for kind, value in decoded.get("subjectAltName", ()) if kind == "DNS"}
    not_after = datetime.datetime.utcfromtimestamp(ssl.cert_time_to_seconds(decoded["notAfter"]))
    return names, not_after
