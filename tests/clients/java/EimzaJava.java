// Java clients of the module, driven from tests/clients/java.sh.
//
//   provider CONFIG PIN   SunPKCS11 (what Java signing programs use through the JCA):
//                         KeyStore "PKCS11" loaded with the PIN, every key entry signs
//                         (SHA256/512withRSA, or SHA384/256withECDSA) and the
//                         signature verifies with the certificate in the default provider.
//   pss CONFIG PIN DIR    RSASSA-PSS through SunPKCS11, as JSSE uses it for TLS 1.3:
//                         Signature "RSASSA-PSS" with PSSParameterSpec (SHA-256/salt 32,
//                         SHA-384/salt 48) and "SHA256withRSASSA-PSS" by the RSA key;
//                         each signature verified by SunRsaSign (a changed message
//                         refused) and written to DIR (data.bin, cert.pem, NAME.sig) for
//                         openssl. Also MessageDigest SHA-256/384 from the token (the
//                         module's C_Digest*) equal to the JDK's own.
//   nopss CONFIG PIN      A token without PSS (AKIS v1.0: PKCS#1 v1.5 only): SunPKCS11
//                         offers no "RSASSA-PSS" and no "SHA256withRSASSA-PSS" for it
//                         (NoSuchAlgorithmException: JSSE cannot use the card for TLS 1.3),
//                         while SHA256withRSA is the token's and signs; the token's
//                         MessageDigest SHA-256/384 equal the JDK's.
//   raw MODULE PIN        The PKCS#11 wrapper directly, the way Turkish signing software
//                         (ESYA/MA3 API) drives the module: C_Initialize(NULL), one session,
//                         C_Login, find each private key and its certificate by CKA_ID,
//                         C_Sign with CKM_SHA256_RSA_PKCS / CKM_ECDSA_SHA384 / CKM_ECDSA,
//                         verified with the certificate; C_Logout, C_Finalize.
//
// Prints one "OK ..." line per verified signature and exits 1 on any failure.
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.Provider;
import java.security.Security;
import java.security.Signature;
import java.security.spec.MGF1ParameterSpec;
import java.security.spec.PSSParameterSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Base64;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

import sun.security.pkcs11.wrapper.CK_ATTRIBUTE;
import sun.security.pkcs11.wrapper.CK_MECHANISM;
import sun.security.pkcs11.wrapper.PKCS11;
import sun.security.pkcs11.wrapper.PKCS11Constants;

public class EimzaJava {
    static final byte[] DATA = "e-imza test belgesi: Java".getBytes(StandardCharsets.UTF_8);
    static int verified = 0;

    public static void main(String[] args) throws Exception {
        if (args.length != 3 && !(args.length == 4 && args[0].equals("pss"))) {
            System.err.println("usage: EimzaJava provider CONFIG PIN | pss CONFIG PIN DIR | nopss CONFIG PIN | raw MODULE PIN");
            System.exit(2);
        }
        try {
            if (args[0].equals("provider")) {
                provider(args[1], args[2].toCharArray());
            } else if (args[0].equals("pss")) {
                pss(args[1], args[2].toCharArray(), Path.of(args[3]));
            } else if (args[0].equals("nopss")) {
                noPss(args[1], args[2].toCharArray());
            } else if (args[0].equals("raw")) {
                raw(args[1], args[2].toCharArray());
            } else {
                System.err.println("unknown mode " + args[0]);
                System.exit(2);
            }
        } catch (Exception e) {
            e.printStackTrace();
            System.exit(1);
        }
        if (verified == 0) {
            System.err.println("FAIL: no signature made");
            System.exit(1);
        }
    }

