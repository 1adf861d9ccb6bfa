import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.Provider;
import java.security.Security;
import java.security.Signature;
import java.util.Collections;

/**
 * Java's PKCS#11 client (SunPKCS11): KeyStore.load with the PIN is its C_Login. With the
 * right PIN every key signs (verified with the certificate's public key); a refused
 * login prints the exception chain, which names the CKR_ value, and exits 2.
 *
 * Usage: java EimzaLogin CONFIG PIN   (CONFIG: name=, library=, slotListIndex=)
 */
public class EimzaLogin {
    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: EimzaLogin CONFIG PIN");
            System.exit(64);
        }
        Provider provider = Security.getProvider("SunPKCS11").configure(args[0]);
        KeyStore store = KeyStore.getInstance("PKCS11", provider);
        try {
            store.load(null, args[1].toCharArray());
        } catch (IOException e) {
            System.out.println("LOGIN FAILED");
            for (Throwable t = e; t != null; t = t.getCause()) {
                System.out.println("  " + t.getClass().getName() + ": " + t.getMessage());
            }
            System.exit(2);
        }
        byte[] data = "data to sign".getBytes(StandardCharsets.UTF_8);
        int keys = 0;
        for (String alias : Collections.list(store.aliases())) {
            if (!store.isKeyEntry(alias)) {
                continue;
            }
            PrivateKey key = (PrivateKey) store.getKey(alias, null);
            String algorithm = key.getAlgorithm().equals("EC") ? "SHA256withECDSA" : "SHA256withRSA";
            Signature signer = Signature.getInstance(algorithm, provider);
            signer.initSign(key);
            signer.update(data);
            byte[] signature = signer.sign();
            Signature verifier = Signature.getInstance(algorithm);
            verifier.initVerify(store.getCertificate(alias).getPublicKey());
            verifier.update(data);
            if (!verifier.verify(signature)) {
                System.out.println("BAD SIGNATURE from " + alias);
                System.exit(1);
            }
            System.out.println("signed and verified: " + alias + " (" + algorithm + ")");
            keys++;
        }
        System.out.println("LOGIN OK, " + keys + " key(s)");
        System.exit(keys > 0 ? 0 : 1);
    }
}
