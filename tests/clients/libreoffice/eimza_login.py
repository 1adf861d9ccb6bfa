# A LibreOffice Python macro, copied into the test profile's user/Scripts/python/ and run
# inside soffice by the python script provider. It stands in for the one thing headless
# LibreOffice lacks: the PIN dialog. It logs the token in through the NSS that soffice
# itself loaded (ctypes on libnss3.so: dlopen returns the copy already in the process),
# exactly what LibreOffice's dialog does with the PIN the user types. Everything else —
# finding the certificate, signing, PDF export — is LibreOffice's own code.
import ctypes

SEC_SUCCESS = 0


def _nss():
    nss = ctypes.CDLL("libnss3.so")
    nss.NSS_IsInitialized.restype = ctypes.c_int
    nss.PK11_FindSlotByName.restype = ctypes.c_void_p
    nss.PK11_FindSlotByName.argtypes = [ctypes.c_char_p]
    nss.PK11_CheckUserPassword.restype = ctypes.c_int
    nss.PK11_CheckUserPassword.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    nss.PK11_IsLoggedIn.restype = ctypes.c_int
    nss.PK11_IsLoggedIn.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    nss.PK11_FreeSlot.argtypes = [ctypes.c_void_p]
    nss.PORT_GetError.restype = ctypes.c_int
    return nss


def login(token, pin):
    """Logs TOKEN in with PIN; returns "logged in" or the reason it did not."""
    nss = _nss()
    # A copy of NSS that soffice had not initialised would be a different NSS: refuse.
    if not nss.NSS_IsInitialized():
        return "error: NSS is not initialised in this soffice"
    slot = nss.PK11_FindSlotByName(token.encode("ascii"))
    if not slot:
        return "error: no NSS slot named %s (NSS error %d)" % (token, nss.PORT_GetError())
    try:
        if nss.PK11_CheckUserPassword(slot, pin.encode("ascii")) != SEC_SUCCESS:
            return "error: login refused (NSS error %d)" % nss.PORT_GetError()
        if not nss.PK11_IsLoggedIn(slot, None):
            return "error: NSS reports the token not logged in after the login"
        return "logged in"
    finally:
        nss.PK11_FreeSlot(slot)


def logged_in(token):
    """Reports whether NSS in soffice sees TOKEN logged in ("yes"/"no")."""
    nss = _nss()
    slot = nss.PK11_FindSlotByName(token.encode("ascii"))
    if not slot:
        return "error: no NSS slot named %s" % token
    try:
        return "yes" if nss.PK11_IsLoggedIn(slot, None) else "no"
    finally:
        nss.PK11_FreeSlot(slot)


g_exportedScripts = (login, logged_in)
