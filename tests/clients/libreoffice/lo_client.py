#!/usr/bin/python3
# Drives a running soffice over its UNO pipe, the way LibreOffice's own code signs and
# verifies (sfx2 DocumentSigner for ODF, the PDF export filter for PDF). Run with
# Debian's /usr/bin/python3 (python3-uno). Usage: lo_client.py PIPE COMMAND ARGS...
#
#   wait SECONDS                       connect, retrying until soffice answers
#   new-odt OUT.odt TEXT               a Writer document holding TEXT, saved as ODF
#   list-without-login                 getPersonalCertificates must raise NoPasswordException
#   set-cert-dir DIR                   what Tools > Options > Security > Certificate Path
#                                      > OK stores (CertDir); read when NSS starts
#   login TOKEN                        the login macro (PIN from $EIMZA_TEST_PIN) in soffice
#   logged-in TOKEN                    does NSS in soffice see the token logged in
#   sign-odf CERT.der DOC.odt          signDocumentWithCertificate, in place; the
#                                      certificate is the one of getPersonalCertificates
#                                      whose DER is CERT.der
#   sign-odf-raw CERT.der DOC.odt      the same with createCertificateFromRaw (no lookup)
#   export-pdf DOC.odt OUT.pdf [CERT.der]  writer_pdf_Export, signed with the certificate
#                                      when CERT.der is given
#   verify-odf DOC.odt                 verifyDocumentContentSignatures: one line per signature
#   terminate                          Desktop.terminate()
# Timed commands print "seconds=S" (the LibreOffice call only, not the connection).
import hashlib
import os
import sys
import time
import traceback

import uno
from com.sun.star.beans import PropertyValue
from com.sun.star.connection import NoConnectException
from com.sun.star.security import NoPasswordException

READ = uno.getConstantByName("com.sun.star.embed.ElementModes.READ")
READWRITE = uno.getConstantByName("com.sun.star.embed.ElementModes.READWRITE")


def prop(name, value):
    return PropertyValue(Name=name, Value=value)


def props(*pairs):
    return uno.Any("[]com.sun.star.beans.PropertyValue", tuple(prop(n, v) for n, v in pairs))


def url(path):
    return uno.systemPathToFileUrl(os.path.abspath(path))


def connect(pipe, seconds):
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext(
        "com.sun.star.bridge.UnoUrlResolver", local)
    deadline = time.monotonic() + seconds
    while True:
        try:
            return resolver.resolve("uno:pipe,name=%s;urp;StarOffice.ComponentContext" % pipe)
        except NoConnectException:
            if time.monotonic() > deadline:
                raise SystemExit("soffice did not answer on pipe %s within %s s" % (pipe, seconds))
            time.sleep(0.2)


class Office:
    def __init__(self, ctx):
        self.ctx = ctx
        self.smgr = ctx.ServiceManager

    def create(self, name, *args):
        if args:
            return self.smgr.createInstanceWithArgumentsAndContext(name, args, self.ctx)
        return self.smgr.createInstanceWithContext(name, self.ctx)

    def security_environment(self):
        # Initialises NSS in soffice from MOZILLA_CERTIFICATE_FOLDER, as the signing code does.
        return self.create("com.sun.star.xml.crypto.SEInitializer") \
            .createSecurityContext("").getSecurityEnvironment()

    def macro(self, name, *args):
        provider = self.create("com.sun.star.script.provider.MasterScriptProviderFactory") \
            .createScriptProvider("")
        script = provider.getScript(
            "vnd.sun.star.script:eimza_login.py$%s?language=Python&location=user" % name)
        return script.invoke(args, (), ())[0]

    def desktop(self):
        return self.create("com.sun.star.frame.Desktop")

    def load(self, path):
        doc = self.desktop().loadComponentFromURL(url(path), "_blank", 0, (prop("Hidden", True),))
        if doc is None:
            raise SystemExit("soffice could not open %s" % path)
        return doc

    def odf_version(self, path):
        storage = self.create("com.sun.star.embed.StorageFactory") \
            .createInstanceWithArguments((url(path), READ))
        try:
            return storage.getPropertyValue("Version")
        finally:
            storage.dispose()

    def signer(self, version):
        return self.create("com.sun.star.security.DocumentDigitalSignatures", version)


def read_der(path):
    with open(path, "rb") as f:
        return f.read()


def personal_certificate(env, der):
    for cert in env.getPersonalCertificates():
        if cert.Encoded.value == der:
            return cert
    raise SystemExit("no personal certificate in soffice's NSS matches the card's certificate")


def describe(cert):
    return "subject=%r sha256=%s" % (cert.SubjectName, hashlib.sha256(cert.Encoded.value).hexdigest())


