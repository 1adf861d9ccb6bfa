"""python-pkcs11 as a client of the module, for the PIN scenario.

Usage:
  pin_client.py MODULE TOKEN login PIN            C_Login, then a signature with each key
  pin_client.py MODULE TOKEN change OLD NEW       C_SetPIN in an RW session, not logged in
  pin_client.py MODULE TOKEN change-logged-in OLD NEW   C_Login(OLD) first
  pin_client.py MODULE TOKEN unblock PUK NEW      C_Login(CKU_SO, PUK), C_InitPIN(NEW)

Prints "OK ..." and exits 0, or prints the python-pkcs11 exception's class name
(PinIncorrect, PinLocked, PinLenRange, ...) and exits 2.
"""

import sys

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.exceptions import PKCS11Error


def run(token, action, args):
    if action == "login":
        (pin,) = args
        with token.open(user_pin=pin) as session:
            keys = list(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY}))
            for key in keys:
                mechanism = (
                    Mechanism.ECDSA_SHA256
                    if key.key_type == KeyType.EC
                    else Mechanism.SHA256_RSA_PKCS
                )
                key.sign(b"data to sign", mechanism=mechanism)
            return f"signed with {len(keys)} key(s)"
    if action in ("change", "change-logged-in"):
        old, new = args
        user_pin = old if action == "change-logged-in" else None
        with token.open(rw=True, user_pin=user_pin) as session:
            session.set_pin(old, new)
            return "PIN changed"
    if action == "unblock":
        puk, new = args
        with token.open(rw=True, so_pin=puk) as session:
            session.init_pin(new)
            return "PIN set by the SO"
    raise SystemExit(f"unknown action {action}")


def main(argv):
    if len(argv) < 4:
        raise SystemExit(__doc__)
    module, label, action, args = argv[1], argv[2], argv[3], argv[4:]
    token = pkcs11.lib(module).get_token(token_label=label)
    try:
        print("OK", run(token, action, args))
    except PKCS11Error as error:
        print(type(error).__name__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
