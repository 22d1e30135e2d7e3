"""Role tls: the server's and each commune's certificates from the local CA, keys root-only."""

DIRECTORY = "/etc/fnl-deploy/tls"
CERTIFICATE = f"{DIRECTORY}/server.crt"
KEY = f"{DIRECTORY}/server.key"
CA = f"{DIRECTORY}/ca.crt"
NAMES = ["mail1.example.org", "webmail.example.org"]
TENANTS = {
    "commune.example": {
        "mail.commune.example",
        "autoconfig.commune.example",
        "mta-sts.alias.example",
    },
    "xn--chevis-9ua.example": {"mail.xn--chevis-9ua.example"},
}


def run(host, command):
    result = host.run(command)
    assert result.rc == 0, f"{command}: {result.stdout}{result.stderr}"
    return result.stdout


def test_files_have_their_owner_and_mode(host):
    # One stat call for every file (each testinfra command is a round trip to the container).
    paths = [DIRECTORY, CERTIFICATE, KEY, CA, f"{DIRECTORY}/ca.key"]
    lines = run(host, "stat -c '%n %U:%G %a' " + " ".join(paths)).splitlines()
    assert dict(line.split(" ", 1) for line in lines) == {
        DIRECTORY: "root:root 755",
        CERTIFICATE: "root:root 644",
        KEY: "root:root 600",
        CA: "root:root 644",
        f"{DIRECTORY}/ca.key": "root:root 600",
    }


def test_key_belongs_to_the_certificate(host):
    out = run(host, f"openssl pkey -in {KEY} -pubout && echo SEPARATOR &&"
                    f" openssl x509 -in {CERTIFICATE} -noout -pubkey")
    key, cert = (part.strip() for part in out.split("SEPARATOR"))
    assert "BEGIN PUBLIC KEY" in key
    assert key == cert


def test_certificate_covers_every_name_as_a_server_certificate(host):
    out = run(host, f"openssl x509 -in {CERTIFICATE} -noout -subject"
                    " -ext subjectAltName,basicConstraints,extendedKeyUsage")
    assert "CN = mail1.example.org" in out
    san_line = out.split("X509v3 Subject Alternative Name:", 1)[1].splitlines()[1]
    assert {name.strip() for name in san_line.split(",")} == {f"DNS:{name}" for name in NAMES}
    assert "CA:FALSE" in out
    assert "TLS Web Server Authentication" in out


def test_certificate_verifies_against_the_local_ca(host):
    assert run(host, f"openssl verify -CAfile {CA} {CERTIFICATE}").strip() == f"{CERTIFICATE}: OK"


def test_certificate_file_is_the_full_chain(host):
    # The server certificate first, then the CA: clients that trust the CA get the chain.
    out = run(host, f"cat {CERTIFICATE} && echo SEPARATOR && cat {CA}")
    chain, ca = (part.strip() for part in out.split("SEPARATOR"))
    assert chain.count("BEGIN CERTIFICATE") == 2
    assert chain.endswith(ca)


def test_each_commune_has_its_own_certificate_with_its_names_only(host):
    for name, names in TENANTS.items():
        path = f"{DIRECTORY}/tenants/{name}"
        out = run(host, f"stat -c '%U:%G %a' {path}.key && openssl verify -CAfile {CA}"
                        f" {path}.crt && openssl x509 -in {path}.crt -noout -ext subjectAltName")
        assert out.splitlines()[0] == "root:root 600"
        assert f"{path}.crt: OK" in out
        san_line = out.split("X509v3 Subject Alternative Name:", 1)[1].splitlines()[1]
        assert {n.strip() for n in san_line.split(",")} == {f"DNS:{n}" for n in names}
        key = run(host, f"openssl pkey -in {path}.key -pubout")
        assert key == run(host, f"openssl x509 -in {path}.crt -noout -pubkey")
