// JSSE TLS 1.3 handshakes with client authentication by the card, timed inside one JVM
// (scripts/bench-java-tls.sh). The card comes in through the standard system properties
// only (as tests/clients/java/HttpsGet.java). Prints:
//   context  ms   SSLContext.getDefault(): SunPKCS11 start, C_Login, the key store read
//   first    ms   the first handshake + GET (class loading, first use of the key)
//   warm     ms   median of the following ones; each is a full handshake with a fresh
//                 CertificateVerify by the card (the server issues no session tickets: no resumption)
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;

public class TlsBench {
    public static void main(String[] args) throws Exception {
        String host = args[0];
        int port = Integer.parseInt(args[1]);
        int n = Integer.parseInt(args[2]);
        long t0 = System.nanoTime();
        SSLContext ctx = SSLContext.getDefault();
        long t1 = System.nanoTime();
        double[] ms = new double[n];
        for (int i = 0; i < n; i++) {
            long start = System.nanoTime();
            try (SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket(host, port)) {
                s.startHandshake();
                if (!"TLSv1.3".equals(s.getSession().getProtocol())) throw new IllegalStateException("not TLS 1.3");
                OutputStream out = s.getOutputStream();
                out.write("GET / HTTP/1.0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                out.flush();
                InputStream in = s.getInputStream();
                String page = new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
                if (!page.contains("Client certificate")) throw new IllegalStateException("no client certificate seen");
            }
            ms[i] = (System.nanoTime() - start) / 1e6;
        }
        double[] warm = Arrays.copyOfRange(ms, 1, n);
        Arrays.sort(warm);
        System.out.printf("context %.1f ms%n", (t1 - t0) / 1e6);
        System.out.printf("first %.1f ms%n", ms[0]);
        System.out.printf("warm %.1f ms (median of %d; min %.1f, max %.1f)%n",
                warm[warm.length / 2], warm.length, warm[0], warm[warm.length - 1]);
    }
}