    static void provider(String config, char[] pin) throws Exception {
        Provider p = Security.getProvider("SunPKCS11").configure(config);
        KeyStore ks = KeyStore.getInstance("PKCS11", p);
        ks.load(null, pin);
        for (String alias : Collections.list(ks.aliases())) {
            if (!ks.isKeyEntry(alias)) {
                System.out.println("certificate entry " + alias);
                continue;
            }
            PrivateKey key = (PrivateKey) ks.getKey(alias, null);
            Certificate[] chain = ks.getCertificateChain(alias);
            X509Certificate cert = (X509Certificate) chain[0];
            System.out.println("key entry " + alias + " " + key.getAlgorithm() + " chain " + chain.length);
            if (key.getAlgorithm().equals("RSA")) {
                signAndVerify(p, key, cert, "SHA256withRSA");
                signAndVerify(p, key, cert, "SHA512withRSA");
            } else if (key.getAlgorithm().equals("EC")) {
                signAndVerify(p, key, cert, "SHA384withECDSA");
                signAndVerify(p, key, cert, "SHA256withECDSA");
            } else {
                throw new IllegalStateException("unexpected key algorithm " + key.getAlgorithm());
            }
        }
    }

    // ---- RSASSA-PSS, as JSSE signs a TLS 1.3 CertificateVerify ----

    static void pss(String config, char[] pin, Path dir) throws Exception {
        Provider p = Security.getProvider("SunPKCS11").configure(config);
        tokenDigests(p);
        KeyStore ks = KeyStore.getInstance("PKCS11", p);
        ks.load(null, pin);
        Files.write(dir.resolve("data.bin"), DATA);
        int rsaKeys = 0;
        for (String alias : Collections.list(ks.aliases())) {
            if (!ks.isKeyEntry(alias)) continue;
            PrivateKey key = (PrivateKey) ks.getKey(alias, null);
            if (!key.getAlgorithm().equals("RSA")) continue;
            X509Certificate cert = (X509Certificate) ks.getCertificate(alias);
            Files.writeString(dir.resolve("cert.pem"), "-----BEGIN CERTIFICATE-----\n"
                    + Base64.getMimeEncoder(64, "\n".getBytes()).encodeToString(cert.getEncoded())
                    + "\n-----END CERTIFICATE-----\n");
            pssSign(p, key, cert, "RSASSA-PSS", pssSpec("SHA-256", 32), dir.resolve("pss-sha256.sig"));
            pssSign(p, key, cert, "RSASSA-PSS", pssSpec("SHA-384", 48), dir.resolve("pss-sha384.sig"));
            pssSign(p, key, cert, "SHA256withRSASSA-PSS", pssSpec("SHA-256", 32), dir.resolve("sha256-pss.sig"));
            rsaKeys++;
        }
        if (rsaKeys != 1) throw new IllegalStateException(rsaKeys + " RSA keys, expected 1");
    }

    static void noPss(String config, char[] pin) throws Exception {
        Provider p = Security.getProvider("SunPKCS11").configure(config);
        tokenDigests(p);
        for (String alg : new String[] { "RSASSA-PSS", "SHA256withRSASSA-PSS" }) {
            try {
                Signature.getInstance(alg, p);
                throw new IllegalStateException(alg + " offered by the token's provider");
            } catch (java.security.NoSuchAlgorithmException e) {
                System.out.println("not offered: " + e.getMessage());
            }
        }
        KeyStore ks = KeyStore.getInstance("PKCS11", p);
        ks.load(null, pin);
        int rsaKeys = 0;
        for (String alias : Collections.list(ks.aliases())) {
            if (!ks.isKeyEntry(alias)) continue;
            PrivateKey key = (PrivateKey) ks.getKey(alias, null);
            if (!key.getAlgorithm().equals("RSA")) throw new IllegalStateException("a " + key.getAlgorithm() + " key");
            signAndVerify(p, key, (X509Certificate) ks.getCertificate(alias), "SHA256withRSA");
            rsaKeys++;
        }
        if (rsaKeys != 1) throw new IllegalStateException(rsaKeys + " RSA keys, expected 1");
        verified++;
        System.out.println("OK RSASSA-PSS and SHA256withRSASSA-PSS not offered for the token");
    }

