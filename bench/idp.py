"""A stand-in identity provider for the load benchmark: an RSA key whose public half is served
as "Google's" JWKS by a plain HTTP server, and Google-shaped RS256 ID tokens signed with it,
written as ready-to-send GetId bodies, one per line. idbroker verifies them in full.

    idp.py key DIR                     writes DIR/key.pem and DIR/jwks.json
    idp.py tokens DIR POOL_ID CLIENT_ID RANGE COUNT OUT [ISSUER]
        COUNT bodies into OUT: subjects user-N with N drawn from 1..RANGE (logins the benchmark
        seeded), or, with RANGE 0, subjects never seen before (first logins). With ISSUER (an
        http(s) URL), the tokens are that registered OpenID Connect provider's, under its
        Logins key (the issuer without its scheme); without it, Google's.
"""

import base64
import json
import random
import sys
import time
import uuid

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

KID = "bench-1"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def write_key(out: str) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with open(f"{out}/key.pem", "wb") as f:
        f.write(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    numbers = key.public_key().public_numbers()
    jwk = {
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
        "kid": KID,
        "n": b64(numbers.n.to_bytes(256, "big")),
        "e": b64(numbers.e.to_bytes(3, "big")),
    }
    with open(f"{out}/jwks.json", "w") as f:
        json.dump({"keys": [jwk]}, f)


def write_tokens(out: str, pool: str, client_id: str, subjects: range, count: int, path: str,
                 issuer: str = "https://accounts.google.com") -> None:
    login_key = issuer.split("://", 1)[1]
    with open(f"{out}/key.pem", "rb") as f:
        key = load_pem_private_key(f.read(), password=None)
    header = b64(json.dumps({"alg": "RS256", "kid": KID, "typ": "JWT"}).encode())
    now = int(time.time())
    rng = random.Random(path)
    with open(path, "w") as f:
        for _ in range(count):
            subject = f"user-{rng.randint(subjects.start, subjects.stop - 1)}" if subjects else f"first-{uuid.uuid4()}"
            claims = {
                "iss": issuer,
                "aud": client_id,
                "sub": subject,
                "iat": now,
                "exp": now + 3 * 3600,
            }
            signing_input = f"{header}.{b64(json.dumps(claims).encode())}"
            signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
            body = {"IdentityPoolId": pool, "Logins": {login_key: f"{signing_input}.{b64(signature)}"}}
            f.write(json.dumps(body) + "\n")


def main() -> None:
    if sys.argv[1] == "key":
        write_key(sys.argv[2])
    else:
        out, pool, client_id, top, count, path = sys.argv[2:8]
        subjects = range(1, int(top) + 1) if int(top) else range(0)
        write_tokens(out, pool, client_id, subjects, int(count), path, *sys.argv[8:9])


if __name__ == "__main__":
    main()
