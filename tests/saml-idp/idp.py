#!/usr/bin/env python3
"""A SAML 2.0 identity provider for idbroker's tests, built on pysaml2 (not written here).

  idp.py metadata DIR ENTITY_ID
      Creates DIR/key.pem and DIR/cert.pem (RSA 2048, self-signed) unless present, and prints
      the IdP's metadata (pysaml2's own) to stdout.
  idp.py response DIR ENTITY_ID < options.json
      Prints a base64 SAMLResponse that pysaml2 built and signed (with xmlsec1) for the options:
      user, audience, recipient, attributes {name: [values]}, sign ("response", "assertion",
      "both" or "none"), alg ("sha256" or "sha1"), lifetime_minutes, encrypt_cert (PEM file:
      the assertion is encrypted to it).
"""
import base64
import datetime
import json
import os
import shutil
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_POST
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import NAME_FORMAT_URI, NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server
from saml2.xmldsig import (
    DIGEST_SHA1,
    DIGEST_SHA256,
    SIG_RSA_SHA1,
    SIG_RSA_SHA256,
)


def make_key(directory):
    key_path, cert_path = os.path.join(directory, "key.pem"), os.path.join(directory, "cert.pem")
    if os.path.exists(key_path) and os.path.exists(cert_path):
        return key_path, cert_path
    os.makedirs(directory, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idbroker test IdP")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def sp_metadata(audience, recipient):
    return f"""<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{audience}">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:AssertionConsumerService Binding="{BINDING_HTTP_POST}" Location="{recipient}" index="0"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>"""


def server(directory, entity_id, audience="urn:amazon:webservices",
           recipient="https://signin.aws.amazon.com/saml", lifetime_minutes=15):
    key_path, cert_path = make_key(directory)
    config = IdPConfig()
    config.load({
        "entityid": entity_id,
        "service": {"idp": {
            "endpoints": {"single_sign_on_service": [("http://127.0.0.1/sso", BINDING_HTTP_POST)]},
            "policy": {"default": {"lifetime": {"minutes": lifetime_minutes},
                                   "attribute_restrictions": None,
                                   "name_form": NAME_FORMAT_URI}},
            "name_id_format": [NAMEID_FORMAT_PERSISTENT],
        }},
        "key_file": key_path,
        "cert_file": cert_path,
        "encryption_keypairs": [{"key_file": key_path, "cert_file": cert_path}],
        "metadata": {"inline": [sp_metadata(audience, recipient)]},
        "xmlsec_binary": shutil.which("xmlsec1"),
    })
    return Server(config=config)


def metadata(directory, entity_id):
    idp = server(directory, entity_id)
    print(str(entity_descriptor(idp.config)))


def response(directory, entity_id, options):
    audience = options.get("audience", "urn:amazon:webservices")
    recipient = options.get("recipient", "https://signin.aws.amazon.com/saml")
    idp = server(directory, entity_id, audience, recipient, options.get("lifetime_minutes", 15))
    sign = options.get("sign", "response")
    sha1 = options.get("alg") == "sha1"
    kwargs = {}
    if options.get("encrypt_cert"):
        with open(options["encrypt_cert"]) as f:
            pem = f.read()
        kwargs = {"encrypt_assertion": True, "encrypt_cert_assertion": pem}
    name_id = NameID(format=NAMEID_FORMAT_PERSISTENT, text=options.get("user", "alice"))
    resp = idp.create_authn_response(
        identity=options.get("attributes", {}),
        in_response_to=None,
        destination=recipient,
        sp_entity_id=audience,
        name_id=name_id,
        sign_response=sign in ("response", "both"),
        sign_assertion=sign in ("assertion", "both"),
        sign_alg=SIG_RSA_SHA1 if sha1 else SIG_RSA_SHA256,
        digest_alg=DIGEST_SHA1 if sha1 else DIGEST_SHA256,
        **kwargs,
    )
    print(base64.b64encode(str(resp).encode()).decode())


if __name__ == "__main__":
    command, directory, entity_id = sys.argv[1:4]
    if command == "metadata":
        metadata(directory, entity_id)
    elif command == "response":
        response(directory, entity_id, json.load(sys.stdin))
    else:
        sys.exit(f"unknown command {command}")