    // The module's digests through the JCA, against the JDK's own (single- and multi-part).
    static void tokenDigests(Provider p) throws Exception {
        for (String alg : new String[] { "SHA-256", "SHA-384" }) {
            MessageDigest token = MessageDigest.getInstance(alg, p);
            if (token.getProvider() != p) throw new IllegalStateException(alg + " not from the token");
            byte[] big = new byte[100_000];
            for (int i = 0; i < big.length; i++) big[i] = (byte) (i * 31);
            token.update(big, 0, 1);
            token.update(big, 1, big.length - 1);
            byte[] multi = token.digest();
            byte[] single = token.digest(DATA);
            if (!Arrays.equals(multi, MessageDigest.getInstance(alg, "SUN").digest(big))
                    || !Arrays.equals(single, MessageDigest.getInstance(alg, "SUN").digest(DATA))) {
                throw new IllegalStateException(alg + " from the token differs from SUN's");
            }
            verified++;
            System.out.println("OK MessageDigest " + alg + " from the token");
        }
    }

    static PSSParameterSpec pssSpec(String hash, int salt) {
        return new PSSParameterSpec(hash, "MGF1", new MGF1ParameterSpec(hash), salt, PSSParameterSpec.TRAILER_FIELD_BC);
    }

    static void pssSign(Provider p, PrivateKey key, X509Certificate cert, String alg, PSSParameterSpec spec, Path out)
            throws Exception {
        Signature signer = Signature.getInstance(alg, p);
        signer.setParameter(spec);
        signer.initSign(key);
        signer.update(DATA);
        byte[] sig = signer.sign();
        for (boolean changed : new boolean[] { false, true }) {
            Signature v = Signature.getInstance("RSASSA-PSS", "SunRsaSign");
            v.setParameter(spec);
            v.initVerify(cert.getPublicKey());
            byte[] data = DATA.clone();
            if (changed) data[3] ^= 1;
            v.update(data);
            if (v.verify(sig) == changed) throw new IllegalStateException(alg + ": verify gave " + changed);
        }
        Files.write(out, sig);
        verified++;
        System.out.println("OK " + alg + " " + spec.getDigestAlgorithm() + " salt " + spec.getSaltLength()
                + " -> " + out.getFileName());
    }

    static void signAndVerify(Provider p, PrivateKey key, X509Certificate cert, String alg) throws Exception {
        Signature signer = Signature.getInstance(alg, p);
        signer.initSign(key);
        signer.update(DATA);
        byte[] sig = signer.sign();
        expectVerifies(alg, cert, sig, DATA, true);
        byte[] changed = DATA.clone();
        changed[0] ^= 1;
        expectVerifies(alg, cert, sig, changed, false);
        verified++;
        System.out.println("OK " + alg + " " + cert.getPublicKey().getAlgorithm());
    }

    // Verification in the JDK's own providers, never the PKCS#11 one.
    static void expectVerifies(String alg, X509Certificate cert, byte[] sig, byte[] data, boolean expected)
            throws Exception {
        Signature v = Signature.getInstance(alg, defaultProviderFor(alg));
        v.initVerify(cert.getPublicKey());
        v.update(data);
        if (v.verify(sig) != expected) {
            throw new IllegalStateException(alg + ": verify gave " + !expected);
        }
    }

    static String defaultProviderFor(String alg) {
        return alg.contains("ECDSA") ? "SunEC" : "SunRsaSign";
    }

    // ---- the raw wrapper: C_Initialize(NULL) like ESYA/MA3 ----

