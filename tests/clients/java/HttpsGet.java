// An ordinary Java HTTPS client with no PKCS#11 code at all: it GETs a URL with the
// JDK's default SSLContext and prints the status and the body. The card comes in only
// through the standard system properties (tests/clients/java-tls.sh and README):
//   -Djava.security.properties=FILE   (security.provider.12=SunPKCS11 eimza.cfg)
//   -Djavax.net.ssl.keyStore=NONE -Djavax.net.ssl.keyStoreType=PKCS11
//   -Djavax.net.ssl.keyStorePassword=PIN
// Exits 1 on any failure (the handshake included).
import java.io.InputStream;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import javax.net.ssl.HttpsURLConnection;

public class HttpsGet {
    public static void main(String[] args) throws Exception {
        HttpsURLConnection c = (HttpsURLConnection) new URL(args[0]).openConnection();
        c.setConnectTimeout(20_000);
        c.setReadTimeout(60_000);
        try (InputStream in = c.getInputStream()) {
            System.out.println("HTTP " + c.getResponseCode() + " " + c.getCipherSuite());
            System.out.println(new String(in.readAllBytes(), StandardCharsets.ISO_8859_1));
        }
    }
}
