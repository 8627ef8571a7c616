package dev.keymanager.kms.azure;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;

/**
 * A self-signed EC certificate for 127.0.0.1 and localhost, made once per test JVM with the JDK's
 * own keytool (no extra dependency), for the fake Key Vault's HTTPS endpoint.
 */
final class TestCertificate {
  private static final char[] PASSWORD = "changeit".toCharArray();
  private static TestCertificate instance;

  final SSLContext serverContext;
  final X509Certificate certificate;

  private TestCertificate(SSLContext serverContext, X509Certificate certificate) {
    this.serverContext = serverContext;
    this.certificate = certificate;
  }

  static synchronized TestCertificate get() {
    if (instance == null) {
      instance = create();
    }
    return instance;
  }

  private static TestCertificate create() {
    try {
      Path dir = Files.createTempDirectory("kv-cert");
      Path store = dir.resolve("kv.p12");
      Process p =
          new ProcessBuilder(
                  List.of(
                      Path.of(System.getProperty("java.home"), "bin", "keytool").toString(),
                      "-genkeypair",
                      "-alias",
                      "kv",
                      "-keyalg",
                      "EC",
                      "-groupname",
                      "secp256r1",
                      "-dname",
                      "CN=localhost",
                      "-ext",
                      "SAN=dns:localhost,ip:127.0.0.1",
                      "-validity",
                      "2",
                      "-storetype",
                      "PKCS12",
                      "-keystore",
                      store.toString(),
                      "-storepass",
                      new String(PASSWORD)))
              .redirectErrorStream(true)
              .start();
      byte[] output = p.getInputStream().readAllBytes();
      if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
        throw new IllegalStateException("keytool failed: " + new String(output));
      }
      KeyStore ks = KeyStore.getInstance("PKCS12");
      try (InputStream in = Files.newInputStream(store)) {
        ks.load(in, PASSWORD);
      }
      Files.delete(store);
      Files.delete(dir);
      KeyManagerFactory kmf =
          KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
      kmf.init(ks, PASSWORD);
      SSLContext ctx = SSLContext.getInstance("TLS");
      ctx.init(kmf.getKeyManagers(), null, null);
      return new TestCertificate(ctx, (X509Certificate) ks.getCertificate("kv"));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }
}