def sign_odf(office, cert, path):
    """Signs PATH in place like sfx2's DocumentSigner::signDocument."""
    version = office.odf_version(path)
    signer = office.signer(version)
    factory = office.create("com.sun.star.embed.StorageFactory")
    zip_format = props(("StorageFormat", "ZipFormat"))

    def zip_storage():
        # The third argument must arrive typed as []PropertyValue: uno.invoke keeps the type.
        return uno.invoke(factory, "createInstanceWithArguments",
                          ((stream, READWRITE, zip_format),))

    stream = office.create("com.sun.star.ucb.SimpleFileAccess").openFileReadWrite(url(path))
    zip_store = zip_storage()
    meta_inf = zip_store.openStorageElement("META-INF", READWRITE)
    storage = zip_storage()
    signature_stream = meta_inf.openStreamElement(
        signer.getDocumentContentSignatureDefaultStreamName(), READWRITE)
    ok = signer.signDocumentWithCertificate(cert, storage, signature_stream)
    if ok:
        meta_inf.commit()
        zip_store.commit()
    for closable in (signature_stream, meta_inf, storage, zip_store):
        closable.dispose()
    stream.getOutputStream().closeOutput()
    stream.getInputStream().closeInput()
    return version, ok


def main():
    pipe, command, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    office = Office(connect(pipe, float(args[0]) if command == "wait" else 10))

    if command == "wait":
        print("connected")
    elif command == "new-odt":
        doc = office.desktop().loadComponentFromURL(
            "private:factory/swriter", "_blank", 0, (prop("Hidden", True),))
        doc.getText().setString(args[1])
        doc.storeToURL(url(args[0]), (prop("FilterName", "writer8"),))
        doc.close(True)
        print("written", args[0])
    elif command == "list-without-login":
        env = office.security_environment()
        try:
            certs = env.getPersonalCertificates()
        except NoPasswordException as e:
            print("raised NoPasswordException:", e.Message)
            return 0
        print("no exception; %d certificates" % len(certs))
        return 1
    elif command == "set-cert-dir":
        access = office.create("com.sun.star.configuration.ConfigurationProvider") \
            .createInstanceWithArguments(
                "com.sun.star.configuration.ConfigurationUpdateAccess",
                (prop("nodepath", "/org.openoffice.Office.Common/Security/Scripting"),))
        access.setPropertyValue("CertDir", args[0])
        access.commitChanges()
        print("CertDir", access.getPropertyValue("CertDir"))
    elif command == "login":
        start = time.monotonic()
        office.security_environment()  # the first one loads NSS and the module
        nss_seconds = time.monotonic() - start
        start = time.monotonic()
        result = office.macro("login", args[0], os.environ["EIMZA_TEST_PIN"])
        print("%s nss_init_seconds=%.3f seconds=%.3f" % (result, nss_seconds, time.monotonic() - start))
        return 0 if result == "logged in" else 1
    elif command == "logged-in":
        office.security_environment()
        result = office.macro("logged_in", args[0])
        print(result)
        return 0 if result == "yes" else 1
    elif command in ("sign-odf", "sign-odf-raw"):
        env = office.security_environment()
        der = read_der(args[0])
        if command == "sign-odf":
            cert = personal_certificate(env, der)
        else:
            cert = env.createCertificateFromRaw(uno.ByteSequence(der))
        print("certificate", describe(cert))
        start = time.monotonic()
        version, ok = sign_odf(office, cert, args[1])
        print("odf_version=%s returned=%s seconds=%.3f" % (version, ok, time.monotonic() - start))
        return 0 if ok else 1
    elif command == "export-pdf":
        filter_data = []
        if len(args) > 2:
            cert = personal_certificate(office.security_environment(), read_der(args[2]))
            print("certificate", describe(cert))
            filter_data = [("SignPDF", True), ("SignatureCertificate", cert),
                           ("SignaturePassword", ""), ("SignatureLocation", "Ankara"),
                           ("SignatureReason", "e-imza test")]
        doc = office.load(args[0])
        try:
            start = time.monotonic()
            uno.invoke(doc, "storeToURL", (url(args[1]), props(
                ("FilterName", "writer_pdf_Export"), ("FilterData", props(*filter_data)))))
            print("seconds=%.3f" % (time.monotonic() - start))
        finally:
            doc.close(True)
    elif command == "verify-odf":
        version = office.odf_version(args[0])
        # A ZipFormat storage, as sfx2 hands to the verifier (GetZipStorageToSign_Impl).
        storage = uno.invoke(office.create("com.sun.star.embed.StorageFactory"),
                             "createInstanceWithArguments",
                             ((url(args[0]), READ, props(("StorageFormat", "ZipFormat"))),))
        try:
            infos = office.signer(version).verifyDocumentContentSignatures(storage, None)
        finally:
            storage.dispose()
        print("signatures=%d" % len(infos))
        for info in infos:
            print("valid=%s certificate_status=%d partial=%s %s" % (
                info.SignatureIsValid, info.CertificateStatus, info.PartialDocumentSignature,
                describe(info.Signer)))
    elif command == "terminate":
        try:
            office.desktop().terminate()
        except Exception:  # the bridge goes away with soffice
            pass
    else:
        raise SystemExit("unknown command %s" % command)
    return 0


def run():
    try:
        code = main()
    except SystemExit as e:
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
            code = 1
        else:
            code = e.code or 0
    except Exception:  # a UNO exception: report it like Python would
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    # pyuno's bridge teardown at interpreter exit crashes now and then (SIGSEGV after the
    # work is done, 2 runs in 40 here): leave without it, with the command's own status.
    os._exit(code)


if __name__ == "__main__":
    run()
