"""For every role's molecule scenario (pytest finds this file above each scenario's
tests): testinfra through `podman exec` (about 0.2 s a command) rather than one ansible
run per command (about 3 s), for the podman instances molecule creates. Other
connections keep testinfra's ansible backend."""

import pytest
import testinfra


@pytest.fixture(scope="module")
def host(_testinfra_host):
    backend = _testinfra_host.backend
    if backend.NAME == "ansible":
        variables = backend.ansible_runner.get_variables(backend.host)
        if variables.get("ansible_connection") in ("podman", "containers.podman.podman"):
            return testinfra.get_host("podman://" + variables.get("ansible_host", backend.host))
    return _testinfra_host
