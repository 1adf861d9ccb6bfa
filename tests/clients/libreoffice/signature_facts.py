# What a signature LibreOffice wrote actually holds, checked without LibreOffice:
#   signature_facts.py odf DOC.odt CERT.der rsa|ecdsa
#   signature_facts.py pdf DOC.pdf CERT.der rsa|ecdsa
# Exactly one signature, made with the card's certificate, with the expected algorithm and
# a signature value of the key's size (RSA-2048: 256 bytes; P-384: r and s, each a
# non-zero number below the group order). Headless LibreOffice without a login writes an
# empty SignatureValue and still reports success: that must fail here. Prints the facts;
# exit status 1 on any mismatch. The pdf mode needs asn1crypto (pyHanko's venv).
import base64
import re
import sys
import xml.etree.ElementTree as ET
import zipfile

DS = "{http://www.w3.org/2000/09/xmldsig#}"
ODF_ALGORITHMS = {
    "rsa": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "ecdsa": "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
}
RSA_2048_BYTES = 256
P384_BYTES = 48
P384_ORDER = int("ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf"
                 "581a0db248b0a77aecec196accc52973", 16)


class Mismatch(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise Mismatch(message)


def check_ecdsa_numbers(r, s):
    for name, value in (("r", r), ("s", s)):
        expect(0 < value < P384_ORDER, "ECDSA %s is not in 1..n-1 (%d)" % (name, value))


def odf(path, cert_der, kind):
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        expect("META-INF/documentsignatures.xml" in names, "no META-INF/documentsignatures.xml")
        root = ET.fromstring(z.read("META-INF/documentsignatures.xml"))
    signatures = root.findall(DS + "Signature")
    print("signatures:", len(signatures))
    expect(len(signatures) == 1, "expected exactly one signature")
    signature = signatures[0]
    method = signature.find("%sSignedInfo/%sSignatureMethod" % (DS, DS)).get("Algorithm")
    print("SignatureMethod:", method)
    expect(method == ODF_ALGORITHMS[kind], "expected %s" % ODF_ALGORITHMS[kind])
    text = "".join((signature.find(DS + "SignatureValue").text or "").split())
    expect(text, "SignatureValue is empty")
    value = base64.b64decode(text, validate=True)
    print("SignatureValue: %d bytes" % len(value))
    if kind == "rsa":
        expect(len(value) == RSA_2048_BYTES, "an RSA-2048 signature has %d bytes" % RSA_2048_BYTES)
        expect(any(value), "SignatureValue is all zero")
    else:
        expect(len(value) == 2 * P384_BYTES, "a P-384 r||s has %d bytes" % (2 * P384_BYTES))
        check_ecdsa_numbers(int.from_bytes(value[:P384_BYTES], "big"),
                            int.from_bytes(value[P384_BYTES:], "big"))
    certs = signature.findall("%sKeyInfo/%sX509Data/%sX509Certificate" % (DS, DS, DS))
    expect(len(certs) == 1, "expected the signer's certificate in KeyInfo")
    expect(base64.b64decode("".join(certs[0].text.split())) == cert_der,
           "KeyInfo's certificate is not the card's")
    print("KeyInfo certificate: the card's")


def pdf(path, cert_der, kind):
    from asn1crypto import algos, cms

    data = open(path, "rb").read()
    ranges = re.findall(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", data)
    print("signature dictionaries (/ByteRange):", len(ranges))
    expect(len(ranges) == 1, "expected exactly one signature dictionary")
    start1, length1, start2, length2 = (int(n) for n in ranges[0])
    expect(start1 == 0 and start2 + length2 == len(data), "the byte ranges do not cover the whole file")
    # The signature is the hex string in the gap between the two signed ranges.
    gap = data[start1 + length1:start2]
    expect(re.fullmatch(rb"<[0-9A-Fa-f]*>", gap), "the gap between the ranges is not a hex string")
    contents = bytes.fromhex(gap[1:-1].decode())
    expect(any(contents), "/Contents is empty (all zero)")
    info = cms.ContentInfo.load(contents)  # not strict: the zero padding after the DER is allowed
    print("/Contents: %d bytes of CMS in %d bytes reserved" % (len(info.dump()), len(contents)))
    expect(info["content_type"].native == "signed_data", "not a CMS SignedData")
    signed = info["content"]
    signers = signed["signer_infos"]
    expect(len(signers) == 1, "expected exactly one SignerInfo")
    signer = signers[0]
    mechanism = signer["signature_algorithm"].signature_algo
    print("signature algorithm:", signer["signature_algorithm"]["algorithm"].native)
    expected = {"rsa": "rsassa_pkcs1v15", "ecdsa": "ecdsa"}[kind]
    expect(mechanism == expected, "expected an %s signature, found %s" % (expected, mechanism))
    value = signer["signature"].native
    print("signature: %d bytes" % len(value))
    expect(value, "the SignerInfo's signature is empty")
    if kind == "rsa":
        expect(len(value) == RSA_2048_BYTES, "an RSA-2048 signature has %d bytes" % RSA_2048_BYTES)
    else:
        numbers = algos.DSASignature.load(value).native
        check_ecdsa_numbers(numbers["r"], numbers["s"])
    sid = signer["sid"].chosen
    certs = [c.chosen for c in signed["certificates"]]
    # LibreOffice 7.4 puts the signer's certificate into the CMS twice: compare distinct ones.
    matching = {c.dump() for c in certs
                if c.issuer.dump() == sid["issuer"].dump() and c.serial_number == sid["serial_number"].native}
    expect(len(matching) == 1, "the signer's certificate is not in the CMS")
    expect(matching == {cert_der}, "the signer's certificate is not the card's")
    print("signer certificate: the card's; certificates in the CMS:", len(certs))


def main():
    mode, path, cert_path, kind = sys.argv[1:5]
    cert_der = open(cert_path, "rb").read()
    try:
        {"odf": odf, "pdf": pdf}[mode](path, cert_der, kind)
    except Mismatch as e:
        print("MISMATCH:", e)
        return 1
    except (ValueError, KeyError, TypeError, AttributeError, zipfile.BadZipFile, ET.ParseError) as e:
        print("MISMATCH: cannot parse the signature: %s: %s" % (type(e).__name__, e))
        return 1
    print("signature facts: as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