    static void raw(String module, char[] pin) throws Exception {
        // null arguments: the library gets C_Initialize(NULL_PTR).
        PKCS11 p11 = PKCS11.getInstance(module, "C_GetFunctionList", null, false);
        try {
            long[] slots = p11.C_GetSlotList(true);
            if (slots.length == 0) throw new IllegalStateException("no token");
            long slot = slots[0];
            System.out.println("token " + new String(p11.C_GetTokenInfo(slot).label).trim());
            long session = p11.C_OpenSession(slot, PKCS11Constants.CKF_SERIAL_SESSION, null, null);
            p11.C_Login(session, PKCS11Constants.CKU_USER, pin);
            List<long[]> keys = new ArrayList<>();
            for (long key : find(p11, session, PKCS11Constants.CKO_PRIVATE_KEY)) {
                CK_ATTRIBUTE[] a = { new CK_ATTRIBUTE(PKCS11Constants.CKA_KEY_TYPE),
                        new CK_ATTRIBUTE(PKCS11Constants.CKA_ID), new CK_ATTRIBUTE(PKCS11Constants.CKA_LABEL) };
                p11.C_GetAttributeValue(session, key, a);
                X509Certificate cert = certificateWithId(p11, session, a[1].getByteArray());
                String label = new String(a[2].getCharArray());
                long type = a[0].getLong();
                System.out.println("private key " + label + " type " + type);
                if (type == PKCS11Constants.CKK_RSA) {
                    rawSign(p11, session, key, cert, PKCS11Constants.CKM_SHA256_RSA_PKCS, "SHA256withRSA", DATA, false);
                } else if (type == PKCS11Constants.CKK_EC) {
                    rawSign(p11, session, key, cert, PKCS11Constants.CKM_ECDSA_SHA384,
                            "SHA384withECDSAinP1363Format", DATA, false);
                    byte[] hash = MessageDigest.getInstance("SHA-384").digest(DATA);
                    rawSign(p11, session, key, cert, PKCS11Constants.CKM_ECDSA,
                            "SHA384withECDSAinP1363Format", hash, true);
                } else {
                    throw new IllegalStateException("unexpected key type " + type);
                }
            }
            p11.C_Logout(session);
            p11.C_CloseSession(session);
        } finally {
            p11.C_Finalize(null);
        }
    }

    static long[] find(PKCS11 p11, long session, long cls) throws Exception {
        p11.C_FindObjectsInit(session, new CK_ATTRIBUTE[] { new CK_ATTRIBUTE(PKCS11Constants.CKA_CLASS, cls) });
        List<Long> all = new ArrayList<>();
        while (true) {
            long[] some = p11.C_FindObjects(session, 16);
            if (some == null || some.length == 0) break;
            for (long h : some) all.add(h);
        }
        p11.C_FindObjectsFinal(session);
        return all.stream().mapToLong(Long::longValue).toArray();
    }

    static X509Certificate certificateWithId(PKCS11 p11, long session, byte[] id) throws Exception {
        p11.C_FindObjectsInit(session, new CK_ATTRIBUTE[] {
                new CK_ATTRIBUTE(PKCS11Constants.CKA_CLASS, PKCS11Constants.CKO_CERTIFICATE),
                new CK_ATTRIBUTE(PKCS11Constants.CKA_ID, id) });
        long[] certs = p11.C_FindObjects(session, 2);
        p11.C_FindObjectsFinal(session);
        if (certs == null || certs.length != 1) throw new IllegalStateException("no single certificate for a key");
        CK_ATTRIBUTE[] v = { new CK_ATTRIBUTE(PKCS11Constants.CKA_VALUE) };
        p11.C_GetAttributeValue(session, certs[0], v);
        return (X509Certificate) CertificateFactory.getInstance("X.509")
                .generateCertificate(new ByteArrayInputStream(v[0].getByteArray()));
    }

    static void rawSign(PKCS11 p11, long session, long key, X509Certificate cert, long mechanism,
            String javaAlg, byte[] input, boolean inputIsHash) throws Exception {
        p11.C_SignInit(session, new CK_MECHANISM(mechanism), key);
        byte[] sig = p11.C_Sign(session, input);
        if (inputIsHash) {
            // raw CKM_ECDSA signed our SHA-384 hash: verify as SHA384withECDSA over DATA
            input = DATA;
        }
        Signature v = Signature.getInstance(javaAlg, defaultProviderFor(javaAlg));
        v.initVerify(cert.getPublicKey());
        v.update(input);
        if (!v.verify(sig)) throw new IllegalStateException("mechanism 0x" + Long.toHexString(mechanism) + " did not verify");
        verified++;
        System.out.println("OK mechanism 0x" + Long.toHexString(mechanism) + " " + javaAlg);
    }
}
